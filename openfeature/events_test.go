package openfeature

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	of "github.com/open-feature/go-sdk/openfeature"
)

// Live changes are CONFIGURATION_CHANGED events with the keys of the changed flags, those
// changed through a segment included; a lost connection is STALE, and the last data is still
// served. (The return to READY is TestEventsStaleThenReady: waiting here for the client to
// reconnect would wait out its backoff.)
func TestEventsLiveChangesStale(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetSegments(fbtest.Segment("beta").Included("alice"))
	srv.SetFlags(
		fbtest.Flag("checkout"),
		fbtest.Flag("beta-banner").Rule("beta users", 0, fbtest.InSegment("beta")).Fallthrough(1),
	)
	h := newHarness(t, streaming(t, srv, srv.Secret()))
	h.ready(t)
	ctx := testCtx(t)

	srv.SetFlags(fbtest.Flag("checkout").On(false))
	assert.Equal(t, []string{"checkout"}, h.event(t, of.ProviderConfigChange).FlagChanges)
	on, err := h.flags.BooleanValue(ctx, "checkout", true, user("bob", nil))
	require.NoError(t, err)
	assert.False(t, on)

	srv.SetSegments(fbtest.Segment("beta").Included("alice", "bob"))
	assert.Equal(t, []string{"beta-banner"}, h.event(t, of.ProviderConfigChange).FlagChanges)
	on, err = h.flags.BooleanValue(ctx, "beta-banner", false, user("bob", nil))
	require.NoError(t, err)
	assert.True(t, on)

	srv.DropConnections()
	h.event(t, of.ProviderStale)
	assert.Equal(t, of.StaleState, h.flags.State())
	d, err := h.flags.BooleanValueDetails(ctx, "beta-banner", false, user("bob", nil))
	require.NoError(t, err)
	assert.True(t, d.Value)
	assert.Equal(t, of.TargetingMatchReason, d.Reason)
}

// handSource is a Config.DataSource that hands the client's sink to the test, which then
// plays the client's source: Apply for data, Failed for a lost connection.
type handSource chan fbclient.DataSink

func (s handSource) Run(ctx context.Context, sink fbclient.DataSink) {
	s <- sink
	<-ctx.Done()
}

// dataSet returns the flags and segments of srv as a full data set.
func dataSet(t *testing.T, srv *fbtest.Server) *fbclient.DataSet {
	t.Helper()
	ds, err := fbclient.ParseDataSet(srv.DataFile())
	require.NoError(t, err)
	return ds
}

// The client's source fails (STALE, the last data still served) and then delivers again
// (READY), and changes go on: the client's status changes as the provider sees them when a
// streaming connection drops and comes back, driven through the client's DataSource boundary
// so that no reconnect backoff is waited out.
func TestEventsStaleThenReady(t *testing.T) {
	checkLeaks(t)
	data := fbtest.NewUnstartedServer()
	data.SetFlags(fbtest.Flag("checkout"), fbtest.Flag("banner").Fallthrough(1))
	src := make(handSource, 1)
	client, err := fbclient.New(fbclient.Config{DataSource: src, DisableEvents: true, StartWait: -1})
	require.NoError(t, err)
	h := newHarness(t, client)
	sink := <-src
	sink.Apply(dataSet(t, data), fbclient.Fetch{})
	h.ready(t)
	ctx := testCtx(t)

	sink.Failed(errors.New("connection lost"), fbclient.Fetch{})
	d := h.event(t, of.ProviderStale)
	assert.Contains(t, d.Message, "connection lost")
	assert.Equal(t, of.StaleState, h.flags.State())
	on, err := h.flags.BooleanValue(ctx, "checkout", false, user("bob", nil))
	require.NoError(t, err)
	assert.True(t, on)

	// The data set received on reconnecting: READY, and the flags it changed.
	data.SetFlags(fbtest.Flag("checkout").On(false))
	sink.Apply(dataSet(t, data), fbclient.Fetch{})
	h.event(t, of.ProviderReady)
	assert.Equal(t, of.ReadyState, h.flags.State())
	assert.Equal(t, []string{"checkout"}, h.event(t, of.ProviderConfigChange).FlagChanges)
	on, err = h.flags.BooleanValue(ctx, "checkout", true, user("bob", nil))
	require.NoError(t, err)
	assert.False(t, on)

	data.SetFlags(fbtest.Flag("banner").Fallthrough(0))
	sink.Apply(dataSet(t, data), fbclient.Fetch{})
	assert.Equal(t, []string{"banner"}, h.event(t, of.ProviderConfigChange).FlagChanges)
}

// FeatBit closing the stream with 4003 (secret rejected) after the provider is ready is an
// ERROR event; the provider keeps serving the last data.
func TestEventsRejectedAfterReady(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("checkout").Fallthrough(1))
	h := newHarness(t, streaming(t, srv, srv.Secret()))
	h.ready(t)

	srv.CloseStreams(fbtest.CloseInvalidRequest, "invalid request, close by server")
	d := h.event(t, of.ProviderError)
	assert.Contains(t, d.Message, "stopped syncing")
	assert.Equal(t, of.ErrorState, h.flags.State())
	on, err := h.flags.BooleanValue(testCtx(t), "checkout", true, user("bob", nil))
	require.NoError(t, err)
	assert.False(t, on)
}

// A secret FeatBit rejects at start-up fails initialisation with PROVIDER_FATAL: the
// OpenFeature SDK then answers every evaluation with the default.
func TestInitRejectedSecret(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	other := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("checkout"))
	h := newHarness(t, streaming(t, srv, other.Secret()))
	err := h.set(t, testCtx(t))
	var initErr *of.ProviderInitError
	require.ErrorAs(t, err, &initErr)
	assert.Equal(t, of.ProviderFatalCode, initErr.ErrorCode)
	assert.NotContains(t, err.Error(), other.Secret())
	h.event(t, of.ProviderError)
	assert.Equal(t, of.FatalState, h.flags.State())
	d, err := h.flags.BooleanValueDetails(testCtx(t), "checkout", false, user("bob", nil))
	require.Error(t, err)
	assert.Equal(t, of.ProviderFatalCode, d.ErrorCode)
	assert.False(t, d.Value)
}

// Initialisation that ends before the client has data is an ERROR; evaluations then answer
// PROVIDER_NOT_READY from the client, until the data arrives and the provider emits READY.
func TestInitTimesOutThenReady(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("checkout").Fallthrough(1))
	srv.HoldDataSync()
	h := newHarness(t, streaming(t, srv, srv.Secret()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := h.set(t, ctx)
	require.True(t, errors.Is(err, context.Canceled), err)
	h.event(t, of.ProviderError)
	assert.Equal(t, of.ErrorState, h.flags.State())

	d, err := h.flags.BooleanValueDetails(testCtx(t), "checkout", true, user("bob", nil))
	require.Error(t, err)
	assert.Equal(t, of.ProviderNotReadyCode, d.ErrorCode)
	assert.True(t, d.Value)

	srv.ReleaseDataSync()
	h.event(t, of.ProviderReady)
	assert.Equal(t, of.ReadyState, h.flags.State())
	on, err := h.flags.BooleanValue(testCtx(t), "checkout", true, user("bob", nil))
	require.NoError(t, err)
	assert.False(t, on)
}

// Shutting the API down closes the client; KeepClientOpen leaves it to the application.
func TestShutdown(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("checkout"))

	client := streaming(t, srv, srv.Secret())
	h := newHarness(t, client)
	h.ready(t)
	require.NoError(t, h.api.Shutdown(testCtx(t)))
	assert.Equal(t, fbclient.StateClosed, client.Status().State)
	require.NoError(t, h.provider.ShutdownWithContext(testCtx(t)), "a second shutdown does nothing")
	var initErr *of.ProviderInitError
	require.ErrorAs(t, h.provider.InitWithContext(testCtx(t), of.EvaluationContext{}), &initErr)

	kept := streaming(t, srv, srv.Secret())
	h2 := newHarness(t, kept, KeepClientOpen())
	h2.ready(t)
	require.NoError(t, h2.api.Shutdown(testCtx(t)))
	assert.Equal(t, fbclient.StateReady, kept.Status().State)
	assert.True(t, kept.BoolVariation("checkout", fbclient.NewUser("bob"), false))
	require.NoError(t, kept.Close())
}

// memCache is a Config.Cache that holds one data set in memory.
type memCache struct{ ds *fbclient.DataSet }

func (m memCache) Load(context.Context) (*fbclient.DataSet, error) { return m.ds, nil }
func (m memCache) Save(context.Context, *fbclient.DataSet) error   { return nil }

// A client warm-started from its Config.Cache serves the cached flags before FeatBit answers:
// an initialisation that ends first is an ERROR, but evaluations are answered from the
// cached data set, not PROVIDER_NOT_READY; READY follows FeatBit's data.
func TestInitTimesOutWarmCache(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("checkout").Fallthrough(0))
	srv.HoldDataSync()
	saved := fbtest.NewUnstartedServer(fbtest.WithSecret(srv.Secret()))
	saved.SetFlags(fbtest.Flag("checkout").Fallthrough(1))
	cached, err := fbclient.ParseDataSet(saved.DataFile())
	require.NoError(t, err)

	client, err := fbclient.New(fbclient.Config{
		EnvSecret:     srv.Secret(),
		StreamingURL:  srv.StreamingURL(),
		StartWait:     -1,
		DisableEvents: true,
		Cache:         memCache{cached},
	})
	require.NoError(t, err)
	h := newHarness(t, client)
	require.True(t, client.Status().FromCache)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, h.set(t, ctx), context.Canceled)
	h.event(t, of.ProviderError)
	assert.Equal(t, of.ErrorState, h.flags.State())

	d, err := h.flags.BooleanValueDetails(testCtx(t), "checkout", true, user("bob", nil))
	require.NoError(t, err)
	assert.False(t, d.Value, "the cached flag serves its variation 1")
	assert.Equal(t, of.DefaultReason, d.Reason)

	srv.ReleaseDataSync()
	h.event(t, of.ProviderReady)
	assert.Equal(t, of.ReadyState, h.flags.State())
	on, err := h.flags.BooleanValue(testCtx(t), "checkout", false, user("bob", nil))
	require.NoError(t, err)
	assert.True(t, on, "FeatBit's flag serves its variation 0")
}
