package fbclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/internal/token"
	"github.com/featflags/fbclient/internal/wire"
)

// fast shortens every timing so that faults are noticed and retried within milliseconds,
// while staying far from what a loaded machine running -race could trip over by accident.
func fast(t *syncTimings) {
	t.pingInterval = 50 * time.Millisecond
	t.deadAfter = time.Second
	t.syncTimeout = 5 * time.Second
	t.betweenPolls = 20 * time.Millisecond
	t.backoffFirst = 5 * time.Millisecond
	t.backoffMax = 50 * time.Millisecond
}

// sleeps records the waits a synchronizer chooses and shortens them to at most max; with
// max 0 every wait lasts until the synchronizer stops.
type sleeps struct {
	max     time.Duration
	mu      sync.Mutex
	waits   []time.Duration
	entered chan time.Duration
}

func newSleeps(max time.Duration) *sleeps {
	return &sleeps{max: max, entered: make(chan time.Duration, 1000)}
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) bool {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	select {
	case s.entered <- d:
	default:
	}
	if s.max == 0 {
		<-ctx.Done()
		return false
	}
	return sleep(ctx, min(d, s.max))
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

// watch records everything a client reports: its log output and every event but
// evaluations.
type watch struct {
	*collector
	logs syncBuffer
}

// text is everything the client said, for the secret check.
func (w *watch) text() string {
	var b strings.Builder
	b.WriteString(w.logs.String())
	for _, e := range w.snapshot() {
		fmt.Fprintf(&b, "%s|%s|", e.Type, e.Message)
		if e.Err != nil {
			b.WriteString(e.Err.Error())
			for err := errors.Unwrap(e.Err); err != nil; err = errors.Unwrap(err) {
				b.WriteString("|" + err.Error())
			}
		}
		if e.Log != nil {
			for _, a := range e.Log.Attrs {
				fmt.Fprintf(&b, "|%s=%v", a.Key, a.Value)
			}
		}
		if e.Fetch != nil {
			fmt.Fprintf(&b, "|%+v", *e.Fetch)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// find returns the first event matching ok, waiting for it.
func (w *watch) find(t testing.TB, what string, ok func(Event) bool) Event {
	t.Helper()
	var found Event
	w.until(t, what, func() bool {
		for _, e := range w.snapshot() {
			if ok(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// count returns the number of events matching ok.
func (w *watch) count(ok func(Event) bool) int {
	n := 0
	for _, e := range w.snapshot() {
		if ok(e) {
			n++
		}
	}
	return n
}

// until waits for cond, checking it on every event and at least every 5 ms, and fails the
// test after a generous deadline.
func (w *watch) until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-w.signal:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("waited too long for %s", what)
		}
	}
}

func isType(typ EventType) func(Event) bool { return func(e Event) bool { return e.Type == typ } }

func changed(key string) func(Event) bool {
	return func(e Event) bool { return e.Type == EventFlagChanged && slices.Contains(e.FlagKeys, key) }
}

// opts adjusts a test client.
type opts struct {
	mode      SyncMode
	secret    string        // default: the server's
	startWait time.Duration // default 10 s; -1: do not wait
	tune      func(*syncTimings)
	cfg       func(*Config)
}

// start creates a client for srv, closed when the test ends, with fast timings. Everything
// it logs or reports is recorded, and checked for the secret and the token when the test
// ends. The test must have called checkLeaks.
func start(t *testing.T, srv *fbtest.Server, o opts) (*Client, *watch) {
	t.Helper()
	return startURL(t, srv.StreamingURL(), srv.URL(), srv.Secret(), o)
}

func startURL(t *testing.T, streamingURL, httpURL, secret string, o opts) (*Client, *watch) {
	t.Helper()
	if o.secret != "" {
		secret = o.secret
	}
	w := &watch{collector: newCollector()}
	cfg := Config{
		EnvSecret:     secret,
		StreamingURL:  streamingURL,
		PollingURL:    httpURL,
		EventsURL:     httpURL,
		SyncMode:      o.mode,
		StartWait:     10 * time.Second,
		DisableEvents: true,
		Logger:        slog.New(slog.NewTextHandler(&w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if o.startWait != 0 {
		cfg.StartWait = o.startWait
	}
	var types []EventType
	for _, typ := range EventTypes() {
		if typ != EventEvaluation {
			types = append(types, typ)
		}
	}
	cfg.Listeners = []Listener{{Events: types, Func: w.add}}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	c, err := newClient(cfg, func(st *syncTimings) {
		fast(st)
		if o.tune != nil {
			o.tune(st)
		}
	}, quickEvents)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, c.Close())
		assertNoSecret(t, w.text(), secret)
	})
	return c, w
}

// assertNoSecret checks that text holds neither the secret, nor any 10-character piece of
// it (the token carries the secret in two pieces), nor a token query parameter.
func assertNoSecret(t testing.TB, text, secret string) {
	t.Helper()
	require.NotEmpty(t, secret)
	for i := 0; i+10 <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+10]) {
			t.Fatalf("client output contains a piece of the secret (%q at %d)", secret[i:i+10], i)
		}
	}
	assert.NotContains(t, text, "token=")
}

var anyUser = NewUser("u")

func TestStreamingFullSyncMakesReady(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t, fbtest.WithPathPrefix("/featbit"))
	srv.SetFlags(fbtest.Flag("on").On(true), fbtest.Flag("color").Strings("red", "blue").Fallthrough(1))
	c, _ := start(t, srv, opts{})

	require.True(t, c.Initialized(), "New waits for the first data set")
	assert.Equal(t, StateReady, c.Status().State)
	assert.True(t, c.BoolVariation("on", anyUser, false))
	assert.Equal(t, "blue", c.Variation("color", anyUser, ""))
	reqs := srv.DataSyncRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, int64(0), reqs[0].Timestamp, "the first request asks for everything")
	assert.False(t, reqs[0].Polling)

	require.NoError(t, c.Close())
	require.NoError(t, srv.WaitConnections(testCtx(t), 0), "Close closes the connection")
	assert.True(t, c.BoolVariation("on", anyUser, false), "data stays after Close")
}

func TestStreamingEmptyFullSyncMakesReady(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c, _ := start(t, srv, opts{})
	require.True(t, c.Initialized())
	assert.Equal(t, StateReady, c.Status().State)
	assert.Equal(t, ReasonFlagNotFound, c.VariationDetail("any", anyUser, "").Reason)
}

// A connection, and even pushes, do not make the client ready: only the full data set does,
// and a push that came first is kept on top of it.
func TestStreamingHandshakeAloneIsNotReady(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("old").On(true))
	srv.HoldDataSync()
	c, w := start(t, srv, opts{startWait: -1})
	_, err := srv.WaitDataSyncRequests(testCtx(t), 1)
	require.NoError(t, err)
	srv.SetFlags(fbtest.Flag("early").On(true)) // pushed before the full reply
	// Messages are handled in order: once the warning about the next one is out, the push
	// has been handled.
	srv.SendRaw([]byte(`{"messageType":"fence","data":{}}`))
	w.find(t, "the message after the early push", isType(EventLogWarning))
	assert.False(t, c.Initialized())
	assert.Equal(t, StateNotReady, c.Status().State)
	assert.Equal(t, ReasonClientNotReady, c.VariationDetail("early", anyUser, "").Reason)

	srv.ReleaseDataSync()
	require.NoError(t, c.WaitForInitialization(testCtx(t)))
	assert.True(t, c.BoolVariation("early", anyUser, false))
	assert.True(t, c.BoolVariation("old", anyUser, false))
	w.find(t, "the ready event", isType(EventClientReady))
	var got []EventType
	for _, e := range w.snapshot() {
		if slices.Contains(syncEvents, e.Type) {
			got = append(got, e.Type)
		}
	}
	assert.Equal(t, []EventType{EventNetworkFetch, EventNetworkFetchFull, EventStatusChanged, EventClientReady}, got,
		"the early push was kept, not reported as applied")
}

func TestStreamingPushIsVisible(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").On(true), fbtest.Flag("seg-flag").Rule("in", 0, fbtest.InSegment("s")).Fallthrough(1))
	srv.SetSegments(fbtest.Segment("s").Included("someone-else"))
	c, w := start(t, srv, opts{})
	require.True(t, c.BoolVariation("f", anyUser, false))
	require.False(t, c.BoolVariation("seg-flag", anyUser, true))

	srv.SetFlags(fbtest.Flag("f").On(false))
	w.find(t, "the flag change", changed("f"))
	assert.False(t, c.BoolVariation("f", anyUser, true))

	srv.SetSegments(fbtest.Segment("s").Included("u"))
	w.find(t, "the segment change", changed("seg-flag"))
	assert.True(t, c.BoolVariation("seg-flag", anyUser, false))

	srv.ArchiveFlag("f")
	w.find(t, "the archived flag", func(e Event) bool {
		return changed("f")(e) && c.VariationDetail("f", anyUser, "").Reason == ReasonFlagArchived
	})
	assert.Equal(t, 1, srv.Stats().StreamsAccepted, "one connection did it all")
}

// After each fault the client reconnects by itself, asks for the changes since the data it
// holds, and catches up with what changed while it was away.
func TestStreamingReconnectsAndResyncs(t *testing.T) {
	parallel(t) // a silent connection must be found dead
	for _, tc := range []struct {
		name    string
		fault   func(*fbtest.Server)
		recover func(*testing.T, *fbtest.Server)
	}{
		{name: "dropped connection", fault: (*fbtest.Server).DropConnections},
		{name: "close 1000", fault: func(s *fbtest.Server) { s.CloseStreams(1000, "bye") }},
		{name: "close 1001", fault: func(s *fbtest.Server) { s.CloseStreams(1001, "going away") }},
		{name: "close 1011", fault: func(s *fbtest.Server) { s.CloseStreams(1011, "service unavailable, close by server") }},
		{
			name: "refused connections",
			fault: func(s *fbtest.Server) {
				s.RefuseConnections(http.StatusServiceUnavailable)
				s.DropConnections()
			},
			recover: func(t *testing.T, s *fbtest.Server) {
				require.NoError(t, s.WaitFor(testCtx(t), func() bool { return s.Stats().StreamsRefused >= 3 }))
				s.RefuseConnections(0)
			},
		},
		{
			name:  "server stops answering pings",
			fault: func(s *fbtest.Server) { s.StopPongs(true) },
			recover: func(t *testing.T, s *fbtest.Server) {
				require.NoError(t, s.WaitFor(testCtx(t), func() bool { return s.Stats().StreamsAccepted >= 2 }))
				s.StopPongs(false)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parallel(t)
			checkLeaks(t)
			srv := fbtest.NewTestServer(t)
			srv.SetFlags(fbtest.Flag("f").On(true), fbtest.Flag("g").On(true))
			c, w := start(t, srv, opts{tune: func(st *syncTimings) { st.deadAfter = 300 * time.Millisecond }})
			require.True(t, c.Initialized())
			have := c.dataVersion()
			require.Equal(t, srv.DataVersion(), have)
			n := len(srv.DataSyncRequests())

			tc.fault(srv)
			fail := w.find(t, "the connection failure", isType(EventNetworkFetchError))
			assert.NotNil(t, fail.Err)
			srv.SetFlags(fbtest.Flag("f").On(false)) // changed while the client may be away
			if tc.recover != nil {
				tc.recover(t, srv)
			}

			reqs, err := srv.WaitDataSyncRequests(testCtx(t), n+1)
			require.NoError(t, err)
			assert.Equal(t, have, reqs[n].Timestamp, "the resync asks for the changes since the data the client had")
			assert.Greater(t, reqs[n].Stream, reqs[n-1].Stream, "on a new connection")
			w.until(t, "the change made while away", func() bool { return !c.BoolVariation("f", anyUser, true) })
			assert.True(t, c.BoolVariation("g", anyUser, false), "the rest of the data stays")
			w.until(t, "ready again", func() bool { return c.Status().State == StateReady })
			assert.Contains(t, w.logs.String(), "streaming connection lost")
		})
	}
}

// While the server is unreachable the client serves its last data, reports stale, and
// backs off between attempts.
func TestStreamingStaleWhileDown(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").On(true))
	zz := newSleeps(5 * time.Millisecond)
	c, w := start(t, srv, opts{tune: func(st *syncTimings) { st.sleep = zz.sleep; st.rand = func() float64 { return 0 } }})
	srv.RefuseConnections(http.StatusBadGateway)
	srv.DropConnections()
	require.NoError(t, srv.WaitFor(testCtx(t), func() bool { return srv.Stats().StreamsRefused >= 4 }))
	st := c.Status()
	assert.Equal(t, StateStale, st.State)
	assert.ErrorContains(t, st.Err, "HTTP 502")
	assert.True(t, c.BoolVariation("f", anyUser, false), "last good data is served")
	waits := zz.all()
	require.GreaterOrEqual(t, len(waits), 4)
	assert.Equal(t, []time.Duration{2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}, waits[:4], "exponential backoff")
	assert.GreaterOrEqual(t, w.count(isType(EventNetworkFetchError)), 4)
	srv.RefuseConnections(0)
	w.until(t, "ready again", func() bool { return c.Status().State == StateReady })
}

// Listeners hear every change of state, in order with the sync events that caused it: ready
// with the first data set, stale when the connection drops, ready again when data arrives
// after the reconnect, closed by Close. Failures while stale change nothing more.
func TestStreamingStatusEvents(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").On(true))
	c, w := start(t, srv, opts{})
	srv.RefuseConnections(http.StatusServiceUnavailable)
	srv.DropConnections()
	require.NoError(t, srv.WaitFor(testCtx(t), func() bool { return srv.Stats().StreamsRefused >= 2 }))
	srv.RefuseConnections(0)
	w.until(t, "ready again", func() bool { return c.Status().State == StateReady })
	require.NoError(t, c.Close())

	var evs []Event
	for _, e := range w.snapshot() {
		if slices.Contains(syncEvents, e.Type) {
			evs = append(evs, e)
		}
	}
	got := slices.Compact(describe(evs)) // however many attempts were refused
	assert.Equal(t, []string{
		"network fetch: streaming",
		"network fetch full: streaming",
		"status changed: not ready -> ready",
		"client ready",
		"network fetch error: streaming", // the drop
		"status changed: ready -> stale",
		"network fetch error: streaming", // the refused attempts
		"network fetch: streaming",
		"network fetch cached: streaming", // nothing changed meanwhile
		"status changed: stale -> ready",
		"status changed: ready -> closed",
	}, got)
	for i, e := range evs {
		if e.Type == EventStatusChanged && e.StatusChange.Status.State == StateStale {
			require.Error(t, e.Err)
			assert.Equal(t, evs[i-1].Err, e.Err, "the status carries the failure that caused it")
			assert.Equal(t, e.Err, e.StatusChange.Status.Err)
		}
	}
}

// After a connection that delivered data and stayed up a while, the first reconnect comes
// within a second, whatever happened before; a server that drops each connection soon after
// it starts gets ever fewer attempts; no wait exceeds 30 s. The client's clock is the test's.
func TestStreamingReconnectBackoff(t *testing.T) {
	checkLeaks(t)
	var ahead atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	srv := fbtest.NewTestServer(t, fbtest.WithClock(now)) // the tokens are built on the same clock
	srv.SetFlags(fbtest.Flag("f").On(true))
	zz := newSleeps(time.Millisecond)
	c, w := start(t, srv, opts{tune: func(st *syncTimings) {
		st.backoffFirst, st.backoffMax, st.backoffReset = 0, 0, 0 // the defaults
		st.rand = func() float64 { return 0.9999 }                // the longest draw
		st.now = now
		st.sleep = zz.sleep
	}})
	nextWait := func() time.Duration {
		t.Helper()
		select {
		case d := <-zz.entered:
			return d
		case <-testCtx(t).Done():
			t.Fatal("the client did not back off")
			return 0
		}
	}
	ready := func() { w.until(t, "ready", func() bool { return c.Status().State == StateReady }) }

	// A long outage: the waits grow up to the cap.
	srv.RefuseConnections(http.StatusServiceUnavailable)
	srv.DropConnections()
	var waits []time.Duration
	for range 8 {
		waits = append(waits, nextWait())
	}
	assert.LessOrEqual(t, waits[0], time.Second)
	assert.IsNonDecreasing(t, waits)
	assert.Greater(t, waits[7], 15*time.Second, "the waits reach the cap")
	assert.LessOrEqual(t, waits[7], 30*time.Second)

	// The server is back; the connection delivers data and stays up 10 s, then drops.
	srv.RefuseConnections(0)
	ready()
	ahead.Add(int64(10 * time.Second))
	srv.DropConnections()
	assert.LessOrEqual(t, nextWait(), time.Second, "quick after a healthy connection")

	// Now every connection drops right after its data-sync: the waits grow again.
	ready()
	var flapping []time.Duration
	for range 3 {
		srv.DropConnections()
		flapping = append(flapping, nextWait())
		ready()
	}
	assert.Greater(t, flapping[0], time.Second)
	assert.IsIncreasing(t, flapping)
}

// 4003 means the credentials were rejected: no reconnect, a permanent failure.
func TestStreamingRejectedCredentials(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	env, err := uuid.Parse(srv.EnvID())
	require.NoError(t, err)
	wrong := token.FormatSecret(uuid.New(), env) // valid shape, right environment, unknown key
	zz := newSleeps(time.Millisecond)
	c, w := start(t, srv, opts{secret: wrong, tune: func(st *syncTimings) { st.sleep = zz.sleep }})

	err = c.WaitForInitialization(testCtx(t))
	require.ErrorIs(t, err, ErrInitializationFailed)
	assert.Contains(t, err.Error(), "4003")
	assert.Contains(t, err.Error(), "clock")
	st := c.Status()
	assert.Equal(t, StateFailed, st.State)
	assert.ErrorIs(t, st.Err, ErrInitializationFailed)
	assert.False(t, c.Initialized())
	change := w.find(t, "the status change", isType(EventStatusChanged)).StatusChange
	assert.Equal(t, StateNotReady, change.Previous, "straight to failed")
	assert.Equal(t, StateFailed, change.Status.State)
	assert.ErrorIs(t, change.Status.Err, ErrInitializationFailed)
	assert.Contains(t, w.logs.String(), "sync stopped for good")

	require.NoError(t, c.Close()) // waits for the synchronizer to stop
	assert.Empty(t, zz.all(), "no backoff, no reconnect")
	s := srv.Stats()
	assert.Equal(t, 1, s.StreamAttempts)
	assert.Equal(t, 1, s.StreamsRejected)
	assertNoSecret(t, err.Error(), wrong)
}

// Bad messages are logged and skipped; the connection and the data stay, and later messages
// still apply.
func TestStreamingMalformedMessages(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").On(true))
	c, w := start(t, srv, opts{})
	before := c.store.load()

	bad := []string{
		`not json`,
		`{"messageType":"data-sync","data":{"eventType":"full","featureFlags":[{"key":`,
		`{"messageType":"data-sync","data":{"eventType":"sideways","featureFlags":[],"segments":[]}}`,
		`{"messageType":"data-sync","data":{"eventType":"full","featureFlags":{},"segments":[]}}`,
		`{"messageType":"data-sync"}`,
		`{"data":{}}`,
		`{"messageType":"surprise","data":{}}`,
		`[]`,
	}
	for _, m := range bad {
		srv.SendRaw([]byte(m))
	}
	w.until(t, "a warning per bad message", func() bool { return w.count(isType(EventLogWarning)) >= len(bad) })
	assert.Same(t, before, c.store.load(), "the data did not change")
	assert.Zero(t, w.count(isType(EventFlagChanged)))

	srv.SetFlags(fbtest.Flag("f").On(false))
	w.find(t, "the next push", changed("f"))
	assert.False(t, c.BoolVariation("f", anyUser, true))
	assert.Equal(t, 1, srv.Stats().StreamsAccepted, "the connection stayed")
	assert.Equal(t, StateReady, c.Status().State)
	assert.Contains(t, w.logs.String(), "skipped a malformed streaming message")
}

// One stale item in a patch is ignored; the other items of the same patch are applied.
func TestStreamingPatchWithStaleItem(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	va := srv.SetFlags(fbtest.Flag("a").On(true))
	vb := srv.SetFlags(fbtest.Flag("b").On(true))
	c, w := start(t, srv, opts{})

	msg, err := json.Marshal(wire.Message{MessageType: wire.MessageDataSync, Data: mustJSON(t, wire.DataSync{
		EventType:    wire.EventPatch,
		FeatureFlags: []wire.Flag{boolFlag("b", false, vb+10), boolFlag("a", false, va-1), boolFlag("c", true, vb+10)},
		Segments:     []wire.Segment{},
	})})
	require.NoError(t, err)
	srv.SendRaw(msg)
	e := w.find(t, "the patch", isType(EventFlagChanged))
	assert.Equal(t, []string{"b", "c"}, e.FlagKeys)
	assert.True(t, c.BoolVariation("a", anyUser, false), "the stale item is ignored")
	assert.False(t, c.BoolVariation("b", anyUser, true), "a newer item of the same patch is applied")
	assert.True(t, c.BoolVariation("c", anyUser, false), "so is a new one")
	assert.Equal(t, vb+10, c.dataVersion())
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// replyTimers replaces the data-sync reply timer: each timer the client starts is handed to
// the test, which fires it when it wants.
type replyTimers chan chan time.Time

func (r replyTimers) after(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	r <- ch
	return ch
}

// next returns the next timer the client starts.
func (r replyTimers) next(t *testing.T) chan time.Time {
	t.Helper()
	select {
	case ch := <-r:
		return ch
	case <-testCtx(t).Done():
		t.Fatal("the client started no data-sync reply timer")
		return nil
	}
}

// A data-sync request that gets no reply ends the connection; the next one gets its answer.
func TestStreamingDataSyncTimeout(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").On(true))
	srv.HoldDataSync()
	timers := make(replyTimers, 10)
	c, w := start(t, srv, opts{startWait: -1, tune: func(st *syncTimings) { st.after = timers.after }})
	timers.next(t) <- time.Now()
	e := w.find(t, "the timeout", isType(EventNetworkFetchError))
	assert.ErrorContains(t, e.Err, "no reply to the data-sync request")
	assert.False(t, c.Initialized())
	timers.next(t) // the next connection asked again
	srv.ReleaseDataSync()
	require.NoError(t, c.WaitForInitialization(testCtx(t)))
	assert.Equal(t, 2, srv.Stats().StreamsAccepted)
	for _, r := range srv.DataSyncRequests() {
		assert.Equal(t, int64(0), r.Timestamp, "still asking for everything")
	}
}

// readCounter is a client connection that reports when the client has read past a mark.
type readCounter struct {
	net.Conn
	read    atomic.Int64
	mark    int64
	reached chan struct{}
	once    sync.Once
}

func (rc *readCounter) Read(b []byte) (int, error) {
	n, err := rc.Conn.Read(b)
	if rc.read.Add(int64(n)) >= rc.mark {
		rc.once.Do(func() { close(rc.reached) })
	}
	return n, err
}

// A large data set that arrives slowly is not taken for a missing reply or a silent server:
// the data-sync reply timer that fires while the message is arriving is started again, and
// the client becomes ready once it has all of it.
func TestStreamingSlowLargeMessage(t *testing.T) {
	checkLeaks(t)
	flags := make([]wire.Flag, 300)
	for i := range flags {
		flags[i] = boolFlag(fmt.Sprintf("flag-%03d", i), true, 1)
	}
	msg, err := json.Marshal(map[string]any{"messageType": "data-sync", "data": full(flags)})
	require.NoError(t, err)
	half := len(msg) / 2
	// Far beyond what the client's WebSocket reader buffers (4 KiB): a client that has read
	// this much is reading the message, not waiting for one.
	require.Greater(t, half, 8*(4<<10))

	resume, done := make(chan struct{}), make(chan struct{})
	up := websocket.Upgrader{WriteBufferSize: 1024}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		if _, _, err := conn.ReadMessage(); err != nil { // the data-sync request
			return
		}
		wr, err := conn.NextWriter(websocket.TextMessage)
		if err != nil {
			return
		}
		if _, err := wr.Write(msg[:half]); err != nil { // sent in 1 KiB frames
			return
		}
		select { // the slow link: the rest comes when the test says so
		case <-resume:
		case <-done:
			return
		}
		if _, err := wr.Write(msg[half:]); err != nil || wr.Close() != nil {
			return
		}
		<-done
	}))
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(done) })

	rc := &readCounter{mark: int64(half), reached: make(chan struct{})}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		rc.Conn = conn
		return rc, nil
	}}
	t.Cleanup(tr.CloseIdleConnections)
	timers := make(replyTimers, 10)
	wsURL := "ws" + strings.TrimPrefix(hs.URL, "http")
	c, w := startURL(t, wsURL, hs.URL, testSecret, opts{startWait: -1,
		cfg: func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: tr} },
		tune: func(st *syncTimings) {
			st.after = timers.after
			st.pingInterval, st.deadAfter = time.Hour, time.Hour
			st.backoffFirst, st.backoffMax = time.Hour, time.Hour // a failed attempt fails the test
		}})
	first := timers.next(t)
	select {
	case <-rc.reached:
	case <-testCtx(t).Done():
		t.Fatal("the client did not read the first half of the message")
	}
	first <- time.Now() // the reply timeout passes while the message is arriving
	timers.next(t)      // and the client waits again
	close(resume)
	require.NoError(t, c.WaitForInitialization(testCtx(t)))
	assert.Equal(t, len(flags), c.AllVariations(anyUser).Len())
	assert.Zero(t, w.count(isType(EventNetworkFetchError)))
}

// A server that accepts the connection and never answers the upgrade does not hold up Close.
func TestStreamingCloseDuringHungUpgrade(t *testing.T) {
	checkLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	c, _ := startURL(t, "ws://"+ln.Addr().String(), "http://"+ln.Addr().String(), testSecret, opts{startWait: -1,
		tune: func(st *syncTimings) { st.handshakeTimeout = time.Hour }})
	conn := <-accepted
	t.Cleanup(func() { conn.Close() })
	_, err = conn.Read(make([]byte, 1)) // the upgrade request has come
	require.NoError(t, err)
	closeWithin(t, c, 3*time.Second, "Close waited for the upgrade answer")
}

// Close interrupts a backoff wait at once.
func TestStreamingCloseDuringBackoff(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.RefuseConnections(http.StatusServiceUnavailable)
	zz := newSleeps(time.Hour)
	c, _ := start(t, srv, opts{startWait: -1, tune: func(st *syncTimings) {
		st.backoffFirst, st.backoffMax = time.Hour, time.Hour
		st.sleep = zz.sleep
	}})
	select {
	case d := <-zz.entered:
		assert.GreaterOrEqual(t, d, 30*time.Minute)
	case <-testCtx(t).Done():
		t.Fatal("the client never backed off")
	}
	closeWithin(t, c, 5*time.Second, "Close waited for the backoff")
}

// The upgrade request: endpoint path under the base URL's prefix, query, fresh token,
// User-Agent.
func TestStreamingRequest(t *testing.T) {
	checkLeaks(t)
	type seen struct {
		path  string
		query map[string][]string
		ua    string
	}
	reqs := make(chan seen, 100)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs <- seen{r.URL.Path, r.URL.Query(), r.Header.Get("User-Agent")}
		w.Header().Set("Retry-After", "0")
		http.Error(w, "no", http.StatusTooManyRequests)
	}))
	defer hs.Close()
	secret := token.FormatSecret(uuid.New(), uuid.New())
	base := "ws" + strings.TrimPrefix(hs.URL, "http") + "/featbit/"
	c, _ := startURL(t, base, hs.URL, secret, opts{startWait: -1})
	var tokens []string
	for range 2 {
		r := <-reqs
		assert.Equal(t, "/featbit/streaming", r.path)
		assert.Equal(t, []string{"server"}, r.query["type"])
		assert.Equal(t, []string{"2"}, r.query["version"])
		assert.Equal(t, userAgent, r.ua)
		require.Len(t, r.query["token"], 1)
		tok := r.query["token"][0]
		got, ts, err := token.Parse(tok)
		require.NoError(t, err)
		assert.Equal(t, secret, got)
		assert.InDelta(t, time.Now().UnixMilli(), ts, float64(time.Minute.Milliseconds()))
		tokens = append(tokens, tok)
	}
	assert.NotEqual(t, tokens[0], tokens[1], "a fresh token for every attempt")
	require.NoError(t, c.Close())
}

// Nothing the client logs or reports, through every kind of failure, contains the secret,
// a piece of it, or the token.
func TestStreamingNeverLeaksSecret(t *testing.T) {
	parallel(t) // waits for a silent connection to be found dead
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").On(true))
	zz := newSleeps(time.Millisecond) // not the second the refused upgrade's Retry-After asks
	c, w := start(t, srv, opts{tune: func(st *syncTimings) { st.deadAfter = 200 * time.Millisecond; st.sleep = zz.sleep }})

	next := func(what string, fault func()) {
		t.Helper()
		n := w.count(isType(EventNetworkFetchError))
		fault()
		w.until(t, what, func() bool { return w.count(isType(EventNetworkFetchError)) > n })
		w.until(t, "recovery after "+what, func() bool { return c.Status().State == StateReady })
	}
	next("a dropped connection", srv.DropConnections)
	next("close 1011", func() { srv.CloseStreams(1011, "service unavailable, close by server") })
	next("a refused upgrade", func() {
		srv.RefuseConnections(http.StatusTooManyRequests)
		srv.DropConnections()
		require.NoError(t, srv.WaitFor(testCtx(t), func() bool { return srv.Stats().StreamsRefused >= 1 }))
		srv.RefuseConnections(0)
	})
	next("a silent server", func() {
		a := srv.Stats().StreamsAccepted
		srv.StopPongs(true)
		require.NoError(t, srv.WaitFor(testCtx(t), func() bool { return srv.Stats().StreamsAccepted > a }))
		srv.StopPongs(false)
	})
	srv.SendRaw([]byte(`{"messageType":"data-sync","data":{"eventType":"full","featureFlags":[{"key":`))

	// A server that is gone, and a proxy that is not there.
	dead := fbtest.NewServer()
	deadURL, deadSecret := dead.StreamingURL(), dead.Secret()
	dead.Close()
	_, w2 := startURL(t, deadURL, "http://127.0.0.1:1", deadSecret, opts{startWait: -1})
	w2.find(t, "a refused TCP connection", isType(EventNetworkFetchError))
	_, w3 := startURL(t, srv.StreamingURL()+"/via-proxy", srv.URL(), srv.Secret(), opts{startWait: -1, cfg: func(cfg *Config) {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) {
			return url.Parse("http://127.0.0.1:1")
		}}}
	}})
	w3.find(t, "a failing proxy", isType(EventNetworkFetchError))

	// Rejected credentials.
	wrong := token.FormatSecret(uuid.New(), uuid.New())
	c4, w4 := start(t, srv, opts{secret: wrong, startWait: -1})
	require.ErrorIs(t, c4.WaitForInitialization(testCtx(t)), ErrInitializationFailed)

	for _, x := range []struct {
		w      *watch
		secret string
		want   string
	}{{w, srv.Secret(), "network fetch error"}, {w2, deadSecret, "network fetch error"}, {w3, srv.Secret(), "network fetch error"}, {w4, wrong, "4003"}} {
		text := x.w.text()
		assert.Contains(t, text, x.want, "the failures were recorded")
		assertNoSecret(t, text, x.secret)
	}
}

func TestRedactor(t *testing.T) {
	r := &redactor{secret: "SECRETSECRET", token: "TOKTOK", url: "ws://h/streaming?token=TOKTOK&type=server", safeURL: "ws://h/streaming"}
	for in, want := range map[string]string{
		`dial "ws://h/streaming?token=TOKTOK&type=server": refused`: `dial "ws://h/streaming": refused`,
		`bad TOKTOK here`:                         `bad [token] here`,
		`Authorization SECRETSECRET`:              `Authorization [secret]`,
		`GET /streaming?type=server&token=XYZ123`: `GET /streaming?type=server&`,
		`a token=abc&b=1 and token=def`:           `a &b=1 and `,
	} {
		assert.Equal(t, want, r.redact(in))
	}
	err := r.errorf("fbclient: x", fmt.Errorf("wrapped: %w", context.DeadlineExceeded))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestDataSyncRequestBytes(t *testing.T) {
	assert.Equal(t, `{"messageType":"data-sync","data":{"timestamp":0}}`, string(dataSyncRequest(0)))
	assert.Equal(t, `{"messageType":"data-sync","data":{"timestamp":1674885300000}}`, string(dataSyncRequest(1674885300000)))
}
