package fbotel_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/fbtest/inmem"
	fbotel "github.com/featflags/fbclient/otel"
)

var sinkBool bool

type ctxKey int

// requestCtx stands for a request's context without a span: it carries values, as a
// request's context does.
var requestCtx = context.WithValue(context.WithValue(context.Background(), ctxKey(1), 1), ctxKey(2), 2)

func benchClient(b *testing.B, hooks ...fbclient.Hook) *fbclient.Client {
	td := inmem.NewTestData(fbtest.Flag("f").Rule("pro", 0, fbtest.Cond("plan", "Equal", "pro")).Fallthrough(1))
	return td.NewClient(b, fbclient.Config{DisableEvents: true, Hooks: hooks})
}

var benchUser = fbclient.NewUser("user-1").WithCustom("plan", "pro")

func benchEval(b *testing.B, c *fbclient.Client, ctx context.Context) {
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = c.WithContext(ctx).BoolVariation("f", benchUser, false)
	}
}

// The baseline: no hook.
func BenchmarkNoHook(b *testing.B) { benchEval(b, benchClient(b), requestCtx) }

// The tracing hook, and no span in the context: the figure the hook must keep within 10 ns
// of BenchmarkNoHook.
func BenchmarkTracingNoSpan(b *testing.B) {
	benchEval(b, benchClient(b, fbotel.NewTracingHook(fbotel.TracingOptions{})), requestCtx)
}

// The tracing hook with Spans, and no span in the context.
func BenchmarkTracingSpansNoSpan(b *testing.B) {
	benchEval(b, benchClient(b, fbotel.NewTracingHook(fbotel.TracingOptions{Spans: true})), requestCtx)
}

// benchSpans evaluates in recording spans of an SDK tracer provider, a new span every 64
// evaluations (a span keeps 128 events by default).
func benchSpans(b *testing.B, opts fbotel.TracingOptions) {
	tp := sdktrace.NewTracerProvider() // spans record; nothing exports them
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	opts.TracerProvider = tp
	c := benchClient(b, fbotel.NewTracingHook(opts))
	tr := tp.Tracer("bench")
	b.ReportAllocs()
	i := 0
	ctx, span := tr.Start(requestCtx, "request")
	for b.Loop() {
		if i++; i%64 == 0 {
			span.End()
			ctx, span = tr.Start(requestCtx, "request")
		}
		sinkBool = c.WithContext(ctx).BoolVariation("f", benchUser, false)
	}
	span.End()
}

// The event on a recording span (span start amortized over 64 evaluations).
func BenchmarkTracingRecordingSpan(b *testing.B) { benchSpans(b, fbotel.TracingOptions{}) }

// A span of its own per evaluation.
func BenchmarkTracingSpanPerEvaluation(b *testing.B) {
	benchSpans(b, fbotel.TracingOptions{Spans: true})
}

// A hook whose Enabled always says no: the cost of the hook machinery alone.
func BenchmarkGatedHookOff(b *testing.B) {
	benchEval(b, benchClient(b, fbclient.Hook{Enabled: func(context.Context) bool { return false },
		AfterEvaluation: func(context.Context, fbclient.EvalCall) {}}), requestCtx)
}
