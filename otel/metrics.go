package fbotel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/featflags/fbclient"
)

// MetricsOptions configures RegisterMetrics and NewEvaluationMetricsHook. The zero value is
// the defaults.
type MetricsOptions struct {
	// MeterProvider makes the instruments. Default: otel.GetMeterProvider() when called.
	MeterProvider metric.MeterProvider
}

func (o MetricsOptions) meter() metric.Meter {
	mp := o.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(ScopeName, metric.WithInstrumentationVersion(fbclient.Version))
}

// Attribute keys of the metrics. Each takes a fixed set of values.
const (
	// StateKey is the client's state on fbclient.state: "not ready", "ready", "stale",
	// "failed", "closed" (fbclient.State.String).
	StateKey = attribute.Key("fbclient.state")
	// SyncTypeKey tells full data sets from patches on fbclient.sync.data_syncs: "full",
	// "patch".
	SyncTypeKey = attribute.Key("fbclient.sync.type")
	// DropReasonKey is why insight events were dropped, on fbclient.events.dropped:
	// "buffer_full", "invalid", "refused", "unauthorized", "undelivered" (the fields of
	// fbclient.EventDrops).
	DropReasonKey = attribute.Key("fbclient.events.drop_reason")
)

// RegisterMetrics reports c.Stats() as observable instruments of opts' meter (scope
// ScopeName), read once per collection and never on the evaluation path: fbclient.state,
// fbclient.data.age, fbclient.data.flags and .segments, fbclient.sync.requests,
// .reconnects, .data_syncs and .errors, fbclient.events.recorded, .sent, .retried, .dropped
// and .queued, and fbclient.listeners.missed. Their attributes (StateKey, SyncTypeKey,
// DropReasonKey, error.type) take fixed, small sets of values. It returns an error if an
// instrument cannot be made; otherwise call the Registration's Unregister to stop reporting.
func RegisterMetrics(c *fbclient.Client, opts MetricsOptions) (metric.Registration, error) {
	m := opts.meter()
	var errs []error
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	state := gauge("fbclient.state", "1", "The client's state: 1 for the current one (attribute fbclient.state), 0 for the others.")
	age, err := m.Float64ObservableGauge("fbclient.data.age", metric.WithUnit("s"),
		metric.WithDescription("How long the flag data may have been out of date: 0 while the client is ready."))
	errs = append(errs, err)
	flags := gauge("fbclient.data.flags", "{flag}", "Flags held.")
	segments := gauge("fbclient.data.segments", "{segment}", "Segments held.")
	requests := counter("fbclient.sync.requests", "{request}", "Requests for flag data: streaming connections, polls.")
	reconnects := counter("fbclient.sync.reconnects", "{request}", "Requests for flag data made after a failure.")
	dataSyncs := counter("fbclient.sync.data_syncs", "{data_sync}", "Data sets received, full or patches.")
	syncErrors := counter("fbclient.sync.errors", "{error}", "Sync failures, by kind (error.type).")
	recorded := counter("fbclient.events.recorded", "{event}", "Insight events recorded.")
	sent := counter("fbclient.events.sent", "{event}", "Insight events FeatBit accepted.")
	retried := counter("fbclient.events.retried", "{event}", "Insight events sent again after a failed attempt.")
	dropped := counter("fbclient.events.dropped", "{event}", "Insight events dropped, by reason.")
	queued := gauge("fbclient.events.queued", "{event}", "Insight events recorded and not yet sent or dropped.")
	missed := counter("fbclient.listeners.missed", "{event}", "Events that listeners missed because their queue was full.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := c.Stats()
		for _, st := range states {
			v := int64(0)
			if s.Status.State == st.state {
				v = 1
			}
			o.ObserveInt64(state, v, st.attr)
		}
		o.ObserveFloat64(age, s.Data.Age.Seconds())
		o.ObserveInt64(flags, int64(s.Data.Flags))
		o.ObserveInt64(segments, int64(s.Data.Segments))
		o.ObserveInt64(requests, int64(s.Sync.Requests))
		o.ObserveInt64(reconnects, int64(s.Sync.Reconnects))
		o.ObserveInt64(dataSyncs, int64(s.Sync.FullDataSyncs), syncFull)
		o.ObserveInt64(dataSyncs, int64(s.Sync.DataSyncs-s.Sync.FullDataSyncs), syncPatch)
		e := s.Sync.Errors
		for _, k := range []struct {
			n    uint64
			attr metric.ObserveOption
		}{{e.Network, errNetwork}, {e.Status, errStatus}, {e.Lost, errLost}, {e.BadData, errBadData}, {e.Rejected, errRejected}, {e.Other, errOther}} {
			o.ObserveInt64(syncErrors, int64(k.n), k.attr)
		}
		o.ObserveInt64(recorded, int64(s.Events.Recorded))
		o.ObserveInt64(sent, int64(s.Events.Sent))
		o.ObserveInt64(retried, int64(s.Events.Retried))
		d := s.Events.Dropped
		for _, k := range []struct {
			n    uint64
			attr metric.ObserveOption
		}{{d.BufferFull, dropBufferFull}, {d.Invalid, dropInvalid}, {d.Refused, dropRefused}, {d.Unauthorized, dropUnauthorized}, {d.Undelivered, dropUndelivered}} {
			o.ObserveInt64(dropped, int64(k.n), k.attr)
		}
		o.ObserveInt64(queued, int64(s.Events.Queued))
		o.ObserveInt64(missed, int64(s.Listeners.Missed))
		return nil
	}, state, age, flags, segments, requests, reconnects, dataSyncs, syncErrors, recorded, sent, retried, dropped, queued, missed)
}

// stateAttr is one state and its attribute on fbclient.state.
type stateAttr struct {
	state fbclient.State
	attr  metric.ObserveOption
}

// The attribute sets of the metrics, made once.
var (
	states = []stateAttr{
		{fbclient.StateNotReady, attrs(StateKey.String(fbclient.StateNotReady.String()))},
		{fbclient.StateReady, attrs(StateKey.String(fbclient.StateReady.String()))},
		{fbclient.StateStale, attrs(StateKey.String(fbclient.StateStale.String()))},
		{fbclient.StateFailed, attrs(StateKey.String(fbclient.StateFailed.String()))},
		{fbclient.StateClosed, attrs(StateKey.String(fbclient.StateClosed.String()))},
	}
	syncFull         = attrs(SyncTypeKey.String("full"))
	syncPatch        = attrs(SyncTypeKey.String("patch"))
	errNetwork       = attrs(semconv.ErrorTypeKey.String("network"))
	errStatus        = attrs(semconv.ErrorTypeKey.String("status"))
	errLost          = attrs(semconv.ErrorTypeKey.String("lost"))
	errBadData       = attrs(semconv.ErrorTypeKey.String("bad_data"))
	errRejected      = attrs(semconv.ErrorTypeKey.String("rejected"))
	errOther         = attrs(semconv.ErrorTypeKey.String("other"))
	dropBufferFull   = attrs(DropReasonKey.String("buffer_full"))
	dropInvalid      = attrs(DropReasonKey.String("invalid"))
	dropRefused      = attrs(DropReasonKey.String("refused"))
	dropUnauthorized = attrs(DropReasonKey.String("unauthorized"))
	dropUndelivered  = attrs(DropReasonKey.String("undelivered"))
)

func attrs(kv ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(kv...))
}

// NewEvaluationMetricsHook returns a hook, for fbclient.Config.Hooks, that counts every
// evaluation in the counter fbclient.evaluations ({evaluation}) with the attributes
// feature_flag.key, feature_flag.result.variant (absent on fallback) and
// feature_flag.result.reason (the values NewTracingHook uses). Its series grow with the
// flags and variations evaluated, which is why it is a hook of its own, to add only when
// per-flag counts are wanted. It counts every evaluation, whatever its context.
func NewEvaluationMetricsHook(opts MetricsOptions) (fbclient.Hook, error) {
	counter, err := opts.meter().Int64Counter("fbclient.evaluations", metric.WithUnit("{evaluation}"),
		metric.WithDescription("Flag evaluations, by flag, variation and reason."))
	if err != nil {
		return fbclient.Hook{}, err
	}
	return fbclient.Hook{
		Name: "otel evaluation metrics",
		AfterEvaluation: func(ctx context.Context, e fbclient.EvalCall) {
			d := &e.Detail
			kv := [3]attribute.KeyValue{semconv.FeatureFlagKey(e.FlagKey), reasonAttr(d)}
			n := 2
			if d.Err == nil && !d.Reason.Fallback() {
				kv[2] = semconv.FeatureFlagResultVariant(d.VariationID)
				n = 3
			}
			counter.Add(ctx, 1, metric.WithAttributes(kv[:n]...))
		},
	}, nil
}
