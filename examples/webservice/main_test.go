package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
)

// waitTimeout bounds every wait in these tests; nothing sleeps.
const waitTimeout = 5 * time.Second

// checkLeaks fails the test if a goroutine it started (HTTP servers, the client, the fake
// FeatBit server) is still running after its cleanups. Registered first, it runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{
		goleak.IgnoreCurrent(),
		// regexp2's match-timeout clock stops by itself a second after the last match.
		goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock"),
	}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// service is the handler under test, served over real HTTP, with its client connected to a
// fake FeatBit server.
type service struct {
	t      *testing.T
	srv    *fbtest.Server
	client *fbclient.Client
	http   *httptest.Server
}

// newService starts a fake FeatBit server with the demo flags, a client connected to it and
// the handler. prepare, if not nil, runs on the fake server before the client connects.
func newService(t *testing.T, prepare func(*fbtest.Server)) *service {
	t.Helper()
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(demoFlags()...)
	if prepare != nil {
		prepare(srv)
	}
	client, err := fbclient.New(fbclient.Config{
		EnvSecret:    srv.Secret(),
		StreamingURL: srv.StreamingURL(),
		EventsURL:    srv.EventsURL(),
		StartWait:    -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	hs := httptest.NewServer(newServer(client, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(hs.Close)
	return &service{t: t, srv: srv, client: client, http: hs}
}

// waitReady waits for the client's first data set.
func (s *service) waitReady() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := s.client.WaitForInitialization(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// do sends a request as the user given by headers ("X-User-Id", "alice", ...) and decodes
// the JSON response into out, if not nil. It returns the status code.
func (s *service) do(method, path string, out any, headers ...string) int {
	s.t.Helper()
	return doRequest(s.t, s.http.Client(), method, s.http.URL+path, out, headers...)
}

func doRequest(t *testing.T, hc *http.Client, method, url string, out any, headers ...string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, url, err, body)
		}
	}
	return resp.StatusCode
}

// flagChanged returns a function that waits until the client has applied a change of the
// flag. Call it before making the change, so the change cannot be missed.
func flagChanged(t *testing.T, client *fbclient.Client, key string) (wait func()) {
	t.Helper()
	changed := make(chan struct{}, 1)
	off := client.On(fbclient.EventFlagChanged, func(e fbclient.Event) {
		if slices.Contains(e.FlagKeys, key) {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	})
	return func() {
		t.Helper()
		defer off()
		select {
		case <-changed:
		case <-time.After(waitTimeout):
			t.Fatalf("flag %s did not change within %v", key, waitTimeout)
		}
	}
}

func TestCheckoutFlag(t *testing.T) {
	s := newService(t, nil)
	s.waitReady()
	for _, tc := range []struct {
		name    string
		headers []string
		want    string
	}{
		{"targeted user", []string{"X-User-Id", "beta-tester"}, "new"},
		{"enterprise rule", []string{"X-User-Id", "carol", "X-User-Plan", "enterprise"}, "new"},
		{"other plan", []string{"X-User-Id", "carol", "X-User-Plan", "pro"}, "classic"},
		{"anonymous", nil, "classic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]string
			if code := s.do("GET", "/checkout", &got, tc.headers...); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			if got["checkout"] != tc.want {
				t.Errorf("checkout = %q, want %q", got["checkout"], tc.want)
			}
		})
	}
}

func TestCheckoutBeforeFlagsArrive(t *testing.T) {
	// Until the client has flags, every user gets the default: the classic page.
	s := newService(t, func(srv *fbtest.Server) { srv.HoldDataSync() })
	var got map[string]string
	s.do("GET", "/checkout", &got, "X-User-Id", "beta-tester")
	if got["checkout"] != "classic" {
		t.Errorf("checkout = %q before initialization, want classic", got["checkout"])
	}
}

func TestPricingExperiment(t *testing.T) {
	s := newService(t, nil)
	s.waitReady()

	// Both prices are served, and each user keeps theirs.
	seen := map[int]bool{}
	for _, id := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10"} {
		var first, again priceResponse
		s.do("GET", "/pricing", &first, "X-User-Id", id)
		s.do("GET", "/pricing", &again, "X-User-Id", id)
		if first.Price != again.Price {
			t.Errorf("user %s saw %d, then %d", id, first.Price, again.Price)
		}
		seen[first.Price] = true
	}
	if !seen[20] || !seen[25] || len(seen) != 2 {
		t.Errorf("prices served: %v, want 20 and 25", seen)
	}

	// A conversion is tracked with the price the user saw, and reaches FeatBit.
	var shown, bought priceResponse
	s.do("GET", "/pricing", &shown, "X-User-Id", "alice")
	if code := s.do("POST", "/pricing/subscribe", &bought, "X-User-Id", "alice", "X-User-Plan", "free"); code != http.StatusCreated {
		t.Fatalf("subscribe: status %d", code)
	}
	if bought.Price != shown.Price {
		t.Errorf("subscribed at %d, shown %d", bought.Price, shown.Price)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := s.client.FlushAndWait(ctx); err != nil {
		t.Fatal(err)
	}
	var metrics, exposures int
	for _, e := range s.srv.Events() {
		if e.User.KeyID != "alice" {
			continue
		}
		for _, m := range e.Metrics {
			if m.EventName == metricSubscription {
				metrics++
				if m.NumericValue != float64(shown.Price) {
					t.Errorf("metric value %v, want %d", m.NumericValue, shown.Price)
				}
			}
		}
		for _, v := range e.Variations {
			if v.FeatureFlagKey == flagProPrice {
				exposures++
				if v.Variation.Value != strconv.Itoa(shown.Price) || !v.SendToExperiment {
					t.Errorf("exposure %+v, want value %d sent to the experiment", v, shown.Price)
				}
			}
		}
	}
	if metrics != 1 || exposures != 2 {
		t.Errorf("FeatBit received %d %s metrics and %d %s evaluations for alice, want 1 and 2", metrics, metricSubscription, exposures, flagProPrice)
	}

	// A conversion needs a user.
	if code := s.do("POST", "/pricing/subscribe", nil); code != http.StatusUnauthorized {
		t.Errorf("anonymous subscribe: status %d, want 401", code)
	}
}

func TestRemoteConfig(t *testing.T) {
	s := newService(t, nil)
	s.waitReady()
	var us, other checkoutConfig
	s.do("GET", "/config/checkout", &us, "X-User-Id", "bob", "X-User-Country", "us")
	s.do("GET", "/config/checkout", &other, "X-User-Id", "bob", "X-User-Country", "fr")
	if want := (checkoutConfig{Currency: "USD", MaxCartItems: 50, Banner: "Free shipping over $50"}); us != want {
		t.Errorf("us: %+v, want %+v", us, want)
	}
	if want := (checkoutConfig{Currency: "EUR", MaxCartItems: 20}); other != want {
		t.Errorf("fr: %+v, want %+v", other, want)
	}

	// A value that does not decode into the struct gives the default, not a broken checkout.
	wait := flagChanged(t, s.client, flagCheckoutConfig)
	s.srv.SetFlags(fbtest.Flag(flagCheckoutConfig).JSON(`{"currency":42}`))
	wait()
	var broken checkoutConfig
	s.do("GET", "/config/checkout", &broken, "X-User-Id", "bob")
	if broken != defaultCheckoutConfig {
		t.Errorf("malformed config: %+v, want the default %+v", broken, defaultCheckoutConfig)
	}
}

func TestBootstrap(t *testing.T) {
	s := newService(t, nil)
	s.waitReady()
	var flags []struct {
		ID        string `json:"id"`
		Variation string `json:"variation"`
	}
	s.do("GET", "/flags", &flags, "X-User-Id", "beta-tester")
	got := map[string]string{}
	for _, f := range flags {
		got[f.ID] = f.Variation
	}
	if len(got) != 4 || got[flagNewCheckout] != "true" || got[flagMaintenance] != "false" {
		t.Errorf("bootstrap: %v", got)
	}
}

func TestMaintenanceModeAtRuntime(t *testing.T) {
	s := newService(t, nil)
	s.waitReady()
	if code := s.do("GET", "/checkout", nil, "X-User-Id", "alice"); code != http.StatusOK {
		t.Fatalf("before maintenance: status %d", code)
	}

	wait := flagChanged(t, s.client, flagMaintenance)
	s.srv.SetFlags(maintenanceFlag(true))
	wait()
	if code := s.do("GET", "/checkout", nil, "X-User-Id", "alice"); code != http.StatusServiceUnavailable {
		t.Errorf("alice during maintenance: status %d, want 503", code)
	}
	if code := s.do("GET", "/checkout", nil, "X-User-Id", "ops"); code != http.StatusOK {
		t.Errorf("ops during maintenance: status %d, want 200", code)
	}
	for _, probe := range []string{"/healthz/live", "/healthz/ready"} {
		if code := s.do("GET", probe, nil); code != http.StatusOK {
			t.Errorf("%s during maintenance: status %d, want 200", probe, code)
		}
	}

	wait = flagChanged(t, s.client, flagMaintenance)
	s.srv.SetFlags(maintenanceFlag(false))
	wait()
	if code := s.do("GET", "/checkout", nil, "X-User-Id", "alice"); code != http.StatusOK {
		t.Errorf("after maintenance: status %d", code)
	}
}

func TestReadiness(t *testing.T) {
	s := newService(t, func(srv *fbtest.Server) { srv.HoldDataSync() })
	probe := func(wantCode int, wantState string) {
		t.Helper()
		var body fbclient.Health
		code := s.do("GET", "/healthz/ready", &body)
		if code != wantCode || body.State != wantState {
			t.Errorf("ready: %d %+v, want %d %q", code, body, wantCode, wantState)
		}
		if strings.Contains(body.Error, s.srv.Secret()) {
			t.Errorf("the readiness body shows the env secret")
		}
	}

	// Connected, but no data yet: not ready; alive all the same.
	probe(http.StatusServiceUnavailable, "not ready")
	if code := s.do("GET", "/healthz/live", nil); code != http.StatusOK {
		t.Errorf("live: status %d", code)
	}

	s.srv.ReleaseDataSync()
	s.waitReady() // once WaitForInitialization returns, the status says ready
	probe(http.StatusOK, "ready")

	// FeatBit goes away: the client serves the flags it has and stays ready for traffic.
	s.srv.RefuseConnections(http.StatusServiceUnavailable)
	s.srv.DropConnections()
	eventually(t, func() bool { return s.client.Status().State == fbclient.StateStale })
	probe(http.StatusOK, "stale")

	s.client.Close()
	probe(http.StatusServiceUnavailable, "closed")
}

// eventually polls cond until it holds, failing the test after waitTimeout. It is for state
// that no event announces; the poll interval only bounds the latency of the check.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitTimeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not met in time")
		}
	}
}

func TestUserFromHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("X-User-Id", " u-1 ")
	h.Set("X-User-Name", "Ann")
	h.Set("X-User-Plan", "pro")
	u := userFromHeaders(h)
	plan, _ := u.Custom("plan")
	_, hasCountry := u.Custom("country")
	if u.Key() != "u-1" || u.Name() != "Ann" || plan != "pro" || hasCountry {
		t.Errorf("user %s %s plan=%q country set=%v", u.Key(), u.Name(), plan, hasCountry)
	}
	if u := userFromHeaders(http.Header{}); u.Key() != anonymousKey {
		t.Errorf("no headers: key %q, want %q", u.Key(), anonymousKey)
	}
}

// output is the stdout given to run: it keeps what run writes and tells when the service is
// listening.
type output struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	url   chan string
	found bool
}

var listeningRE = regexp.MustCompile(`msg=listening url=(\S+)`)

func newOutput() *output { return &output{url: make(chan string, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if m := listeningRE.FindSubmatch(o.buf.Bytes()); m != nil && !o.found {
		o.found = true
		o.url <- string(m[1])
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// startRun runs the service as main does, with ctx in place of the signals, and returns its
// base URL, a function that stops it and returns run's result.
func startRun(t *testing.T, args []string, env map[string]string) (url string, stop func() error, out *output) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = newOutput()
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, out) }()
	stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(2 * waitTimeout):
			t.Fatal("run did not return after its context ended")
			return nil
		}
	}
	select {
	case url = <-out.url:
	case err := <-done:
		cancel()
		t.Fatalf("run returned before listening: %v\n%s", err, out)
	case <-time.After(waitTimeout):
		stop()
		t.Fatalf("run is not listening\n%s", out)
	}
	return url, stop, out
}

func TestRunFakeAndShutdown(t *testing.T) {
	checkLeaks(t)
	url, stop, out := startRun(t, []string{"-fake", "-addr", "127.0.0.1:0"}, nil)
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()

	var page map[string]string
	doRequest(t, hc, "GET", url+"/checkout", &page, "X-User-Id", "beta-tester")
	if page["checkout"] != "new" {
		t.Errorf("checkout = %q, want new", page["checkout"])
	}
	// Probed repeatedly, as an orchestrator does: run has not necessarily waited for the
	// flags when the listener starts serving.
	eventually(t, func() bool { return doRequest(t, hc, "GET", url+"/healthz/ready", nil) == http.StatusOK })
	var res map[string]bool
	if code := doRequest(t, hc, "POST", url+"/fake/maintenance?on=true", &res); code != http.StatusOK || !res["maintenance"] {
		t.Errorf("fake admin: %d %v", code, res)
	}

	hc.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Errorf("run: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "msg=stopped") {
		t.Errorf("no clean stop in the output:\n%s", out)
	}
}

func TestRunAgainstFeatBit(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(demoFlags()...)
	env := map[string]string{
		"FEATBIT_ENV_SECRET":    srv.Secret(),
		"FEATBIT_STREAMING_URL": srv.StreamingURL(),
		"FEATBIT_EVENTS_URL":    srv.EventsURL(),
	}
	url, stop, out := startRun(t, []string{"-addr", "127.0.0.1:0"}, env)
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()

	if code := doRequest(t, hc, "POST", url+"/pricing/subscribe", nil, "X-User-Id", "dave"); code != http.StatusCreated {
		t.Errorf("subscribe: status %d", code)
	}
	hc.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}

	// The shutdown flushed the conversion: no FlushAndWait, and well within the flush interval.
	var tracked bool
	for _, e := range srv.Events() {
		for _, m := range e.Metrics {
			tracked = tracked || (e.User.KeyID == "dave" && m.EventName == metricSubscription)
		}
	}
	if !tracked {
		t.Errorf("the conversion did not reach FeatBit before run returned; events: %+v", srv.Events())
	}
	if strings.Contains(out.String(), srv.Secret()) {
		t.Errorf("the output shows the env secret:\n%s", out)
	}
}

func TestRunErrors(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	noEnv := func(string) string { return "" }

	if err := run(ctx, []string{"-addr", "127.0.0.1:0"}, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), "FEATBIT_ENV_SECRET") {
		t.Errorf("no configuration: %v", err)
	}
	if err := run(ctx, []string{"-no-such-flag"}, noEnv, io.Discard); err == nil {
		t.Error("unknown command-line flag: no error")
	}

	// A secret FeatBit rejects stops the service at start-up, without showing the secret.
	srv := fbtest.NewTestServer(t)
	wrong := fbtest.NewTestServer(t).Secret()
	env := map[string]string{"FEATBIT_ENV_SECRET": wrong, "FEATBIT_STREAMING_URL": srv.StreamingURL()}
	var out bytes.Buffer
	err := run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &out)
	if !errors.Is(err, fbclient.ErrInitializationFailed) {
		t.Errorf("rejected secret: %v", err)
	}
	if strings.Contains(out.String(), wrong) || (err != nil && strings.Contains(err.Error(), wrong)) {
		t.Errorf("the env secret was shown")
	}
}
