package fbclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/featflags/fbclient/internal/wire"
)

// clientSink is the client's DataSink: everything a data source reports reaches the store,
// the status and the listeners through it. Its methods hold mu, so one report's events all
// go out before the next report's, whichever goroutine of the source makes them. Once the
// source has stopped (Stop, or its Run returned) further reports are ignored.
type clientSink struct {
	c    *Client
	mode SyncMode // what Fetch.Mode reports

	mu      sync.Mutex
	stopped bool
	failing bool // the last request failed: the next one is a reconnect
}

// Apply commits ds; a nil ds is an empty patch: the sync succeeded and nothing changed.
func (s *clientSink) Apply(ds *DataSet, f Fetch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	d := &wire.DataSync{EventType: wire.EventPatch}
	if ds != nil {
		d = ds.ds
	}
	f.Mode = s.mode
	s.c.syncs.applied(ds.Full())
	s.failing = false
	s.c.commit(d, f)
	if w := s.c.cache; w != nil && !s.c.fromCache.Load() && (d.EventType == wire.EventFull || len(d.FeatureFlags)+len(d.Segments) > 0) {
		w.touch()
	}
}

// Version returns the data version the client holds, 0 while it serves the cached data set.
func (s *clientSink) Version() int64 {
	if s.c.fromCache.Load() {
		return 0
	}
	return s.c.dataVersion()
}

// Started reports a sync request.
func (s *clientSink) Started(f Fetch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	f.Mode = s.mode
	s.c.syncs.requests.Add(1)
	if s.failing {
		s.c.syncs.reconnects.Add(1)
		s.failing = false
	}
	s.c.listeners.emit(Event{Type: EventNetworkFetch, Time: time.Now(), Message: "sync request started", Fetch: &f})
}

// Failed reports a failed sync attempt: the client keeps serving its data and becomes stale
// (or stays not ready, with the error).
func (s *clientSink) Failed(err error, f Fetch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if err == nil {
		err = errors.New("fbclient: the data source failed")
	}
	f.Mode = s.mode
	s.c.syncs.failed(err)
	s.failing = true
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var change *Event
	switch c.Status().State {
	case StateReady, StateStale:
		change = c.setStatusLocked(StateStale, err)
	case StateNotReady:
		change = c.setStatusLocked(StateNotReady, err)
	}
	c.listeners.emit(Event{Type: EventNetworkFetchError, Time: time.Now(), Message: err.Error(), Fetch: &f, Err: err})
	c.emitStatus(change)
}

// Stop stops waiting for data for good: the client fails with err, which matches
// ErrInitializationFailed.
func (s *clientSink) Stop(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	s.c.syncs.failed(err)
	switch {
	case err == nil:
		err = fmt.Errorf("%w: the data source stopped", ErrInitializationFailed)
	case !errors.Is(err, ErrInitializationFailed):
		err = fmt.Errorf("%w: %w", ErrInitializationFailed, err)
	}
	c := s.c
	f := Fetch{Mode: s.mode, Timestamp: c.dataVersion()}
	c.mu.Lock()
	defer c.mu.Unlock()
	change := c.setStatusLocked(StateFailed, err)
	c.listeners.emit(Event{Type: EventNetworkFetchError, Time: time.Now(), Message: err.Error(), Fetch: &f, Err: err})
	c.emitStatus(change)
	c.log.Log(context.Background(), LevelCritical, "fbclient: sync stopped for good", "error", err)
	// Last: whoever WaitForInitialization lets go finds all the above done.
	c.failErr = err
	close(c.failed)
}

// Logger returns the client's logger.
func (s *clientSink) Logger() *slog.Logger { return s.c.log }

// run runs src until ctx ends, then ignores whatever it still reports. A panic in src stops
// it for good, as Stop would.
func (s *clientSink) run(ctx context.Context, src DataSource) {
	defer func() {
		s.mu.Lock()
		stopped := s.stopped
		s.stopped = true
		s.mu.Unlock()
		if !stopped && ctx.Err() == nil {
			s.c.log.Warn("fbclient: the data source returned before Close; the data will not change any more", "mode", s.mode)
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			s.c.log.Error("fbclient: the data source panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			s.Stop(fmt.Errorf("%w: the data source panicked: %v", ErrInitializationFailed, v))
		}
	}()
	src.Run(ctx, s)
}

// commit applies a data-sync payload and reports it: skipped items are logged, readiness
// and status are updated, and the fetch, status and flag-change events are emitted, all
// after the data is committed and in commit order.
func (c *Client) commit(ds *wire.DataSync, f Fetch) {
	res := c.store.apply(ds)
	for _, err := range res.skipped {
		c.log.Warn("fbclient: skipped an item of a data-sync message", "mode", f.Mode, "error", err)
	}
	if res.buffered {
		c.log.Debug("fbclient: kept a patch that arrived before the first full data set", "mode", f.Mode)
		return
	}
	f.Flags, f.Segments, f.Version = len(ds.FeatureFlags), len(ds.Segments), res.version
	// The status changes before any event goes out, so a listener sees the state its event
	// reports; the status change itself is told after the fetch that caused it. After a warm
	// start, only a full data set from the source, which replaces the cached one, makes the
	// client ready.
	c.mu.Lock()
	warm := c.fromCache.Load()
	var change *Event
	if res.full || !warm {
		c.fromCache.Store(false)
		change = c.setStatusLocked(StateReady, nil)
	}
	c.mu.Unlock()
	now := time.Now()
	if res.full {
		c.listeners.emit(Event{Type: EventNetworkFetchFull, Time: now, Message: "full data set applied", Fetch: &f})
	} else {
		c.listeners.emit(Event{Type: EventNetworkFetchCached, Time: now, Message: "patch applied", Fetch: &f})
	}
	c.emitStatus(change)
	c.warnProblems(res)
	if res.initialized || (warm && res.full) {
		c.markReady()
	}
	if len(res.changed) > 0 {
		c.listeners.emit(Event{Type: EventFlagChanged, Time: now, Message: fmt.Sprintf("%d flags changed", len(res.changed)), FlagKeys: res.changed})
	}
	c.log.Debug("fbclient: data-sync applied", "mode", f.Mode, "full", res.full, "flags", f.Flags, "segments", f.Segments, "changed", len(res.changed), "version", res.version)
}

// dataVersion is the timestamp sync resumes from: 0 until the first full data set.
func (c *Client) dataVersion() int64 {
	if s := c.store.load(); s != nil {
		return s.version
	}
	return 0
}

// syncKind classifies a sync failure for Stats (SyncErrors). The built-in sources mark their
// errors with kindError; an error without a mark, such as a Config.DataSource's, is
// syncOther.
type syncKind uint8

const (
	syncOther syncKind = iota
	syncNetwork
	syncStatus
	syncLost
	syncBadData
	syncRejected
	numSyncKinds
)

// kindError marks a sync error with its kind. It reads and unwraps as the error it marks.
type kindError struct {
	kind syncKind
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// withKind marks err with kind.
func withKind(kind syncKind, err error) error { return &kindError{kind: kind, err: err} }

// syncCounts are the sync figures of Stats. The sink writes them, the offline load too
// (applied), and Stats reads them; none is touched on the evaluation path.
type syncCounts struct {
	requests   atomic.Uint64 // Started
	reconnects atomic.Uint64 // Started after a Failed
	dataSyncs  atomic.Uint64 // Apply, full or patch
	full       atomic.Uint64 // Apply of a full data set
	errors     [numSyncKinds]atomic.Uint64
	last       atomic.Int64 // when the last Apply came, in Unix nanoseconds; 0 before any
}

// applied counts a data set received now.
func (n *syncCounts) applied(full bool) {
	n.dataSyncs.Add(1)
	if full {
		n.full.Add(1)
	}
	n.last.Store(time.Now().UnixNano())
}

// failed counts a failure by its kind.
func (n *syncCounts) failed(err error) {
	kind := syncOther
	var ke *kindError
	if errors.As(err, &ke) {
		kind = ke.kind
	}
	n.errors[kind].Add(1)
}
