package fbotel_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	fbotel "github.com/featflags/fbclient/otel"
)

// collected is one collection, as series: metric name, then attributes, to value.
type collected map[string]map[string]float64

func collect(t *testing.T, r *sdkmetric.ManualReader) collected {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	out := collected{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			series := map[string]float64{}
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					series[attrKey(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					series[attrKey(p.Attributes)] = p.Value
				}
			case metricdata.Sum[int64]:
				require.True(t, d.IsMonotonic, m.Name)
				for _, p := range d.DataPoints {
					series[attrKey(p.Attributes)] = float64(p.Value)
				}
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			out[m.Name] = series
		}
	}
	return out
}

// attrKey writes a set of attributes as "k=v,k=v", sorted by key ("" for none).
func attrKey(s attribute.Set) string {
	out := ""
	for _, kv := range s.ToSlice() {
		if out != "" {
			out += ","
		}
		out += string(kv.Key) + "=" + kv.Value.Emit()
	}
	return out
}

// The instruments report what Stats reports, which is what the server saw: connections,
// data sets, the dropped connection, the refused reconnects, the events sent.
func TestMetrics(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a").On(true), fbtest.Flag("b").Strings("x", "y"))
	srv.SetSegments(fbtest.Segment("s").Included("u"))
	client, err := fbclient.New(fbclient.Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL(), EventsURL: srv.EventsURL()})
	require.NoError(t, err)
	defer client.Close()
	require.NoError(t, client.WaitForInitialization(context.Background()))

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	reg, err := fbotel.RegisterMetrics(client, fbotel.MetricsOptions{MeterProvider: mp})
	require.NoError(t, err)

	m := collect(t, reader)
	assert.Equal(t, map[string]float64{"fbclient.state=not ready": 0, "fbclient.state=ready": 1, "fbclient.state=stale": 0,
		"fbclient.state=failed": 0, "fbclient.state=closed": 0}, m["fbclient.state"])
	assert.Equal(t, map[string]float64{"": 2}, m["fbclient.data.flags"])
	assert.Equal(t, map[string]float64{"": 1}, m["fbclient.data.segments"])
	assert.Equal(t, map[string]float64{"": 0}, m["fbclient.data.age"])
	assert.Equal(t, map[string]float64{"": 1}, m["fbclient.sync.requests"])
	assert.Equal(t, map[string]float64{"fbclient.sync.type=full": 1, "fbclient.sync.type=patch": 0}, m["fbclient.sync.data_syncs"])

	ready := make(chan struct{}, 1)
	client.On(fbclient.EventStatusChanged, func(e fbclient.Event) {
		if e.StatusChange.Status.State == fbclient.StateReady {
			ready <- struct{}{}
		}
	})
	// The connection drops; the first reconnect is refused, the second gets through.
	srv.RefuseConnections(http.StatusServiceUnavailable)
	srv.DropConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitFor(ctx, func() bool { return srv.Stats().StreamsRefused >= 1 }))
	srv.RefuseConnections(0)
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("not ready again")
	}
	u := fbclient.NewUser("u")
	client.BoolVariation("a", u, false)
	client.Variation("b", u, "")
	require.NoError(t, client.FlushAndWait(ctx))

	m = collect(t, reader)
	fs := srv.Stats()
	assert.Equal(t, float64(fs.StreamsAccepted), m["fbclient.sync.requests"][""])
	assert.Equal(t, float64(1), m["fbclient.sync.reconnects"][""])
	assert.Equal(t, map[string]float64{"fbclient.sync.type=full": 1, "fbclient.sync.type=patch": float64(len(srv.DataSyncRequests()) - 1)},
		m["fbclient.sync.data_syncs"])
	assert.Equal(t, map[string]float64{"error.type=network": 0, "error.type=status": float64(fs.StreamsRefused), "error.type=lost": 1,
		"error.type=bad_data": 0, "error.type=rejected": 0, "error.type=other": 0}, m["fbclient.sync.errors"])
	assert.Equal(t, float64(len(srv.Events())), m["fbclient.events.recorded"][""])
	assert.Equal(t, map[string]float64{"": 0}, m["fbclient.events.queued"])
	assert.Equal(t, map[string]float64{"fbclient.events.drop_reason=buffer_full": 0, "fbclient.events.drop_reason=invalid": 0,
		"fbclient.events.drop_reason=refused": 0, "fbclient.events.drop_reason=unauthorized": 0, "fbclient.events.drop_reason=undelivered": 0},
		m["fbclient.events.dropped"])
	assert.Equal(t, map[string]float64{"": 0}, m["fbclient.listeners.missed"])

	require.NoError(t, client.Close())
	m = collect(t, reader)
	assert.Equal(t, float64(1), m["fbclient.state"]["fbclient.state=closed"])

	require.NoError(t, reg.Unregister())
	assert.Empty(t, collect(t, reader), "nothing is observed once unregistered")
}

// The evaluation counter counts by flag, variation and reason, for every context.
func TestEvaluationMetricsHook(t *testing.T) {
	checkLeaks(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	hook, err := fbotel.NewEvaluationMetricsHook(fbotel.MetricsOptions{MeterProvider: mp})
	require.NoError(t, err)
	client := testFlags().NewClient(t, fbclient.Config{DisableEvents: true, Hooks: []fbclient.Hook{hook}})

	alice := fbclient.NewUser("alice")
	for range 3 {
		client.BoolVariation("target", alice, false)
	}
	client.WithContext(context.Background()).BoolVariation("target", fbclient.NewUser("bob"), false)
	client.BoolVariation("missing", alice, false)

	m := collect(t, reader)
	target := func(i int, reason string) string {
		return "feature_flag.key=target,feature_flag.result.reason=" + reason + ",feature_flag.result.variant=" + fbtest.VariationID("target", i)
	}
	assert.Equal(t, map[string]float64{
		target(0, "targeting_match"):                                3,
		target(1, "default"):                                        1,
		"feature_flag.key=missing,feature_flag.result.reason=error": 1,
	}, m["fbclient.evaluations"])
}
