// Package fbotel connects a fbclient.Client to OpenTelemetry: flag evaluations recorded on
// traces, and the client's health and counters as metrics.
//
// Tracing: NewTracingHook returns a fbclient.Hook for Config.Hooks. Every evaluation made
// with a context that holds a recording span (through Client.WithContext) is recorded on
// that span as a "feature_flag.evaluation" event with the attributes of OpenTelemetry's
// semantic conventions for feature flags: feature_flag.key, feature_flag.provider.name,
// feature_flag.result.variant, feature_flag.result.reason, error.type on fallback, and
// feature_flag.result.value only when asked. Optionally each evaluation gets a span of its
// own. Evaluations without a recording span cost a few nanoseconds more, and nothing else.
//
//	client, err := fbclient.New(fbclient.Config{
//		// ...
//		Hooks: []fbclient.Hook{fbotel.NewTracingHook(fbotel.TracingOptions{})},
//	})
//	// in a request handler:
//	on := client.WithContext(r.Context()).BoolVariation("new-checkout", user, false)
//
// Metrics: RegisterMetrics reports Client.Stats as observable instruments, read when the
// SDK's reader collects: the state, the data's age, flags and segments held, sync requests,
// reconnects and failures, insight events and listener misses. Every attribute takes a
// fixed, small set of values. Evaluation counts per flag are a separate, opt-in hook,
// NewEvaluationMetricsHook, as their number of series grows with the flags evaluated.
//
// The package is a module of its own, so that the fbclient module does not depend on
// OpenTelemetry.
package fbotel
