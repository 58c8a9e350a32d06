package fbclient

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/featflags/fbclient/internal/wire"
)

// rateLimit is the remote configuration of the example.
type rateLimit struct {
	PerMinute int `json:"perMinute"`
	Burst     int `json:"burst"`
}

// checkedLimit is a rateLimit that requires a positive rate.
type checkedLimit rateLimit

var errNoRate = errors.New("perMinute must be positive")

func (l checkedLimit) Validate() error {
	if l.PerMinute <= 0 {
		return errNoRate
	}
	return nil
}

// jsonFlag is a json flag serving value.
func jsonFlag(key, value string) wire.Flag {
	w := boolFlag(key, true, 1)
	w.VariationType = "json"
	w.Variations = []wire.Variation{{ID: "v-true", Value: value}, {ID: "v-false", Value: "{}"}}
	return w
}

// A value that does not fit T never passes silently: unknown keys, null and trailing data
// are a wrong-type fallback to the caller's default, with the decoding error in the detail.
// A missing key leaves the zero value, unless T's Validate method objects.
func TestJSONVariationStrict(t *testing.T) {
	c, _ := offlineData(t, []wire.Flag{
		jsonFlag("exact", `{"perMinute":120,"burst":20}`),
		jsonFlag("typo", `{"perMinte":120,"burst":20}`),
		jsonFlag("partial", ` {"burst":20} `),
		jsonFlag("empty", `{}`),
		jsonFlag("null", ` null `),
		jsonFlag("trailing", `{"perMinute":1} {"burst":2}`),
		jsonFlag("wrong-kind", `{"perMinute":"fast"}`),
		jsonFlag("list", `[1, 2, 3]`),
	})
	evals := newCollector()
	c.On(EventEvaluation, evals.add)
	u := NewUser("u")
	def := rateLimit{PerMinute: 60, Burst: 10}

	v, d := JSONVariationDetail(c, "exact", u, def)
	assert.Equal(t, rateLimit{120, 20}, v)
	assert.Equal(t, ReasonFallthrough, d.Reason)
	assert.NoError(t, d.Err)

	v, d = JSONVariationDetail(c, "typo", u, def)
	assert.Equal(t, def, v)
	assert.Equal(t, ReasonWrongType, d.Reason)
	assert.ErrorIs(t, d.Err, ErrWrongType)
	assert.ErrorContains(t, d.Err, `"perMinte"`, "the detail names the unknown key")
	assert.Empty(t, d.Value)

	for _, key := range []string{"null", "trailing"} {
		v, d = JSONVariationDetail(c, key, u, def)
		assert.Equal(t, def, v, key)
		assert.Equal(t, ReasonWrongType, d.Reason, key)
		assert.ErrorIs(t, d.Err, ErrWrongType, key)
	}
	p, d := JSONVariationDetail(c, "null", u, &def)
	assert.Same(t, &def, p, "null into a pointer is the default, not nil")
	assert.Equal(t, ReasonWrongType, d.Reason)

	_, d = JSONVariationDetail(c, "wrong-kind", u, def)
	var typeErr *json.UnmarshalTypeError
	assert.ErrorAs(t, d.Err, &typeErr)

	// Missing keys keep their zero values...
	v, d = JSONVariationDetail(c, "partial", u, def)
	assert.Equal(t, rateLimit{Burst: 20}, v)
	assert.NoError(t, d.Err)
	v, _ = JSONVariationDetail(c, "empty", u, def)
	assert.Equal(t, rateLimit{}, v)
	// ...unless T checks them.
	cl, d := JSONVariationDetail(c, "empty", u, checkedLimit(def))
	assert.Equal(t, checkedLimit(def), cl)
	assert.ErrorIs(t, d.Err, ErrWrongType)
	assert.ErrorIs(t, d.Err, errNoRate)
	cl, d = JSONVariationDetail(c, "exact", u, checkedLimit(def))
	assert.Equal(t, checkedLimit{120, 20}, cl)
	assert.NoError(t, d.Err)

	// Types without fields take any keys.
	m, d := JSONVariationDetail(c, "typo", u, map[string]int(nil))
	assert.Equal(t, map[string]int{"perMinte": 120, "burst": 20}, m)
	assert.NoError(t, d.Err)
	raw := JSONVariation(c, "typo", u, json.RawMessage(nil))
	assert.JSONEq(t, `{"perMinte":120,"burst":20}`, string(raw))
	assert.Equal(t, []int{1, 2, 3}, JSONVariation(c, "list", u, []int(nil)))
	assert.Equal(t, def, JSONVariation(c, "list", u, def))

	// Only the evaluations that served a value were recorded (in order, then a last one to
	// know that nothing else is on its way).
	JSONVariation(c, "partial", u, def)
	var keys []string
	for _, e := range evals.wait(t, 8) {
		keys = append(keys, e.Evaluation.FlagKey)
	}
	assert.Equal(t, []string{"exact", "partial", "empty", "exact", "typo", "typo", "list", "partial"}, keys)
}

// JSONVariation of a small json flag into a struct.
func BenchmarkJSONVariation(b *testing.B) {
	c := benchClient(b, full([]wire.Flag{jsonFlag("limits", `{"perMinute":120,"burst":20}`)}))
	if got := JSONVariation(c, "limits", benchUser, rateLimit{}); got.PerMinute != 120 {
		b.Fatal(got)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = JSONVariation(c, "limits", benchUser, rateLimit{}).Burst == 20
	}
}
