package fbclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/internal/wire"
)

const fixture = "testdata/featbit_test_data.json"

// A structurally valid secret (FeatBit's own test value).
const testSecret = "v3faJy3RCUO8d-EJiVdN6waRfGjfNan02Ms9c0LiTD6w"

func TestConfigValidation(t *testing.T) {
	good := Config{EnvSecret: testSecret, StreamingURL: "wss://featbit.example", StartWait: -1}
	cases := []struct {
		name   string
		change func(*Config)
		msg    string
	}{
		{"no secret", func(c *Config) { c.EnvSecret = "" }, "EnvSecret is required"},
		{"blank secret", func(c *Config) { c.EnvSecret = "   " }, "EnvSecret is required"},
		{"non-ASCII secret", func(c *Config) { c.EnvSecret = "sécret" }, "EnvSecret contains"},
		{"no URL", func(c *Config) { c.StreamingURL = "" }, "StreamingURL is required"},
		{"relative URL", func(c *Config) { c.StreamingURL = "featbit.example" }, "StreamingURL must be an absolute"},
		{"ftp URL", func(c *Config) { c.StreamingURL = "ftp://featbit.example" }, "StreamingURL must be"},
		{"no host", func(c *Config) { c.StreamingURL = "ws://" }, "StreamingURL has no host"},
		{"query", func(c *Config) { c.StreamingURL = "ws://h/?token=x" }, "must not have a query"},
		{"ws events URL", func(c *Config) { c.EventsURL = "ws://h" }, "EventsURL must be an http"},
		{"short poll", func(c *Config) { c.PollInterval = time.Second }, "PollInterval"},
		{"negative poll", func(c *Config) { c.PollInterval = -time.Second }, "PollInterval"},
		{"short flush", func(c *Config) { c.FlushInterval = time.Millisecond }, "FlushInterval"},
		{"negative capacity", func(c *Config) { c.EventCapacity = -1 }, "EventCapacity"},
		{"negative batch", func(c *Config) { c.EventBatchSize = -1 }, "EventBatchSize"},
		{"tiny batch bytes", func(c *Config) { c.EventBatchBytes = 10 }, "EventBatchBytes"},
		{"negative close timeout", func(c *Config) { c.CloseTimeout = -1 }, "CloseTimeout"},
		{"sync mode", func(c *Config) { c.SyncMode = 7 }, "SyncMode"},
		{"data file online", func(c *Config) { c.DataFile = "x.json" }, "Offline"},
		{"listener without func", func(c *Config) { c.Listeners = []Listener{{Events: []EventType{EventClientReady}}} }, "Listeners[0]"},
		{"listener without types", func(c *Config) { c.Listeners = []Listener{{Func: func(Event) {}}} }, "Listeners[0]"},
		{"listener bad type", func(c *Config) { c.Listeners = []Listener{{Events: []EventType{99}, Func: func(Event) {}}} }, "unknown event type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			cfg := good
			tc.change(&cfg)
			c, err := New(cfg)
			assert.Nil(t, c)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.msg)
			assert.NotContains(t, err.Error(), testSecret)
		})
	}
}

func TestConfigURLs(t *testing.T) {
	cases := []struct {
		cfg                      Config
		streaming, events, polls string
	}{
		{Config{StreamingURL: "wss://fb.example"}, "wss://fb.example/streaming", "https://fb.example/api/public/insight/track", "https://fb.example/api/public/sdk/server/latest-all"},
		{Config{StreamingURL: "ws://fb.example:5100/prefix/"}, "ws://fb.example:5100/prefix/streaming", "http://fb.example:5100/prefix/api/public/insight/track", "http://fb.example:5100/prefix/api/public/sdk/server/latest-all"},
		{Config{StreamingURL: "https://fb.example", EventsURL: "https://events.example/x/"}, "wss://fb.example/streaming", "https://events.example/x/api/public/insight/track", "https://fb.example/api/public/sdk/server/latest-all"},
		{Config{StreamingURL: "http://fb.example", PollingURL: "http://relay.example"}, "ws://fb.example/streaming", "http://fb.example/api/public/insight/track", "http://relay.example/api/public/sdk/server/latest-all"},
	}
	for _, c := range cases {
		c.cfg.EnvSecret = testSecret
		r, err := c.cfg.resolve()
		require.NoError(t, err)
		assert.Equal(t, c.streaming, r.streamingURL.String())
		assert.Equal(t, c.events, r.eventsURL.String())
		assert.Equal(t, c.polls, r.pollingURL.String())
		assert.Equal(t, DefaultStartWait, r.StartWait)
		assert.Equal(t, DefaultFlushInterval, r.FlushInterval)
		assert.Equal(t, DefaultEventCapacity, r.EventCapacity)
	}
}

func TestOfflineDataFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	cases := []struct {
		name, file string
		msg        []string
	}{
		{"missing", filepath.Join(dir, "nope.json"), []string{"cannot read DataFile", "nope.json"}},
		{"not JSON", write("garbage.json", "{\n  \"featureFlags\": [\n  oops"), []string{"garbage.json", "invalid JSON at line 3"}},
		{"empty", write("empty.json", "   "), []string{"empty.json", "empty document"}},
		{"wrong message", write("pong.json", `{"messageType":"pong","data":{}}`), []string{"pong.json", `messageType is "pong"`}},
		{"no data", write("nodata.json", `{"messageType":"data-sync"}`), []string{"nodata.json", "no \"data\""}},
		{"other object", write("other.json", `{"flags":[]}`), []string{"other.json", "featureFlags"}},
		{"bad event type", write("evt.json", `{"messageType":"data-sync","data":{"eventType":"delta","featureFlags":[],"segments":[]}}`), []string{"evt.json", "eventType"}},
		{"bad item", write("item.json", `{"featureFlags":[{"key":"f","updatedAt":"later"}],"segments":[]}`), []string{"item.json", `flag "f"`, "updatedAt"}},
		{"array", write("array.json", `[]`), []string{"array.json", "not a JSON object"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			// A listener's goroutine does not outlive the failed New (checkLeaks).
			c, err := New(Config{Offline: true, DataFile: tc.file, Listeners: []Listener{{Events: []EventType{EventLogError}, Func: func(Event) {}}}})
			assert.Nil(t, c)
			require.Error(t, err)
			for _, m := range tc.msg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

func TestOfflineShapes(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "bare.json")
	require.NoError(t, os.WriteFile(bare, []byte(`{"featureFlags":[],"segments":[]}`), 0o600))
	c := newOffline(t, bare)
	assert.Equal(t, StateReady, c.Status().State)
	assert.Equal(t, ReasonFlagNotFound, c.VariationDetail("x", NewUser("u"), "d").Reason)

	// No file: an empty, ready data set.
	checkLeaks(t)
	empty, err := New(Config{Offline: true})
	require.NoError(t, err)
	defer empty.Close()
	assert.True(t, empty.Initialized())
	assert.Equal(t, 0, empty.AllVariations(NewUser("u")).Len())
}

func TestNilAndNotReadyClient(t *testing.T) {
	var c *Client
	d := c.VariationDetail("f", NewUser("u"), "d")
	assert.Equal(t, "d", d.Value)
	assert.Equal(t, ReasonClientNotReady, d.Reason)
	assert.ErrorIs(t, d.Err, ErrClientNotReady)
	assert.True(t, c.BoolVariation("f", NewUser("u"), true))
	assert.False(t, c.Initialized())
	assert.Equal(t, StateClosed, c.Status().State)
	assert.NoError(t, c.Close())
	c.On(EventEvaluation, func(Event) {})()
	assert.ErrorIs(t, c.WaitForInitialization(context.Background()), ErrClosed)
	assert.Equal(t, 0, c.AllVariations(NewUser("u")).Len())
	assert.Equal(t, 5, JSONVariation(c, "f", NewUser("u"), 5))
}

func TestAllVariations(t *testing.T) {
	c := newOffline(t, fixture)
	user := NewUser("test-user-1").WithCustom("country", "us")
	all := c.AllVariations(user)
	assert.Equal(t, 7, all.Len())
	var keys []string
	for k, d := range all.All() {
		keys = append(keys, k)
		assert.Equal(t, c.VariationDetail(k, user, "x"), d, k)
	}
	assert.IsIncreasing(t, keys)
	d, ok := all.Get("ff-test-number")
	assert.True(t, ok)
	assert.Equal(t, "1", d.Value)
	_, ok = all.Get("nope")
	assert.False(t, ok)
	assert.Equal(t, "fallback", all.Value("nope", "fallback"))
	assert.Equal(t, "true", all.Value("ff-test-bool", "fallback"))

	b, err := json.Marshal(all)
	require.NoError(t, err)
	var states []map[string]any
	require.NoError(t, json.Unmarshal(b, &states))
	require.Len(t, states, 7)
	assert.Equal(t, map[string]any{"id": "ff-test-bool", "variation": "true", "variationType": "boolean",
		"variationId": "18b369f8-453f-46d7-88cc-fe41d29ca6e3", "sendToExperiment": true, "matchReason": "target match"}, states[1])

	assert.Equal(t, 0, c.AllVariations(NewUser(" ")).Len(), "an invalid user evaluates nothing")
}

// testSource is a DataSource that the test drives: its Run hands the sink to the test and
// waits for Close.
type testSource struct {
	sinks chan DataSink
	done  chan struct{} // closed when Run returns
}

func newTestSource() *testSource {
	return &testSource{sinks: make(chan DataSink, 1), done: make(chan struct{})}
}

func (s *testSource) Run(ctx context.Context, sink DataSink) {
	defer close(s.done)
	s.sinks <- sink
	<-ctx.Done()
}

// newWithSource starts a client fed by a testSource, with events off unless cfg has a
// secret and a URL for them, and returns it with the sink the source got. The client is
// closed when the test ends; the test must have called checkLeaks.
func newWithSource(t testing.TB, cfg Config) (*Client, DataSink) {
	t.Helper()
	src := newTestSource()
	cfg.DataSource = src
	if cfg.EnvSecret == "" {
		cfg.DisableEvents = true
	}
	if cfg.StartWait == 0 {
		cfg.StartWait = -1
	}
	c, err := newClient(cfg, nil, quickEvents)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c, <-src.sinks
}

// dataSet encodes ds and parses it back through the exported API, as a source outside this
// package would.
func dataSet(t testing.TB, ds *wire.DataSync) *DataSet {
	t.Helper()
	b, err := json.Marshal(ds)
	require.NoError(t, err)
	d, err := ParseDataSet(b)
	require.NoError(t, err)
	return d
}

// syncEvents are the event types that report what sync does.
var syncEvents = []EventType{EventClientReady, EventNetworkFetch, EventNetworkFetchFull, EventNetworkFetchCached,
	EventNetworkFetchError, EventFlagChanged, EventStatusChanged}

// describe turns events into lines that show their order and their payload's key facts.
func describe(evs []Event) []string {
	var out []string
	for _, e := range evs {
		s := e.Type.String()
		switch {
		case e.StatusChange != nil:
			s += ": " + e.StatusChange.Previous.String() + " -> " + e.StatusChange.Status.State.String()
		case e.Fetch != nil:
			s += ": " + e.Fetch.Mode.String()
		case e.FlagKeys != nil:
			s += ": " + strings.Join(e.FlagKeys, ",")
		}
		out = append(out, s)
	}
	return out
}

// collector gathers events delivered to a listener.
type collector struct {
	mu     sync.Mutex
	events []Event
	signal chan struct{}
}

func newCollector() *collector { return &collector{signal: make(chan struct{}, 1)} }

func (c *collector) add(e Event) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// wait returns the events once at least n have arrived, failing the test after a generous
// deadline.
func (c *collector) wait(t testing.TB, n int) []Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		if len(c.events) >= n {
			out := append([]Event(nil), c.events...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-deadline:
			t.Fatalf("waited for %d events, got %d", n, len(c.snapshot()))
		}
	}
}

func (c *collector) snapshot() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

func TestEvaluationEvents(t *testing.T) {
	c := newOffline(t, fixture)
	col := newCollector()
	off := c.On(EventEvaluation, col.add)

	u1 := NewUser("test-user-1").WithCustom("country", "us")
	c.BoolVariation("ff-test-bool", u1, false)
	c.Variation("ff-test-number", u1, "")
	c.IntVariation("ff-test-number", u1, 0)
	c.BoolVariation("ff-test-string", u1, false)           // wrong type: no event
	c.Variation("nope", u1, "")                            // not found: no event
	c.Variation("ff-test-bool", NewUser(""), "")           // invalid user: no event
	c.AllVariations(u1)                                    // no events
	JSONVariation(c, "ff-test-json", u1, map[string]any{}) // event
	c.VariationDetail("ff-test-off", u1, "")

	evs := col.wait(t, 5)
	require.Len(t, evs, 5)
	want := []struct{ key, value string }{{"ff-test-bool", "true"}, {"ff-test-number", "1"}, {"ff-test-number", "1"}, {"ff-test-json", ""}, {"ff-test-off", "false"}}
	for i, w := range want {
		e := evs[i]
		assert.Equal(t, EventEvaluation, e.Type)
		require.NotNil(t, e.Evaluation)
		assert.Equal(t, w.key, e.Evaluation.FlagKey)
		assert.Equal(t, "test-user-1", e.Evaluation.User.Key())
		if w.value != "" {
			assert.Equal(t, w.value, e.Evaluation.Value)
		}
		assert.NotEmpty(t, e.Evaluation.VariationID)
		assert.False(t, e.Time.IsZero())
	}
	assert.Equal(t, ReasonTargetMatch, evs[0].Evaluation.Reason)
	assert.True(t, evs[0].Evaluation.InExperiment)
	assert.Equal(t, ReasonOff, evs[4].Evaluation.Reason)

	off()
	off() // harmless twice
	c.BoolVariation("ff-test-bool", u1, false)
	// Nothing more arrives: the listener is gone (checked by the recorder not recording).
	assert.False(t, c.events.wanted())
}

func TestListenersOrderSlowAndPanicking(t *testing.T) {
	var logBuf syncBuffer
	checkLeaks(t)
	c, err := New(Config{Offline: true, DataFile: fixture, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	require.NoError(t, err)
	defer c.Close()

	// A listener that blocks until released, one that panics on every call, and a healthy
	// one: the healthy one gets everything, in order, while the others misbehave.
	release := make(chan struct{})
	c.On(EventEvaluation, func(Event) { <-release })
	c.On(EventEvaluation, func(Event) { panic("listener bug") })
	healthy := newCollector()
	c.On(EventEvaluation, healthy.add)

	u := NewUser("u")
	const n = 200
	for i := 0; i < n; i++ {
		c.Variation("ff-test-number", u.WithCustom("i", formatIndex(i)), "")
	}
	evs := healthy.wait(t, n)
	for i, e := range evs {
		v, _ := e.Evaluation.User.Custom("i")
		assert.Equal(t, formatIndex(i), v, "events arrive in order")
	}
	close(release)
	require.NoError(t, c.Close())
	assert.Contains(t, logBuf.String(), "a listener panicked")
}

func formatIndex(i int) string { return string(rune('A'+i/26)) + string(rune('a'+i%26)) }

// syncBuffer is a bytes.Buffer safe for a logger writing from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Listeners in Config see the events of New itself: here the offline load's readiness.
func TestConfigListeners(t *testing.T) {
	checkLeaks(t)
	col := newCollector()
	c, err := New(Config{Offline: true, DataFile: fixture, Listeners: []Listener{{Events: []EventType{EventClientReady, EventLogInfo}, Func: col.add}}})
	require.NoError(t, err)
	defer c.Close()
	evs := col.wait(t, 2)
	assert.Equal(t, EventLogInfo, evs[0].Type, "the load is logged before readiness")
	assert.Contains(t, evs[0].Message, "loaded offline data")
	assert.Equal(t, EventClientReady, evs[1].Type)
}

func TestClientReadyListener(t *testing.T) {
	c := newOffline(t, fixture)
	col := newCollector()
	c.On(EventClientReady, col.add)
	evs := col.wait(t, 1)
	assert.Equal(t, EventClientReady, evs[0].Type)
	require.NoError(t, c.WaitForInitialization(context.Background()))
}

// A client that never gets data: readiness waits end with the context, and Close ends them
// with ErrClosed.
func TestWaitForInitialization(t *testing.T) {
	checkLeaks(t)
	c, err := New(Config{EnvSecret: testSecret, StreamingURL: "ws://127.0.0.1:1", StartWait: -1})
	require.NoError(t, err)
	assert.False(t, c.Initialized())
	assert.Equal(t, StateNotReady, c.Status().State)
	d := c.VariationDetail("f", NewUser("u"), "d")
	assert.Equal(t, ReasonClientNotReady, d.Reason)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = c.WaitForInitialization(ctx)
	assert.ErrorIs(t, err, context.Canceled)

	done := make(chan error)
	go func() { done <- c.WaitForInitialization(context.Background()) }()
	require.NoError(t, c.Close())
	assert.ErrorIs(t, <-done, ErrClosed)
	assert.Equal(t, StateClosed, c.Status().State)
}

// A custom DataSource drives a client through the whole boundary: a patch before any full
// data set, a full data set, a failure, a patch that brings it back, a permanent stop, and
// Close. The client needs neither secret nor URL with events off, and every report reaches
// the listeners in order, with the status changes after the events that caused them.
func TestDataSource(t *testing.T) {
	checkLeaks(t)
	col := newCollector()
	src := newTestSource()
	c, err := New(Config{DataSource: src, DisableEvents: true, StartWait: -1,
		Listeners: []Listener{{Events: syncEvents, Func: col.add}}})
	require.NoError(t, err)
	sink := <-src.sinks
	assert.Equal(t, StateNotReady, c.Status().State)
	assert.Zero(t, sink.Version())
	u := NewUser("u")

	sink.Started(Fetch{})
	sink.Apply(dataSet(t, patch([]wire.Flag{boolFlag("early", true, 50)})), Fetch{})
	assert.False(t, c.Initialized(), "a patch before the full data set does not make the client ready")
	assert.Equal(t, StateNotReady, c.Status().State)

	sink.Apply(dataSet(t, full([]wire.Flag{boolFlag("a", true, 100), segFlag("s-user", "s", 100)}, seg("s", 100, "x"))), Fetch{})
	assert.True(t, c.Initialized())
	assert.Equal(t, StateReady, c.Status().State)
	assert.Equal(t, int64(100), sink.Version())
	assert.True(t, c.BoolVariation("early", u, false), "the early patch is applied on top of the full data set")
	assert.False(t, c.BoolVariation("s-user", u, false))

	lost := errors.New("connection lost")
	sink.Failed(lost, Fetch{Timestamp: 100})
	assert.Equal(t, StateStale, c.Status().State)
	assert.Equal(t, lost, c.Status().Err)
	assert.True(t, c.BoolVariation("a", u, false), "the data stays while stale")

	sink.Apply(dataSet(t, patch(nil, seg("s", 200, "u"))), Fetch{Timestamp: 100})
	assert.Equal(t, StateReady, c.Status().State)
	assert.NoError(t, c.Status().Err)
	assert.True(t, c.BoolVariation("s-user", u, false))
	sink.Apply(nil, Fetch{Timestamp: 200}) // nothing changed
	assert.Equal(t, int64(200), sink.Version())

	sink.Stop(errors.New("the environment is gone"))
	st := c.Status()
	assert.Equal(t, StateFailed, st.State)
	assert.ErrorIs(t, st.Err, ErrInitializationFailed)
	assert.ErrorContains(t, st.Err, "the environment is gone")
	assert.True(t, c.BoolVariation("a", u, false), "the data stays after a stop")
	sink.Apply(dataSet(t, patch([]wire.Flag{boolFlag("a", false, 300)})), Fetch{})
	assert.True(t, c.BoolVariation("a", u, false), "nothing is applied after Stop")

	require.NoError(t, c.Close())
	<-src.done
	assert.Equal(t, StateClosed, c.Status().State)
	sink.Failed(lost, Fetch{}) // ignored: the source has stopped

	assert.Equal(t, []string{
		"network fetch: custom",
		"network fetch full: custom",
		"status changed: not ready -> ready",
		"client ready",
		"network fetch error: custom",
		"status changed: ready -> stale",
		"network fetch cached: custom",
		"status changed: stale -> ready",
		"flag changed: s-user",
		"network fetch cached: custom",
		"network fetch error: custom",
		"status changed: ready -> failed",
		"status changed: failed -> closed",
	}, describe(col.snapshot()), "Close waits for listeners to take what is queued")
	evs := col.snapshot()
	assert.Equal(t, 2, evs[1].Fetch.Flags)
	assert.Equal(t, int64(100), evs[1].Fetch.Version)
	assert.Equal(t, lost, evs[5].Err)
	assert.Equal(t, StateStale, evs[5].StatusChange.Status.State)
	assert.Equal(t, lost, evs[5].StatusChange.Status.Err)
}

// A source that stops for good before any data fails WaitForInitialization with its error.
func TestDataSourceStopBeforeData(t *testing.T) {
	checkLeaks(t)
	c, sink := newWithSource(t, Config{})
	waited := make(chan error, 1)
	go func() { waited <- c.WaitForInitialization(testCtx(t)) }()
	sink.Stop(ErrInitializationFailed)
	err := <-waited
	assert.ErrorIs(t, err, ErrInitializationFailed)
	assert.Equal(t, StateFailed, c.Status().State)
	assert.False(t, c.Initialized())
}

// panicSource panics in Run; returnSource returns from Run at once.
type panicSource struct{}

func (panicSource) Run(context.Context, DataSink) { panic("source bug") }

type returnSource struct{}

func (returnSource) Run(context.Context, DataSink) {}

// A source that panics stops the client's sync for good and nothing else; one that returns
// early leaves the client as it was, with a warning.
func TestDataSourceMisbehaving(t *testing.T) {
	checkLeaks(t)
	var logs syncBuffer
	c, err := New(Config{DataSource: panicSource{}, DisableEvents: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err, "New waits for the source, which fails at once")
	err = c.WaitForInitialization(testCtx(t))
	require.ErrorIs(t, err, ErrInitializationFailed)
	assert.ErrorContains(t, err, "source bug")
	assert.Equal(t, StateFailed, c.Status().State)
	require.NoError(t, c.Close())
	assert.Contains(t, logs.String(), "panicked")

	col := newCollector()
	c, err = New(Config{DataSource: returnSource{}, DisableEvents: true, StartWait: -1,
		Listeners: []Listener{{Events: []EventType{EventLogWarning}, Func: col.add}}})
	require.NoError(t, err)
	col.wait(t, 1)
	assert.Equal(t, StateNotReady, c.Status().State)
	require.NoError(t, c.Close())
}

// A client with a DataSource needs a secret and a URL only to send insight events.
func TestDataSourceConfig(t *testing.T) {
	src := newTestSource()
	for _, tc := range []struct {
		name string
		cfg  Config
		msg  string // "" for a valid Config
	}{
		{"events off", Config{DataSource: src, DisableEvents: true}, ""},
		{"events to StreamingURL", Config{DataSource: src, EnvSecret: testSecret, StreamingURL: "wss://fb.example"}, ""},
		{"events to EventsURL", Config{DataSource: src, EnvSecret: testSecret, EventsURL: "https://fb.example"}, ""},
		{"SyncCustom", Config{DataSource: src, DisableEvents: true, SyncMode: SyncCustom}, ""},
		{"events without secret", Config{DataSource: src, StreamingURL: "wss://fb.example"}, "EnvSecret is required to send insight events"},
		{"events without URL", Config{DataSource: src, EnvSecret: testSecret}, "StreamingURL or EventsURL is required"},
		{"bad secret given", Config{DataSource: src, DisableEvents: true, EnvSecret: "a b"}, "EnvSecret contains"},
		{"bad URL given", Config{DataSource: src, DisableEvents: true, StreamingURL: "ftp://x"}, "StreamingURL must be"},
		{"offline", Config{DataSource: src, Offline: true}, "Offline"},
		{"polling", Config{DataSource: src, DisableEvents: true, SyncMode: SyncPolling}, "SyncPolling"},
		{"SyncCustom without source", Config{EnvSecret: testSecret, StreamingURL: "wss://fb.example", SyncMode: SyncCustom}, "needs a DataSource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.cfg.resolve()
			if tc.msg == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.cfg.DisableEvents, r.eventsURL == nil)
				return
			}
			assert.Nil(t, r)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			assert.ErrorContains(t, err, tc.msg)
		})
	}
}

func TestLogEvents(t *testing.T) {
	var buf syncBuffer
	checkLeaks(t)
	c, sink := newWithSource(t, Config{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	warn, crit := newCollector(), newCollector()
	c.On(EventLogWarning, warn.add)
	c.On(EventLogCritical, crit.add)
	sink.Apply(&DataSet{ds: full([]wire.Flag{{Key: "bad", UpdatedAt: "nope"}})}, Fetch{})
	sink.Stop(ErrInitializationFailed)

	w := warn.wait(t, 1)[0]
	assert.Equal(t, EventLogWarning, w.Type)
	assert.Contains(t, w.Message, "skipped an item")
	assert.Equal(t, slog.LevelWarn, w.Log.Level)
	assert.ErrorContains(t, w.Err, `flag "bad"`)
	cr := crit.wait(t, 1)[0]
	assert.Equal(t, LevelCritical, cr.Log.Level)
	assert.ErrorIs(t, cr.Err, ErrInitializationFailed)
	// The configured logger got the same records.
	assert.Contains(t, buf.String(), "skipped an item")
	assert.Contains(t, buf.String(), "sync stopped for good")
	assert.NotContains(t, buf.String(), testSecret)
}

func TestReasonAndTypeStrings(t *testing.T) {
	want := map[Reason]string{
		ReasonOff: "flag off", ReasonTargetMatch: "target match", ReasonRuleMatch: "rule match",
		ReasonFallthrough: "fall through all rules", ReasonClientNotReady: "client not ready",
		ReasonFlagNotFound: "flag not found", ReasonUserNotSpecified: "user not specified",
		ReasonWrongType: "wrong type", ReasonError: "error in evaluation", Reason(0): "unknown",
	}
	for r, s := range want {
		assert.Equal(t, s, r.String())
	}
	assert.True(t, ReasonWrongType.Fallback())
	assert.False(t, ReasonFallthrough.Fallback())
	for _, typ := range EventTypes() {
		assert.NotContains(t, typ.String(), "EventType(")
	}
	assert.Equal(t, "EventType(99)", EventType(99).String())
	assert.Equal(t, "stale", StateStale.String())
	assert.Equal(t, "polling", SyncPolling.String())
	assert.Equal(t, "custom", SyncCustom.String())
	assert.Equal(t, "SyncMode(9)", SyncMode(9).String())
}

func TestUserValue(t *testing.T) {
	base := NewUser("k")
	named := base.WithName("Jane")
	withRole := named.WithCustom("role", "admin")
	replaced := withRole.WithCustom("role", "viewer")
	assert.Equal(t, "k", base.Name(), "With does not change the receiver")
	assert.Equal(t, "Jane", named.Name())
	_, ok := named.Custom("role")
	assert.False(t, ok)
	v, _ := withRole.Custom("role")
	assert.Equal(t, "admin", v)
	v, _ = replaced.Custom("role")
	assert.Equal(t, "viewer", v)
	assert.Equal(t, []string{"role"}, replaced.CustomNames())
	assert.False(t, NewUser("  ").Valid())
	assert.True(t, base.Valid())

	b, err := json.Marshal(replaced.WithCustom("country", "fr"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"keyId":"k","name":"Jane","customizedProperties":[{"name":"role","value":"viewer"},{"name":"country","value":"fr"}]}`, string(b))
	b, err = json.Marshal(base)
	require.NoError(t, err)
	assert.JSONEq(t, `{"keyId":"k","name":"k","customizedProperties":[]}`, string(b))
	assert.True(t, strings.HasPrefix(base.String(), "k"))
}

// Many goroutines evaluate through the public API, with listeners attached, while the data
// set is replaced and patched: clean under -race, and every answer is one the data allowed.
func TestConcurrentVariationDuringUpdates(t *testing.T) {
	checkLeaks(t)
	c, sink := newWithSource(t, Config{})
	evals := newCollector()
	c.On(EventEvaluation, evals.add)
	c.On(EventFlagChanged, func(Event) {})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			u := NewUser("user-"+formatIndex(g)).WithCustom("n", formatIndex(g))
			for {
				select {
				case <-stop:
					return
				default:
				}
				d := c.VariationDetail("flag", u, "default")
				switch d.Reason {
				case ReasonFallthrough, ReasonRuleMatch:
					if d.Value != "true" && d.Value != "false" {
						panic("unexpected value " + d.Value)
					}
				case ReasonClientNotReady, ReasonFlagNotFound, ReasonFlagArchived:
					if d.Value != "default" {
						panic("fallback without the default")
					}
				default:
					panic("unexpected reason " + d.Reason.String())
				}
				c.AllVariations(u)
			}
		}(g)
	}
	for i := 1; i <= 200; i++ {
		ms := int64(1000 + i)
		switch {
		case i%10 == 0:
			sink.Apply(&DataSet{ds: full([]wire.Flag{boolFlag("flag", i%20 == 0, ms), segFlag("other", "s", ms)}, seg("s", ms, "user-Aa"))}, Fetch{})
		case i%7 == 0:
			archived := boolFlag("flag", true, ms)
			archived.IsArchived = true
			sink.Apply(&DataSet{ds: patch([]wire.Flag{archived})}, Fetch{})
		default:
			sink.Apply(&DataSet{ds: patch([]wire.Flag{boolFlag("flag", i%2 == 0, ms)}, seg("s", ms, "user-Ab"))}, Fetch{})
		}
	}
	close(stop)
	wg.Wait()
	sink.Apply(&DataSet{ds: patch([]wire.Flag{boolFlag("flag", true, 5000)})}, Fetch{})
	require.True(t, c.BoolVariation("flag", NewUser("last"), false))
	// The listener saw evaluations. (Under this flood it may miss some: its queue is bounded,
	// and misses are counted and logged.)
	evals.wait(t, 1)
}
