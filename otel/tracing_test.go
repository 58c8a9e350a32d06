package fbotel_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/fbtest/inmem"
	fbotel "github.com/featflags/fbclient/otel"
)

func checkLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock")}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// testFlags covers every successful reason: a target, a rule, the default rule, a split and
// a flag that is off.
func testFlags() *inmem.TestData {
	return inmem.NewTestData(
		fbtest.Flag("target").Target(0, "alice").Fallthrough(1),
		fbtest.Flag("rule").Rule("pro", 0, fbtest.Cond("plan", "Equal", "pro")).Fallthrough(1),
		fbtest.Flag("split").Strings("a", "b").Rollout(50, 50),
		fbtest.Flag("off").On(false).OffVariation(1),
		fbtest.Flag("color").Strings("red", "blue").Fallthrough(1),
		fbtest.Flag("archived").Archived(),
	)
}

// tracer returns a tracer provider whose spans r records, and a tracer of it.
func tracer(t *testing.T, sampler sdktrace.Sampler) (*sdktrace.TracerProvider, trace.Tracer, *tracetest.SpanRecorder) {
	r := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, tp.Tracer("test"), r
}

func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// Each evaluation in a recording span is an event on it, with the semantic conventions'
// attributes; the value and the user key are left out by default.
func TestTracingEvents(t *testing.T) {
	checkLeaks(t)
	client := testFlags().NewClient(t, fbclient.Config{DisableEvents: true,
		Hooks: []fbclient.Hook{fbotel.NewTracingHook(fbotel.TracingOptions{})}})
	_, tr, rec := tracer(t, sdktrace.AlwaysSample())

	ctx, span := tr.Start(context.Background(), "request")
	cc := client.WithContext(ctx)
	alice := fbclient.NewUser("alice")
	bob := fbclient.NewUser("bob").WithCustom("plan", "pro")
	cc.BoolVariation("target", alice, false)
	cc.BoolVariation("rule", bob, false)
	cc.BoolVariation("rule", alice, false)
	split := cc.VariationDetail("split", alice, "")
	require.True(t, split.Split)
	cc.BoolVariation("off", alice, true)
	cc.BoolVariation("missing", alice, false)
	cc.IntVariation("color", alice, 0)
	cc.BoolVariation("target", fbclient.NewUser(" "), false)
	_, ad := cc.BoolVariationDetail("archived", alice, false)
	require.Equal(t, fbclient.ReasonFlagArchived, ad.Reason)
	span.End()

	spans := rec.Ended()
	require.Len(t, spans, 1, "no span of its own by default")
	evs := spans[0].Events()
	require.Len(t, evs, 9)
	ok := func(key string, variation int, reason string) map[string]string {
		return map[string]string{"feature_flag.key": key, "feature_flag.provider.name": "FeatBit",
			"feature_flag.result.variant": fbtest.VariationID(key, variation), "feature_flag.result.reason": reason}
	}
	fallback := func(key, errType, msg string) map[string]string {
		return map[string]string{"feature_flag.key": key, "feature_flag.provider.name": "FeatBit",
			"feature_flag.result.reason": "error", "error.type": errType, "feature_flag.error.message": msg}
	}
	want := []map[string]string{
		ok("target", 0, "targeting_match"),
		ok("rule", 0, "targeting_match"),
		ok("rule", 1, "default"),
		{"feature_flag.key": "split", "feature_flag.provider.name": "FeatBit",
			"feature_flag.result.variant": split.VariationID, "feature_flag.result.reason": "split"},
		ok("off", 1, "disabled"),
		fallback("missing", "flag_not_found", fbclient.ErrFlagNotFound.Error()),
		fallback("color", "type_mismatch", fbclient.ErrWrongType.Error()),
		fallback("target", "targeting_key_missing", fbclient.ErrInvalidUser.Error()),
		fallback("archived", "flag_not_found", ad.Err.Error()),
	}
	for i, e := range evs {
		assert.Equal(t, "feature_flag.evaluation", e.Name)
		assert.Equal(t, want[i], attrMap(e.Attributes), "event %d", i)
	}
}

// Before the first data set: provider_not_ready.
func TestTracingNotReady(t *testing.T) {
	checkLeaks(t)
	src := blockedSource{}
	client, err := fbclient.New(fbclient.Config{DataSource: src, DisableEvents: true, StartWait: -1,
		Hooks: []fbclient.Hook{fbotel.NewTracingHook(fbotel.TracingOptions{})}})
	require.NoError(t, err)
	defer client.Close()
	_, tr, rec := tracer(t, sdktrace.AlwaysSample())
	ctx, span := tr.Start(context.Background(), "request")
	client.WithContext(ctx).BoolVariation("f", fbclient.NewUser("u"), false)
	span.End()
	evs := rec.Ended()[0].Events()
	require.Len(t, evs, 1)
	assert.Equal(t, "provider_not_ready", attrMap(evs[0].Attributes)["error.type"])
}

// blockedSource never delivers data.
type blockedSource struct{}

func (blockedSource) Run(ctx context.Context, _ fbclient.DataSink) { <-ctx.Done() }

// IncludeValue and IncludeUserKey add the value and the user's key.
func TestTracingValueAndUserKey(t *testing.T) {
	checkLeaks(t)
	client := testFlags().NewClient(t, fbclient.Config{DisableEvents: true, Hooks: []fbclient.Hook{
		fbotel.NewTracingHook(fbotel.TracingOptions{IncludeValue: true, IncludeUserKey: true, ProviderName: "flags"})}})
	_, tr, rec := tracer(t, sdktrace.AlwaysSample())
	ctx, span := tr.Start(context.Background(), "request")
	client.WithContext(ctx).Variation("color", fbclient.NewUser("alice"), "")
	span.End()
	a := attrMap(rec.Ended()[0].Events()[0].Attributes)
	assert.Equal(t, "blue", a["feature_flag.result.value"])
	assert.Equal(t, "alice", a["feature_flag.context.id"])
	assert.Equal(t, "flags", a["feature_flag.provider.name"])
}

// Without a recording span nothing is recorded: no context, a context without a span, and
// a span that is not sampled.
func TestTracingNoRecordingSpan(t *testing.T) {
	checkLeaks(t)
	tp, tr, rec := tracer(t, sdktrace.NeverSample())
	client := testFlags().NewClient(t, fbclient.Config{DisableEvents: true, Hooks: []fbclient.Hook{
		fbotel.NewTracingHook(fbotel.TracingOptions{Spans: true, TracerProvider: tp})}})
	u := fbclient.NewUser("alice")
	assert.True(t, client.BoolVariation("target", u, false))
	assert.True(t, client.WithContext(context.Background()).BoolVariation("target", u, false))
	ctx, span := tr.Start(context.Background(), "request")
	require.False(t, span.IsRecording())
	assert.True(t, client.WithContext(ctx).BoolVariation("target", u, false))
	span.End()
	assert.Empty(t, rec.Started())
	assert.Empty(t, rec.Ended())
}

// With Spans, each evaluation is a child span carrying the event; a fallback is an error.
func TestTracingSpans(t *testing.T) {
	checkLeaks(t)
	tp, _, r := tracer(t, sdktrace.AlwaysSample())
	client := testFlags().NewClient(t, fbclient.Config{DisableEvents: true, Hooks: []fbclient.Hook{
		fbotel.NewTracingHook(fbotel.TracingOptions{Spans: true, TracerProvider: tp})}})

	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	cc := client.WithContext(ctx)
	cc.BoolVariation("target", fbclient.NewUser("alice"), false)
	fbclient.JSONVariation(cc, "missing", fbclient.NewUser("alice"), map[string]int{})
	span.End()

	ended := r.Ended()
	require.Len(t, ended, 3)
	parent := ended[2]
	assert.Equal(t, "request", parent.Name())
	assert.Empty(t, parent.Events(), "the events are on the evaluation spans")
	for i, want := range []struct {
		name, key string
		status    codes.Code
	}{
		{"fbclient.BoolVariation", "target", codes.Unset},
		{"fbclient.JSONVariation", "missing", codes.Error},
	} {
		s := ended[i]
		assert.Equal(t, want.name, s.Name())
		assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID())
		assert.Equal(t, trace.SpanKindInternal, s.SpanKind())
		assert.Equal(t, want.status, s.Status().Code)
		assert.Equal(t, want.key, attrMap(s.Attributes())["feature_flag.key"])
		require.Len(t, s.Events(), 1)
		assert.Equal(t, want.key, attrMap(s.Events()[0].Attributes)["feature_flag.key"])
	}
	assert.Equal(t, fbclient.ErrFlagNotFound.Error(), ended[1].Status().Description)
}
