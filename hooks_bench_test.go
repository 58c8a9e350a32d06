package fbclient

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/internal/wire"
)

// benchHookClient is benchClient with hooks.
func benchHookClient(tb testing.TB, ds *wire.DataSync, hooks ...Hook) *Client {
	tb.Helper()
	c, err := New(Config{Offline: true, Hooks: hooks})
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	ds.EventType = wire.EventFull
	res := c.store.apply(ds)
	require.Empty(tb, res.skipped)
	return c
}

type benchCtxKey struct{}

// benchCtx is a request's context: it carries a value, as contexts with a span do.
var benchCtx = context.WithValue(context.Background(), benchCtxKey{}, "request")

// noopHook does nothing before and after.
var noopHook = Hook{
	Name:             "noop",
	BeforeEvaluation: func(ctx context.Context, _ EvalCall) context.Context { return ctx },
	AfterEvaluation:  func(context.Context, EvalCall) {},
}

// Scenario 1 through a ContextClient, no hooks: to compare with BenchmarkVariationBoolFallthrough.
func BenchmarkContextVariationBoolFallthrough(b *testing.B) {
	c := benchClient(b, full([]wire.Flag{boolFlag("bool-flag", true, 1)}))
	require.True(b, c.WithContext(benchCtx).BoolVariation("bool-flag", benchUser, false))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = c.WithContext(benchCtx).BoolVariation("bool-flag", benchUser, false)
	}
}

// Scenario 1 with one hook that does nothing, through a ContextClient.
func BenchmarkHookNoopBoolFallthrough(b *testing.B) {
	c := benchHookClient(b, full([]wire.Flag{boolFlag("bool-flag", true, 1)}), noopHook)
	require.True(b, c.WithContext(benchCtx).BoolVariation("bool-flag", benchUser, false))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = c.WithContext(benchCtx).BoolVariation("bool-flag", benchUser, false)
	}
}

// Scenario 1 with one no-op hook that asks for the duration.
func BenchmarkHookTimedBoolFallthrough(b *testing.B) {
	h := noopHook
	h.Timed = true
	c := benchHookClient(b, full([]wire.Flag{boolFlag("bool-flag", true, 1)}), h)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = c.WithContext(benchCtx).BoolVariation("bool-flag", benchUser, false)
	}
}

type benchSpanKey struct{}

// Scenario 1 with a hook that is enabled only in a context that carries a span (as a
// tracing hook is), evaluated in a context that carries none.
func BenchmarkHookDisabledBoolFallthrough(b *testing.B) {
	h := noopHook
	h.Enabled = func(ctx context.Context) bool { return ctx.Value(benchSpanKey{}) != nil }
	c := benchHookClient(b, full([]wire.Flag{boolFlag("bool-flag", true, 1)}), h)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = c.WithContext(benchCtx).BoolVariation("bool-flag", benchUser, false)
	}
}

// The string form of scenario 1 with one no-op hook: the default is not boxed.
func BenchmarkHookNoopString(b *testing.B) {
	c := benchHookClient(b, full([]wire.Flag{boolFlag("bool-flag", true, 1)}), noopHook)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkStr = c.Variation("bool-flag", benchUser, "default")
	}
}
