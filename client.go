// Package fbclient is a server-side SDK for FeatBit feature flags.
//
// A service creates one Client at start-up and shares it. The client keeps every flag and
// segment of one FeatBit environment in memory, kept current by a WebSocket (or polling)
// connection to FeatBit's evaluation server, and evaluates flags locally with the same
// algorithm as the server: a Variation call does no I/O, takes no lock and does not
// allocate. Evaluations and custom metrics are sent back to FeatBit in batches for
// experiments and insights.
//
//	client, err := fbclient.New(fbclient.Config{
//		EnvSecret:    os.Getenv("FEATBIT_ENV_SECRET"),
//		StreamingURL: "wss://featbit.example.com",
//	})
//	if err != nil {
//		log.Fatal(err) // only an invalid Config gets here
//	}
//	defer client.Close()
//
//	user := fbclient.NewUser(userID).WithName(name).WithCustom("plan", "pro")
//	if client.BoolVariation("new-checkout", user, false) {
//		// ...
//	}
//
// Every evaluation method takes a default value, returned whenever the flag cannot be
// evaluated (client not ready, unknown flag, invalid user, wrong type, malformed flag); the
// Detail forms say why. The SDK never panics into the caller and never blocks a request.
//
// Client.Explain tells why a user gets a value, step by step; Client.FlagProblems lists the
// parts of flags that can never work.
//
// Watching the client: Client.On registers listeners for flag changes, status changes,
// evaluations and log records, and Client.OnValueChange follows one flag for one user.
// Client.Status and Client.Stats report its state and counters, and Client.HealthHandler
// serves them to readiness probes.
//
// Requests and observability: Client.WithContext binds the client to a request's
// context.Context, which Config.Hooks receive; hooks run around every evaluation, for
// tracing (the module github.com/featflags/fbclient/otel has one), auditing or metrics.
//
// Where the data comes from: streaming (the default) or polling from FeatBit, or a
// Config.DataSource of your own (the module github.com/featflags/fbclient/redisstore reads a
// data set shared through Redis). Config.Cache (FileCache, or redisstore's Writer) keeps the
// last data set, so that a client that starts while FeatBit is unreachable serves it.
//
// For tests, Config.Offline with Config.DataFile (or Config.Data) runs the client from a JSON
// data set with no network; package fbtest provides a fake FeatBit server, and package
// fbtest/inmem a client whose flags a test sets in memory. The module
// github.com/featflags/fbclient/openfeature is an OpenFeature provider backed by a Client.
package fbclient

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the SDK's version, sent in the User-Agent header.
const Version = "0.1.0"

// userAgent identifies the SDK on every HTTP request and WebSocket handshake.
const userAgent = "fbclient-go/" + Version

// Client evaluates feature flags. It is safe for concurrent use; create one per FeatBit
// environment and share it.
type Client struct {
	cfg       *resolved
	store     store
	listeners *listeners
	log       *slog.Logger
	events    *recorder
	syncs     syncCounts // for Stats: written by the data sink
	held      heldCache  // for Stats: the flags and segments of the current snapshot
	hooks     *hookSet   // Config.Hooks; nil without hooks

	mu      sync.Mutex // guards status transitions and readiness
	status  atomic.Pointer[Status]
	ready   chan struct{} // closed when the first data set is committed
	failed  chan struct{} // closed on a permanent sync failure
	closed  chan struct{} // closed by Close
	failErr error         // set before failed is closed

	tune       func(*syncTimings) // tests only: adjusts the built-in sources' timings
	cancelSync context.CancelFunc // stops the data source
	syncDone   chan struct{}      // closed when the data source has stopped
	closeOnce  sync.Once

	cache     *cacheWriter // saves to Config.Cache; nil without one
	fromCache atomic.Bool  // the data served was loaded from Config.Cache (Status.FromCache)
	cachedAt  time.Time    // when that data set was saved (Status.CachedAt); guarded by mu
}

// New creates a client and starts it. For an invalid Config, offline data that cannot be
// loaded included, it returns an error matching ErrInvalidConfig and starts nothing. Otherwise it waits up to Config.StartWait for the first data set and
// returns the client, ready or not: sync goes on in the background, and Initialized,
// WaitForInitialization and Status tell when it is ready. With Config.Cache, a client that
// has no data when StartWait passes serves the cached data set meanwhile.
func New(cfg Config) (*Client, error) {
	return newClient(cfg, nil)
}

// newClient is New with the built-in sources' timings adjusted by tune and the event
// pipeline's by tuneEvents, for tests.
func newClient(cfg Config, tune func(*syncTimings), tuneEvents ...func(*eventTimings)) (*Client, error) {
	return newClientCache(cfg, tune, defaultCacheTimings(), tuneEvents...)
}

// newClientCache is newClient with the cache writer's timings given, for tests.
func newClientCache(cfg Config, tune func(*syncTimings), ct cacheTimings, tuneEvents ...func(*eventTimings)) (*Client, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:    r,
		tune:   tune,
		ready:  make(chan struct{}),
		failed: make(chan struct{}),
		closed: make(chan struct{}),
	}
	c.store.keepSource = r.Cache != nil // the cache saves the data set the store gives back
	c.listeners = &listeners{}
	var userHandler slog.Handler
	if r.Logger != nil {
		userHandler = r.Logger.Handler()
	}
	c.listeners.warn = func(msg string, args ...any) {
		if userHandler != nil {
			slog.New(userHandler).Warn(msg, args...)
		}
	}
	c.log = newLogger(r.Logger, c.listeners)
	c.hooks = newHookSet(r.Hooks, c.log.Warn)
	c.setStatus(StateNotReady, nil)
	for _, l := range r.Listeners {
		c.listeners.add(l.Events, l.Func, nil, ListenerName(l.Name), ListenerQueueSize(l.QueueSize))
	}

	var reload *fileSource
	if r.Offline {
		if reload, err = c.loadOffline(); err != nil {
			// Stop the goroutines of Config.Listeners, letting them take what was logged.
			ctx, cancel := context.WithTimeout(context.Background(), r.CloseTimeout)
			c.listeners.close(ctx)
			cancel()
			return nil, err
		}
	}
	c.events = c.newEvents(tuneEvents...)
	if reload != nil {
		c.runSource(reload, SyncCustom)
	}

	if !r.Offline {
		if r.Cache != nil {
			c.cache = newCacheWriter(c, r.Cache, ct)
			go c.cache.run()
		}
		sink := c.runSource(c.dataSource())
		timedOut := false
		if r.StartWait > 0 {
			t := time.NewTimer(r.StartWait)
			select {
			case <-c.ready:
			case <-c.failed:
			case <-t.C:
				timedOut = true
			}
			t.Stop()
		}
		warm := r.Cache != nil && (timedOut || r.StartWait < 0) && c.warmStart(sink)
		if timedOut && !warm {
			c.log.Warn("fbclient: no data received within StartWait; evaluations return defaults until it arrives", "startWait", r.StartWait)
		}
	}
	return c, nil
}

// dataSource returns the source that fills the client: Config.DataSource, or the built-in
// streaming or polling source.
func (c *Client) dataSource() (DataSource, SyncMode) {
	r := c.cfg
	if r.DataSource != nil {
		return r.DataSource, SyncCustom
	}
	t := c.timings()
	if r.SyncMode == SyncPolling {
		return &pollingSource{url: r.pollingURL, secret: r.EnvSecret, hc: r.HTTPClient, t: t}, SyncPolling
	}
	return &streamingSource{url: r.streamingURL, secret: r.EnvSecret, dialer: newDialer(r.HTTPClient, t.handshakeTimeout), t: t}, SyncStreaming
}

// timings returns the built-in sources' timings, as tests adjust them.
func (c *Client) timings() syncTimings {
	t := defaultSyncTimings(c.cfg.PollInterval)
	if c.tune != nil {
		c.tune(&t)
	}
	return t
}

// runSource runs src on a goroutine of its own until Close, and returns the sink it reports
// to.
func (c *Client) runSource(src DataSource, mode SyncMode) *clientSink {
	sink := &clientSink{c: c, mode: mode}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancelSync = cancel
	c.syncDone = make(chan struct{})
	go func() {
		defer close(c.syncDone)
		sink.run(ctx, src)
	}()
	return sink
}

// Initialized reports whether the client has received its first data set from its source;
// a data set loaded from Config.Cache does not count (see Status.FromCache).
func (c *Client) Initialized() bool {
	if c == nil {
		return false
	}
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// WaitForInitialization waits until the client has its first data set from its source (not
// from Config.Cache) and returns nil. It returns an error matching ErrInitializationFailed if
// FeatBit rejected the credentials (or a Config.DataSource stopped for good), ErrClosed if
// the client is closed first, or ctx's error if ctx ends first.
func (c *Client) WaitForInitialization(ctx context.Context) error {
	if c == nil {
		return ErrClosed
	}
	select {
	case <-c.ready:
		return nil
	default:
	}
	select {
	case <-c.ready:
		return nil
	case <-c.failed:
		return c.failErr
	case <-c.closed:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("fbclient: waiting for initialization: %w", ctx.Err())
	}
}

// On registers fn to be called for every event of type t and returns a function that
// unregisters it. Each listener is called on its own goroutine, never on the caller's or
// the SDK's paths, so a listener that panics or falls behind affects no one else. Panics
// and misses are logged to Config.Logger with the listener's name (ListenerName): the first
// at once (a panic with its stack), then at most one line per 30 s per listener, counting
// those in between.
//
// Delivery: between its registration and off or Close, a listener receives every event of
// its types that the SDK emits, once and in the order emitted, except events that find its
// queue full (ListenerQueueSize, default 4096), in whose place it receives one EventMissed
// event saying how many it missed, and events still queued when Close's deadline passes.
//
// A listener for EventClientReady registered after the client became ready is called at
// once. EventEvaluation events are emitted by the client's event goroutine when it takes the
// evaluation from its buffer: up to FlushInterval/10 after the evaluation (at most 100 ms;
// sooner when the buffer fills up), so they can come after sync events that happened later.
// Evaluations the event buffer has no room for are never emitted: they are counted as
// dropped insight events (EventEventsDropped) or, when insight events are not sent (Offline,
// DisableEvents), in Stats().Listeners.Unrecorded. A listener must not call Close: Close
// waits for listeners to finish, so it would wait out Config.CloseTimeout.
func (c *Client) On(t EventType, fn func(Event), opts ...ListenerOption) (off func()) {
	return c.OnEvents([]EventType{t}, fn, opts...)
}

// OnEvents is On for several event types at once: one listener, called in the order the SDK
// emits the events across all the types, e.g. EventNetworkFetchFull, then EventClientReady,
// then EventFlagChanged for later changes.
func (c *Client) OnEvents(types []EventType, fn func(Event), opts ...ListenerOption) (off func()) {
	if c == nil {
		return func() {}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var first *Event
	if slices.Contains(types, EventClientReady) && c.Initialized() {
		first = &Event{Type: EventClientReady, Time: time.Now(), Message: "client ready"}
	}
	return c.listeners.add(types, fn, first, opts...)
}

// markReady makes the client ready once and tells the listeners.
func (c *Client) markReady() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Initialized() {
		return
	}
	change := c.setStatusLocked(StateReady, nil) // before the gate opens: a waiter sees a ready status
	close(c.ready)
	c.emitStatus(change)
	c.listeners.emit(Event{Type: EventClientReady, Time: time.Now(), Message: "client ready"})
}

// Close stops sync, sends the insight events the client still holds, lets listeners finish
// what is queued for them, and releases every goroutine the client started. It returns
// within Config.CloseTimeout (default 5 s) plus the time to stop the connection. It returns
// nil, or an error matching ErrEventsUndelivered, saying how many, if it gave up insight
// events: CloseTimeout ran out, or the events endpoint failed during Close. Calling it again
// does nothing and returns nil. After Close, evaluations still answer from the last data set,
// but nothing is recorded or sent.
func (c *Client) Close() error {
	if c == nil {
		return nil
	}
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		deadline := time.Now().Add(c.cfg.CloseTimeout)
		if c.cancelSync != nil {
			c.cancelSync()
			<-c.syncDone
		}
		if c.cache != nil {
			c.cache.close(deadline)
		}
		err = c.closeEvents(deadline)
		if t := c.cfg.ownTransport; t != nil {
			t.CloseIdleConnections()
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		c.setStatus(StateClosed, nil)
		c.listeners.close(ctx)
		cancel()
	})
	return err
}
