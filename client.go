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
// For tests, Config.Offline with Config.DataFile runs the client from a JSON file with no
// network, and the fbtest package provides a fake FeatBit server.
package fbclient

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/featflags/fbclient/internal/wire"
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

	mu      sync.Mutex // guards status transitions and readiness
	status  atomic.Pointer[Status]
	ready   chan struct{} // closed when the first data set is committed
	failed  chan struct{} // closed on a permanent sync failure
	closed  chan struct{} // closed by Close
	failErr error         // set before failed is closed

	tune       func(*syncTimings) // tests only: adjusts sync timings
	cancelSync context.CancelFunc
	syncDone   chan struct{}
	closeOnce  sync.Once
}

// synchronizer fills the store from FeatBit. It runs until ctx is done and reports what it
// does through the client's commit, fetchStarted, fetchFailed and failPermanently methods.
// streaming.go and polling.go implement it.
type synchronizer interface {
	run(ctx context.Context)
}

// New creates a client and starts it. For an invalid Config it returns an error matching
// ErrInvalidConfig (or, in Offline mode, an error naming a DataFile that cannot be loaded)
// and starts nothing. Otherwise it waits up to Config.StartWait for the first data set and
// returns the client, ready or not: sync goes on in the background, and Initialized,
// WaitForInitialization and Status tell when it is ready.
func New(cfg Config) (*Client, error) {
	return newClient(cfg, nil)
}

// newClient is New with the synchronizer's timings adjusted by tune and the event
// pipeline's by tuneEvents, for tests.
func newClient(cfg Config, tune func(*syncTimings), tuneEvents ...func(*eventTimings)) (*Client, error) {
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
	c.setStatus(StateNotReady, nil)
	for _, l := range r.Listeners {
		c.listeners.add(l.Events, l.Func, nil)
	}

	if r.Offline {
		if err := c.loadDataFile(); err != nil {
			// Stop the goroutines of Config.Listeners, letting them take what was logged.
			ctx, cancel := context.WithTimeout(context.Background(), r.CloseTimeout)
			c.listeners.close(ctx)
			cancel()
			return nil, err
		}
	}
	c.events = c.newEvents(tuneEvents...)

	if !r.Offline {
		var s synchronizer
		if r.SyncMode == SyncPolling {
			s = c.newPolling()
		} else {
			s = c.newStreaming()
		}
		ctx, cancel := context.WithCancel(context.Background())
		c.cancelSync = cancel
		c.syncDone = make(chan struct{})
		go func() {
			defer close(c.syncDone)
			s.run(ctx)
		}()
		if r.StartWait > 0 {
			t := time.NewTimer(r.StartWait)
			select {
			case <-c.ready:
			case <-c.failed:
			case <-t.C:
				c.log.Warn("fbclient: no data received within StartWait; evaluations return defaults until it arrives", "startWait", r.StartWait)
			}
			t.Stop()
		}
	}
	return c, nil
}

// loadDataFile loads Config.DataFile into the store; without one the data set is empty.
func (c *Client) loadDataFile() error {
	ds := &wire.DataSync{EventType: wire.EventFull}
	if name := c.cfg.DataFile; name != "" {
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("fbclient: cannot read DataFile: %w", err)
		}
		if ds, err = wire.DecodeDataSet(b); err != nil {
			return fmt.Errorf("fbclient: DataFile %s: %w", name, err)
		}
		ds.EventType = wire.EventFull
		res := c.store.apply(ds)
		if len(res.skipped) > 0 {
			return fmt.Errorf("fbclient: DataFile %s: %w", name, res.skipped[0])
		}
		c.log.Info("fbclient: loaded offline data", "file", name, "flags", len(ds.FeatureFlags), "segments", len(ds.Segments))
	} else {
		c.store.apply(ds)
	}
	c.markReady()
	return nil
}

// Initialized reports whether the client has received its first data set.
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

// WaitForInitialization waits until the client has its first data set and returns nil. It
// returns an error matching ErrInitializationFailed if FeatBit rejected the credentials,
// ErrClosed if the client is closed first, or ctx's error if ctx ends first.
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
// unregisters it. Each listener is called on its own goroutine, in the order the SDK emits
// its events, never on the caller's or the SDK's paths; a listener that panics or falls
// behind affects no one else (a listener more than 4096 events behind misses events, and
// the miss is logged to Config.Logger). A listener for EventClientReady registered after the
// client became ready is called at once. EventEvaluation events are emitted by the client's
// event goroutine about a millisecond after the evaluation, so they can come after sync
// events that happened later. A listener must not call Close: Close waits for listeners to
// finish, so it would wait out Config.CloseTimeout.
func (c *Client) On(t EventType, fn func(Event)) (off func()) {
	return c.OnEvents([]EventType{t}, fn)
}

// OnEvents is On for several event types at once: one listener, called in the order the SDK
// emits the events across all the types, e.g. EventNetworkFetchFull, then EventClientReady,
// then EventFlagChanged for later changes.
func (c *Client) OnEvents(types []EventType, fn func(Event)) (off func()) {
	if c == nil {
		return func() {}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var first *Event
	if slices.Contains(types, EventClientReady) && c.Initialized() {
		first = &Event{Type: EventClientReady, Time: time.Now(), Message: "client ready"}
	}
	return c.listeners.add(types, fn, first)
}

// markReady makes the client ready once and tells the listeners.
func (c *Client) markReady() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Initialized() {
		return
	}
	c.setStatusLocked(StateReady, nil) // before the gate opens: a waiter sees a ready status
	close(c.ready)
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

// commit applies a data-sync payload from the synchronizer and reports it: skipped items
// are logged, readiness and status are updated, and the fetch and flag-change events are
// emitted, all after the data is committed and in commit order.
func (c *Client) commit(ds *wire.DataSync, f Fetch) applyResult {
	res := c.store.apply(ds)
	for _, err := range res.skipped {
		c.log.Warn("fbclient: skipped an item of a data-sync message", "mode", f.Mode, "error", err)
	}
	if res.buffered {
		c.log.Debug("fbclient: kept a patch that arrived before the first full data set", "mode", f.Mode)
		return res
	}
	f.Flags, f.Segments, f.Version = len(ds.FeatureFlags), len(ds.Segments), res.version
	// The status changes before any event goes out, so a listener sees the state its event
	// reports.
	c.setStatus(StateReady, nil)
	now := time.Now()
	if res.full {
		c.listeners.emit(Event{Type: EventNetworkFetchFull, Time: now, Message: "full data set applied", Fetch: &f})
	} else {
		c.listeners.emit(Event{Type: EventNetworkFetchCached, Time: now, Message: "patch applied", Fetch: &f})
	}
	if res.initialized {
		c.markReady()
	}
	if len(res.changed) > 0 {
		c.listeners.emit(Event{Type: EventFlagChanged, Time: now, Message: fmt.Sprintf("%d flags changed", len(res.changed)), FlagKeys: res.changed})
	}
	c.log.Debug("fbclient: data-sync applied", "mode", f.Mode, "full", res.full, "flags", f.Flags, "segments", f.Segments, "changed", len(res.changed), "version", res.version)
	return res
}

// dataVersion is the timestamp sync resumes from: 0 until the first full data set.
func (c *Client) dataVersion() int64 {
	if s := c.store.load(); s != nil {
		return s.version
	}
	return 0
}

// fetchStarted reports a sync request.
func (c *Client) fetchStarted(f Fetch) {
	c.listeners.emit(Event{Type: EventNetworkFetch, Time: time.Now(), Message: "sync request started", Fetch: &f})
}

// fetchFailed reports a failed sync attempt: the client keeps serving its data and the
// status becomes stale (or stays not ready, with the error).
func (c *Client) fetchFailed(err error, f Fetch) {
	c.mu.Lock()
	switch c.Status().State {
	case StateReady, StateStale:
		c.setStatusLocked(StateStale, err)
	case StateNotReady:
		c.setStatusLocked(StateNotReady, err)
	}
	c.mu.Unlock()
	c.listeners.emit(Event{Type: EventNetworkFetchError, Time: time.Now(), Message: err.Error(), Fetch: &f, Err: err})
}

// failPermanently stops waiting for data for good: FeatBit rejected the credentials.
func (c *Client) failPermanently(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.failed:
		return
	default:
	}
	c.failErr = err
	close(c.failed)
	c.setStatusLocked(StateFailed, err)
	c.log.Log(context.Background(), LevelCritical, "fbclient: sync stopped for good", "error", err)
}
