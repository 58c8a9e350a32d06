package fbclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/internal/backoff"
	"github.com/featflags/fbclient/internal/token"
)

var polled = opts{mode: SyncPolling}

func TestPollingFullSyncMakesReady(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t, fbtest.WithPathPrefix("/featbit"))
	srv.SetFlags(fbtest.Flag("on").On(true), fbtest.Flag("color").Strings("red", "blue").Fallthrough(1))
	c, _ := start(t, srv, polled)
	require.True(t, c.Initialized())
	assert.Equal(t, StateReady, c.Status().State)
	assert.True(t, c.BoolVariation("on", anyUser, false))
	assert.Equal(t, "blue", c.Variation("color", anyUser, ""))
	reqs := srv.DataSyncRequests()
	require.NotEmpty(t, reqs)
	assert.True(t, reqs[0].Polling)
	assert.Equal(t, int64(0), reqs[0].Timestamp)
	assert.Zero(t, srv.Stats().StreamAttempts, "polling opens no stream")
}

func TestPollingEmptyFullSyncMakesReady(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c, _ := start(t, srv, polled)
	require.True(t, c.Initialized())
	assert.Equal(t, StateReady, c.Status().State)
}

// A poll that finds nothing new (an empty body) is a successful sync; a change is fetched
// as a patch from the version the client holds.
func TestPollingPatchAndEmptyBody(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").On(true), fbtest.Flag("g").On(true))
	c, w := start(t, srv, polled)
	have := c.dataVersion()

	e := w.find(t, "an empty poll", isType(EventNetworkFetchCached))
	assert.Equal(t, Fetch{Mode: SyncPolling, Timestamp: have, Version: have}, *e.Fetch)
	assert.Equal(t, StateReady, c.Status().State)

	n := len(srv.DataSyncRequests())
	srv.SetFlags(fbtest.Flag("f").On(false))
	w.find(t, "the change", changed("f"))
	assert.False(t, c.BoolVariation("f", anyUser, true))
	assert.True(t, c.BoolVariation("g", anyUser, false))
	for _, r := range srv.DataSyncRequests()[n:] {
		// Before the change was fetched the client asked from its first version, after it
		// from the new one.
		assert.Contains(t, []int64{have, c.dataVersion()}, r.Timestamp)
	}
}

func TestPollingUnauthorizedFailsForGood(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	zz := newSleeps(time.Millisecond)
	wrong := token.FormatSecret(uuid.New(), uuid.New())
	c, w := start(t, srv, opts{mode: SyncPolling, secret: wrong, tune: func(st *syncTimings) { st.sleep = zz.sleep }})
	err := c.WaitForInitialization(testCtx(t))
	require.ErrorIs(t, err, ErrInitializationFailed)
	assert.Contains(t, err.Error(), "401")
	assert.Equal(t, StateFailed, c.Status().State)
	require.NoError(t, c.Close())
	assert.Empty(t, zz.all(), "no further poll is scheduled")
	assert.Equal(t, 1, srv.Stats().PollRequests)
	assert.Contains(t, w.logs.String(), "sync stopped for good")
}

// Server errors back off (not the poll interval) until the server recovers.
func TestPollingServerErrorBacksOffThenRecovers(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").On(true))
	srv.RefuseConnections(http.StatusServiceUnavailable)
	zz := newSleeps(time.Hour)
	c, w := start(t, srv, opts{mode: SyncPolling, startWait: -1, tune: func(st *syncTimings) {
		st.betweenPolls = time.Hour // only a backoff can bring the next request
		st.rand = func() float64 { return 0 }
		st.sleep = zz.sleep
	}})
	require.NoError(t, srv.WaitFor(testCtx(t), func() bool { return srv.Stats().PollRequests >= 4 }))
	st := c.Status()
	assert.Equal(t, StateNotReady, st.State)
	assert.ErrorContains(t, st.Err, "HTTP 503")
	srv.RefuseConnections(0)
	require.NoError(t, c.WaitForInitialization(testCtx(t)))
	assert.True(t, c.BoolVariation("f", anyUser, false))
	waits := zz.all()
	require.GreaterOrEqual(t, len(waits), 4)
	assert.Equal(t, []time.Duration{2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond}, waits[:3])
	assert.GreaterOrEqual(t, w.count(isType(EventNetworkFetchError)), 3)
	w.until(t, "the poll interval after the success", func() bool {
		all := zz.all()
		return all[len(all)-1] == time.Hour
	})
}

// Each response status leads to the wait it calls for.
func TestPollingResponses(t *testing.T) {
	const interval = time.Hour
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   time.Duration // the wait chosen after this response (rand 0: backoff 2.5 ms)
		state  State
	}{
		{"success", 200, nil, `{"messageType":"data-sync","data":{"eventType":"full","featureFlags":[],"segments":[]}}`, interval, StateReady},
		{"malformed body", 200, nil, `<html>login</html>`, interval, StateNotReady},
		{"not found", 404, nil, "", interval, StateNotReady},
		{"bad request", 400, nil, "", interval, StateNotReady},
		{"server error", 500, nil, "", 2500 * time.Microsecond, StateNotReady},
		{"bad gateway", 502, nil, "", 2500 * time.Microsecond, StateNotReady},
		{"rate limited", 429, map[string]string{"Retry-After": "7"}, "", 7 * time.Second, StateNotReady},
		{"rate limited until a date", 429, map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, "", 30 * time.Second, StateNotReady},
		{"unavailable for too long", 503, map[string]string{"Retry-After": "86400"}, "", backoff.MaxRetryAfter, StateNotReady},
		{"negative Retry-After", 503, map[string]string{"Retry-After": "-9223372037"}, "", 2500 * time.Microsecond, StateNotReady},
		{"huge Retry-After", 503, map[string]string{"Retry-After": "99999999999"}, "", backoff.MaxRetryAfter, StateNotReady},
		{"forbidden", 403, nil, "", 0, StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			var hits atomic.Int32
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer hs.Close()
			zz := newSleeps(0)
			secret := token.FormatSecret(uuid.New(), uuid.New())
			c, _ := startURL(t, "ws"+strings.TrimPrefix(hs.URL, "http"), hs.URL, secret, opts{mode: SyncPolling, startWait: -1, tune: func(st *syncTimings) {
				st.betweenPolls = interval
				st.rand = func() float64 { return 0 }
				st.now = func() time.Time { return now }
				st.sleep = zz.sleep
			}})
			if tc.state == StateFailed {
				require.ErrorIs(t, c.WaitForInitialization(testCtx(t)), ErrInitializationFailed)
			} else {
				select {
				case d := <-zz.entered:
					assert.Equal(t, tc.want, d)
				case <-testCtx(t).Done():
					t.Fatal("no wait was chosen")
				}
			}
			require.NoError(t, c.Close())
			assert.Equal(t, int32(1), hits.Load())
			assert.Equal(t, tc.state == StateReady, c.Initialized())
			if tc.state == StateFailed {
				assert.Empty(t, zz.all())
			}
		})
	}
}

// Requests carry the raw secret in Authorization and the client's User-Agent, and never
// overlap, even when one outlasts the poll interval.
func TestPollingRequests(t *testing.T) {
	parallel(t) // waits out a request timeout
	checkLeaks(t)
	var mu sync.Mutex
	var headers []http.Header
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		headers = append(headers, r.Header.Clone())
		first := len(headers) == 1
		mu.Unlock()
		if first {
			<-r.Context().Done() // hang until the client gives up
			return
		}
		_, _ = w.Write([]byte(`{"messageType":"data-sync","data":{"eventType":"full","featureFlags":[],"segments":[]}}`))
	}))
	defer hs.Close()
	rt := &countingTransport{next: http.DefaultTransport}
	secret := token.FormatSecret(uuid.New(), uuid.New())
	c, w := startURL(t, "ws"+strings.TrimPrefix(hs.URL, "http"), hs.URL, secret, opts{mode: SyncPolling, startWait: -1,
		tune: func(st *syncTimings) { st.betweenPolls = time.Millisecond },
		cfg:  func(cfg *Config) { cfg.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond, Transport: rt} }})
	w.until(t, "twenty polls", func() bool { return w.count(isType(EventNetworkFetchFull)) >= 20 })
	require.NoError(t, c.Close())
	assert.Equal(t, int32(1), rt.most.Load(), "never two requests at once")
	assert.GreaterOrEqual(t, w.count(isType(EventNetworkFetchError)), 1, "the hung request timed out")
	mu.Lock()
	defer mu.Unlock()
	for _, h := range headers {
		assert.Equal(t, secret, h.Get("Authorization"))
		assert.Equal(t, userAgent, h.Get("User-Agent"))
	}
}

// countingTransport records the most requests in flight at once, from the start of a round
// trip until its response body is closed.
type countingTransport struct {
	next           http.RoundTripper
	inFlight, most atomic.Int32
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	n := ct.inFlight.Add(1)
	for m := ct.most.Load(); n > m && !ct.most.CompareAndSwap(m, n); m = ct.most.Load() {
	}
	resp, err := ct.next.RoundTrip(r)
	if err != nil {
		ct.inFlight.Add(-1)
		return nil, err
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, done: func() { ct.inFlight.Add(-1) }}
	return resp, nil
}

type countedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *countedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// Close interrupts a backoff wait and a request in flight.
func TestPollingCloseIsPrompt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*fbtest.Server)
	}{
		{"during a backoff wait", func(s *fbtest.Server) { s.RefuseConnections(http.StatusServiceUnavailable) }},
		{"during a request", (*fbtest.Server).HoldDataSync},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			srv := fbtest.NewTestServer(t)
			tc.setup(srv)
			c, _ := start(t, srv, opts{mode: SyncPolling, startWait: -1, tune: func(st *syncTimings) {
				st.backoffFirst, st.backoffMax = time.Hour, time.Hour
				st.pollTimeout = time.Hour
			}})
			require.NoError(t, srv.WaitFor(testCtx(t), func() bool { return srv.Stats().PollRequests >= 1 }))
			closeWithin(t, c, 5*time.Second, "Close did not interrupt the poller")
		})
	}
}

func TestPollingNeverLeaksSecret(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").On(true))
	c, w := start(t, srv, polled)
	require.True(t, c.Initialized())
	srv.RefuseConnections(http.StatusInternalServerError)
	w.find(t, "a server error", isType(EventNetworkFetchError))
	srv.RefuseConnections(0)
	w.until(t, "recovery", func() bool { return c.Status().State == StateReady })

	dead := fbtest.NewServer()
	deadURL, deadSecret := dead.URL(), dead.Secret()
	dead.Close()
	_, w2 := startURL(t, "ws://"+strings.TrimPrefix(deadURL, "http://"), deadURL, deadSecret, opts{mode: SyncPolling, startWait: -1})
	w2.find(t, "a refused connection", isType(EventNetworkFetchError))

	wrong := token.FormatSecret(uuid.New(), uuid.New())
	c3, w3 := start(t, srv, opts{mode: SyncPolling, secret: wrong, startWait: -1})
	require.ErrorIs(t, c3.WaitForInitialization(testCtx(t)), ErrInitializationFailed)

	require.NoError(t, c3.Close()) // the failure is logged by the time the poller has stopped
	assert.Contains(t, w3.logs.String(), "401")

	assertNoSecret(t, w.text(), srv.Secret())
	assertNoSecret(t, w2.text(), deadSecret)
	assertNoSecret(t, w3.text(), wrong)
}
