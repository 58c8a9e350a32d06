package fbotel

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/featflags/fbclient"
)

// ScopeName is the instrumentation scope of the tracer and the meter this package uses.
const ScopeName = "github.com/featflags/fbclient/otel"

// EventName is the name of the span event that records an evaluation, from OpenTelemetry's
// semantic conventions for feature flags.
const EventName = "feature_flag.evaluation"

// ProviderName is the default value of feature_flag.provider.name.
const ProviderName = "FeatBit"

// TracingOptions configures NewTracingHook. The zero value is the defaults.
type TracingOptions struct {
	// IncludeValue adds feature_flag.result.value, the served value as FeatBit stores it
	// (the caller's default on fallback). Default false: values can be large or hold
	// private data, and feature_flag.result.variant already tells which was served.
	IncludeValue bool
	// IncludeUserKey adds feature_flag.context.id, the user's key. Default false: a user key
	// may identify a person.
	IncludeUserKey bool
	// Spans makes each evaluation a span of its own, a child of the recording span in the
	// evaluation's context, named "fbclient." and the method, such as
	// "fbclient.BoolVariation"; the event goes on that span. A fallback sets its status to
	// Error. Default false: the event goes on the span of the caller.
	Spans bool
	// TracerProvider makes the evaluation spans. Default: otel.GetTracerProvider() when the
	// hook is made. Used only with Spans.
	TracerProvider trace.TracerProvider
	// ProviderName is the value of feature_flag.provider.name. Default "FeatBit".
	ProviderName string
}

// NewTracingHook returns a hook, for fbclient.Config.Hooks, that records every evaluation made
// with a recording span in its context (see Client.WithContext) as a feature_flag.evaluation
// event. An evaluation whose context has no recording span costs one look-up in the context
// and nothing more; the Client's own methods, which evaluate with context.Background(), are
// not recorded.
//
// The event's attributes (OpenTelemetry semantic conventions for feature flags):
//
//	feature_flag.key            the flag key
//	feature_flag.provider.name  "FeatBit" (TracingOptions.ProviderName)
//	feature_flag.result.variant the served variation's id; absent on fallback
//	feature_flag.result.reason  disabled (flag off), split (percentage rollout),
//	                            targeting_match (target or rule), default (default rule),
//	                            error (fallback)
//	error.type                  on fallback: provider_not_ready, flag_not_found (archived too),
//	                            targeting_key_missing, type_mismatch, parse_error (a flag
//	                            that cannot be evaluated), general
//	feature_flag.error.message  on fallback: the error's text
//	feature_flag.result.value   only with TracingOptions.IncludeValue
//	feature_flag.context.id     only with TracingOptions.IncludeUserKey
func NewTracingHook(opts TracingOptions) fbclient.Hook {
	name := opts.ProviderName
	if name == "" {
		name = ProviderName
	}
	t := &tracing{opts: opts, provider: semconv.FeatureFlagProviderName(name)}
	h := fbclient.Hook{
		Name:            "otel tracing",
		Enabled:         recording,
		AfterEvaluation: t.after,
	}
	if opts.Spans {
		tp := opts.TracerProvider
		if tp == nil {
			tp = otel.GetTracerProvider()
		}
		t.tracer = tp.Tracer(ScopeName, trace.WithInstrumentationVersion(fbclient.Version))
		h.BeforeEvaluation = t.before
	}
	return h
}

// recording reports whether ctx holds a span that records: the hook observes only such
// evaluations.
func recording(ctx context.Context) bool { return trace.SpanFromContext(ctx).IsRecording() }

type tracing struct {
	opts     TracingOptions
	provider attribute.KeyValue
	tracer   trace.Tracer // with Spans
}

// before starts the evaluation's span.
func (t *tracing) before(ctx context.Context, e fbclient.EvalCall) context.Context {
	ctx, _ = t.tracer.Start(ctx, "fbclient."+e.Method, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(semconv.FeatureFlagKey(e.FlagKey), t.provider))
	return ctx
}

// after records the evaluation on the span in ctx, and ends it if before started it.
func (t *tracing) after(ctx context.Context, e fbclient.EvalCall) {
	span := trace.SpanFromContext(ctx)
	d := &e.Detail
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs, semconv.FeatureFlagKey(e.FlagKey), t.provider, reasonAttr(d))
	fallback := d.Err != nil || d.Reason.Fallback()
	if fallback {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errorType(d.Reason)))
		if d.Err != nil {
			attrs = append(attrs, semconv.FeatureFlagErrorMessage(d.Err.Error()))
		}
	} else {
		attrs = append(attrs, semconv.FeatureFlagResultVariant(d.VariationID))
	}
	if t.opts.IncludeValue {
		attrs = append(attrs, semconv.FeatureFlagResultValueKey.String(d.Value))
	}
	if t.opts.IncludeUserKey {
		attrs = append(attrs, semconv.FeatureFlagContextID(e.User.Key()))
	}
	span.AddEvent(EventName, trace.WithAttributes(attrs...))
	if t.tracer == nil {
		return
	}
	if fallback {
		msg := d.Reason.String()
		if d.Err != nil {
			msg = d.Err.Error()
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}

// reasonAttr maps the evaluation's reason to feature_flag.result.reason, as the OpenFeature
// provider of this repository maps it to OpenFeature's reasons.
func reasonAttr(d *fbclient.EvalDetail) attribute.KeyValue {
	switch {
	case d.Err != nil || d.Reason.Fallback():
		return semconv.FeatureFlagResultReasonError
	case d.Reason == fbclient.ReasonOff:
		return semconv.FeatureFlagResultReasonDisabled
	case d.Split:
		return semconv.FeatureFlagResultReasonSplit
	case d.Reason == fbclient.ReasonTargetMatch, d.Reason == fbclient.ReasonRuleMatch:
		return semconv.FeatureFlagResultReasonTargetingMatch
	case d.Reason == fbclient.ReasonFallthrough:
		return semconv.FeatureFlagResultReasonDefault
	}
	return semconv.FeatureFlagResultReasonUnknown
}

// errorType maps a fallback reason to error.type: OpenFeature's error codes in lower case,
// as the semantic conventions ask.
func errorType(r fbclient.Reason) string {
	switch r {
	case fbclient.ReasonClientNotReady:
		return "provider_not_ready"
	case fbclient.ReasonFlagNotFound, fbclient.ReasonFlagArchived:
		return "flag_not_found"
	case fbclient.ReasonUserNotSpecified:
		return "targeting_key_missing"
	case fbclient.ReasonWrongType:
		return "type_mismatch"
	case fbclient.ReasonError:
		return "parse_error"
	}
	return "general"
}
