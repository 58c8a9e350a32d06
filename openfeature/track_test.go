package openfeature

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
	of "github.com/open-feature/go-sdk/openfeature"
)

// The evaluation context reaches FeatBit as a user: rules read the mapped attributes, and
// Track sends a metric with the event's value for that user.
func TestContextAndTrack(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("adults-in-beta").Fallthrough(1).Rule("adult beta users", 0,
		fbtest.Cond("age", "BiggerThan", "17"),
		fbtest.Cond("beta", "IsTrue", ""),
		fbtest.Cond("name", "Equal", "Bob"),
		fbtest.Cond("since", "Equal", "2024-05-01T10:00:00.5Z"),
	))
	client := streaming(t, srv, srv.Secret())
	h := newHarness(t, client)
	h.ready(t)
	ctx := testCtx(t)

	paris := time.FixedZone("CEST", 2*3600)
	attrs := map[string]any{
		"name":  "Bob",
		"age":   int64(29),
		"beta":  true,
		"since": time.Date(2024, 5, 1, 12, 0, 0, 500_000_000, paris),
		"ratio": 0.25,
		"tags":  []string{"a", "b"},
		"org":   map[string]any{"id": 7},
		"none":  nil,
		"unset": (*string)(nil),
	}
	on, err := h.flags.BooleanValue(ctx, "adults-in-beta", false, user("bob", attrs))
	require.NoError(t, err)
	assert.True(t, on)
	attrs["age"] = 17
	on, err = h.flags.BooleanValue(ctx, "adults-in-beta", true, user("bob", attrs))
	require.NoError(t, err)
	assert.False(t, on)

	// Rejected: no targeting key, or a value FeatBit cannot store. Then one that is sent.
	h.flags.Track(ctx, "purchase", of.NewTargetlessEvaluationContext(attrs), of.NewTrackingEventDetails(1))
	h.flags.Track(ctx, "purchase", user("bob", attrs), of.NewTrackingEventDetails(math.Inf(1)))
	h.flags.Track(ctx, "purchase", user("bob", attrs), of.NewTrackingEventDetails(99.5).Add("currency", "EUR"))
	require.NoError(t, client.FlushAndWait(ctx))

	var metrics []fbtest.Event
	for _, e := range srv.Events() {
		if len(e.Metrics) > 0 {
			metrics = append(metrics, e)
		}
	}
	require.Len(t, metrics, 1)
	m := metrics[0]
	require.Len(t, m.Metrics, 1)
	assert.Equal(t, "purchase", m.Metrics[0].EventName)
	assert.Equal(t, 99.5, m.Metrics[0].NumericValue)
	assert.Equal(t, "bob", m.User.KeyID)
	assert.Equal(t, "Bob", m.User.Name)
	props := map[string]string{}
	var names []string
	for _, p := range m.User.CustomizedProperties {
		props[p.Name] = p.Value
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"age", "beta", "org", "ratio", "since", "tags"}, names, "in the order of their names, nil and nil pointers left out")
	assert.Equal(t, map[string]string{
		"age":   "17",
		"beta":  "true",
		"org":   `{"id":7}`,
		"ratio": "0.25",
		"since": "2024-05-01T10:00:00.5Z",
		"tags":  `["a","b"]`,
	}, props)
}

func TestAttrString(t *testing.T) {
	type plan string
	type stamp time.Time
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		in   any
		want string
	}{
		{"pro", "pro"},
		{plan("pro"), "pro"},
		{true, "true"},
		{int8(-5), "-5"},
		{uint64(math.MaxUint64), "18446744073709551615"},
		{29.0, "29"},
		{float32(0.1), "0.1"},
		{1e21, "1000000000000000000000"},
		{1e-7, "0.0000001"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
		{at, "2024-05-01T10:00:00Z"},
		{at.In(time.FixedZone("X", -3600)).Add(time.Millisecond), "2024-05-01T10:00:00.001Z"},
		{stamp(at), "2024-05-01T10:00:00Z"},
		{[]any{1, "a", nil}, `[1,"a",null]`},
		{map[string]any{"b": 1, "a": []int{2}}, `{"a":[2],"b":1}`},
		{struct{ X int }{3}, `{"X":3}`},
		{ptr("pro"), "pro"},
		{ptr(ptr(29)), "29"},
		{ptr(0.5), "0.5"},
		{ptr(at), "2024-05-01T10:00:00Z"},
		{ptr(struct{ X int }{3}), `{"X":3}`},
		{[]*string{ptr("a"), nil}, `["a",null]`},
	}
	for _, c := range cases {
		got, err := attrString(c.in)
		require.NoError(t, err, "%#v", c.in)
		assert.Equal(t, c.want, got, "%#v", c.in)
	}
	for _, bad := range []any{make(chan int), func() {}, map[string]any{"f": func() {}}, complex(1, 2), []float64{math.NaN()}} {
		_, err := attrString(bad)
		assert.Error(t, err, "%T", bad)
	}
}

func ptr[T any](v T) *T { return &v }
