package openfeature

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	of "github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
)

// checkLeaks fails t if a goroutine started during the test is still running when the test
// and its cleanups end. The regexp2 match-timeout clock is a package-level goroutine of the
// core's dependency that stops by itself.
func checkLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock")}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// testCtx is a generous deadline for waits that should end long before it.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// harness is a provider registered with an OpenFeature API instance of its own (no global
// state), with a recorder of the provider events the API hands to its handlers.
type harness struct {
	client   *fbclient.Client
	provider *Provider
	api      *of.EvaluationAPI
	flags    *of.Client
	events   map[of.EventType]chan of.EventDetails
}

// newHarness wraps client in a provider registered with a new OpenFeature API; the test's
// cleanup shuts the API down (and so closes the client) and checks for leaks. It does not
// wait for initialisation: see ready.
func newHarness(t *testing.T, client *fbclient.Client, opts ...Option) *harness {
	t.Helper()
	h := &harness{client: client, provider: NewProvider(client, opts...), api: isolated.NewAPI(), events: map[of.EventType]chan of.EventDetails{}}
	for _, et := range []of.EventType{of.ProviderReady, of.ProviderError, of.ProviderStale, of.ProviderConfigChange} {
		ch := make(chan of.EventDetails, 64)
		h.events[et] = ch
		fn := func(d of.EventDetails) { ch <- d }
		h.api.AddHandler(et, &fn)
	}
	h.flags = h.api.NewClient(of.WithDomain(t.Name()))
	t.Cleanup(func() {
		require.NoError(t, h.api.Shutdown(context.Background()))
		_ = client.Close()
	})
	return h
}

// set registers the provider for the harness's domain and waits for its initialisation.
func (h *harness) set(t *testing.T, ctx context.Context) error {
	t.Helper()
	return h.api.SetProviderAndWait(ctx, h.provider, of.WithDomain(t.Name()))
}

// ready registers the provider and requires it to become ready.
func (h *harness) ready(t *testing.T) {
	t.Helper()
	require.NoError(t, h.set(t, testCtx(t)))
	require.Equal(t, of.ReadyState, h.flags.State())
	h.event(t, of.ProviderReady)
}

// event waits for the next provider event of type et.
func (h *harness) event(t *testing.T, et of.EventType) of.EventDetails {
	t.Helper()
	select {
	case d := <-h.events[et]:
		return d
	case <-testCtx(t).Done():
		t.Fatalf("no %s event", et)
		return of.EventDetails{}
	}
}

// streaming starts a client that streams from srv.
func streaming(t *testing.T, srv *fbtest.Server, secret string) *fbclient.Client {
	t.Helper()
	c, err := fbclient.New(fbclient.Config{
		EnvSecret:     secret,
		StreamingURL:  srv.StreamingURL(),
		EventsURL:     srv.EventsURL(),
		StartWait:     -1,
		FlushInterval: fbclient.MinFlushInterval,
	})
	require.NoError(t, err)
	return c
}

// offline starts an offline client from a data file.
func offline(t *testing.T, file string) *fbclient.Client {
	t.Helper()
	c, err := fbclient.New(fbclient.Config{Offline: true, DataFile: file})
	require.NoError(t, err)
	return c
}

// user is an evaluation context with a targeting key and attributes.
func user(key string, attrs map[string]any) of.EvaluationContext {
	return of.NewEvaluationContext(key, attrs)
}
