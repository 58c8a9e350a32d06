package fbclient

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EventType identifies what an Event reports. Register for a type with Client.On.
type EventType uint8

// Event types.
const (
	// EventClientReady: the first usable data set was committed. A listener registered after
	// that is told at once.
	EventClientReady EventType = iota + 1
	// EventNetworkFetch: a sync request started (a streaming data-sync request or a poll).
	// Payload: Fetch.
	EventNetworkFetch
	// EventNetworkFetchFull: a full data set was received and applied. Payload: Fetch.
	EventNetworkFetchFull
	// EventNetworkFetchCached: a sync completed and the SDK kept its cached data, changed only
	// by the patch it received (which may be empty). Payload: Fetch.
	EventNetworkFetchCached
	// EventNetworkFetchError: a sync attempt failed. Payload: Fetch, Err.
	EventNetworkFetchError
	// EventEvaluation: one typed evaluation that served a variation. Payload: Evaluation.
	EventEvaluation
	// EventFlagChanged: flag definitions changed, directly or through a segment they use.
	// Payload: FlagKeys.
	EventFlagChanged
	// EventEventsDropped: insight events were dropped: the buffer was full, FeatBit refused
	// them, they were undelivered after the retries or unsent at Close's deadline, or FeatBit
	// would have refused them (see Client.DroppedEvents). Payload: Dropped.
	EventEventsDropped
	// EventLogCritical, EventLogError, EventLogWarning, EventLogInfo and EventLogDebug carry
	// every record the SDK logs at that level, whether or not Config.Logger is set, except
	// warnings about listeners themselves, which go to Config.Logger only.
	// Payload: Log.
	EventLogCritical
	EventLogError
	EventLogWarning
	EventLogInfo
	EventLogDebug
	// EventStatusChanged: the client's state changed (see State): NotReady → Ready on the
	// first data set, Ready → Stale when sync fails, Stale → Ready when data arrives again,
	// any → Failed, any → Closed. A new Status.Err alone is no change. It is emitted in order
	// with the other sync events, after the one that caused it. Payload: StatusChange, and
	// Err when the new status has one.
	EventStatusChanged

	numEventTypes = iota + 1
)

var eventTypeNames = [numEventTypes]string{
	EventClientReady:        "client ready",
	EventNetworkFetch:       "network fetch",
	EventNetworkFetchFull:   "network fetch full",
	EventNetworkFetchCached: "network fetch cached",
	EventNetworkFetchError:  "network fetch error",
	EventEvaluation:         "evaluation",
	EventFlagChanged:        "flag changed",
	EventEventsDropped:      "events dropped",
	EventLogCritical:        "log critical",
	EventLogError:           "log error",
	EventLogWarning:         "log warning",
	EventLogInfo:            "log info",
	EventLogDebug:           "log debug",
	EventStatusChanged:      "status changed",
}

// String returns a short lower-case name of the type, such as "flag changed".
func (t EventType) String() string {
	if t > 0 && int(t) < len(eventTypeNames) {
		return eventTypeNames[t]
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// EventTypes returns every event type, for registering one listener for all of them.
func EventTypes() []EventType {
	types := make([]EventType, 0, numEventTypes-1)
	for t := EventType(1); t < numEventTypes; t++ {
		types = append(types, t)
	}
	return types
}

// Event is what a listener receives. Type, Time and Message are always set; the payload
// field that goes with the type (see the EventType constants) is set, the others are nil.
type Event struct {
	Type    EventType // what happened
	Time    time.Time // when the SDK emitted it (see Client.On)
	Message string    // a short description, e.g. "full data set applied"

	Evaluation *Evaluation // EventEvaluation
	FlagKeys   []string    // EventFlagChanged
	Fetch      *Fetch      // EventNetworkFetch...
	Dropped    *Dropped    // EventEventsDropped
	Log        *LogRecord  // EventLog...
	Err        error       // EventNetworkFetchError; log records with an error attribute

	// StatusChange is the payload of EventStatusChanged; Err is then the new status's error.
	StatusChange *StatusChange
}

// Evaluation describes one evaluation that served a variation.
type Evaluation struct {
	FlagKey      string // the flag evaluated
	User         User   // the user it was evaluated for
	Value        string // the served variation's value, as FeatBit stores it
	VariationID  string // the served variation's id
	Reason       Reason // why it was served
	InExperiment bool   // FeatBit's sendToExperiment
}

// Fetch describes a sync request or its outcome.
type Fetch struct {
	// Mode is how the client gets its data: SyncStreaming, SyncPolling, or SyncCustom for
	// Config.DataSource.
	Mode SyncMode
	// Timestamp is the data version the request asked from (0 for everything).
	Timestamp int64
	// Flags and Segments count the items received (0 for EventNetworkFetch).
	Flags, Segments int
	// Version is the store's data version after the data was applied.
	Version int64
}

// Dropped reports insight events that will not reach FeatBit.
type Dropped struct {
	// Count is how many events this report covers; Total is how many since the client started.
	Count, Total uint64
	// Why is the reason, such as "buffer full"; a report that covers several reasons lists
	// each with its count, separated by "; ".
	Why string
}

// LogRecord is a log record the SDK wrote.
type LogRecord struct {
	Level slog.Level  // the record's level (LevelCritical for EventLogCritical)
	Attrs []slog.Attr // the record's attributes, group names joined with "."
}

// LevelCritical is the slog level of the SDK's critical records (EventLogCritical).
const LevelCritical = slog.LevelError + 4

// listenerQueue is how many events may wait for one listener; beyond that the listener
// misses events (counted in its log) rather than slowing the SDK or other listeners.
const listenerQueue = 4096

// listeners fans events out to registered callbacks. Every listener has its own queue and
// goroutine, so callbacks run off the SDK's paths, in order per listener, and a slow or
// panicking listener affects only itself.
type listeners struct {
	mu     sync.Mutex
	byType [numEventTypes][]*listener
	count  [numEventTypes]atomic.Int32
	closed bool
	wg     sync.WaitGroup
	// warn reports a panicking or too slow listener. It writes to the configured logger
	// only, never to listeners, so a failing listener cannot feed itself.
	warn func(msg string, args ...any)
}

type listener struct {
	types   []EventType
	fn      func(Event)
	queue   chan Event
	stop    chan struct{}
	once    sync.Once
	dropped atomic.Uint64
}

// has reports whether anyone listens for t. It is one atomic load.
func (ls *listeners) has(t EventType) bool { return ls.count[t].Load() > 0 }

// add registers fn for the given types and returns the function that removes it. first, if
// not nil, is queued for the new listener before any other event.
func (ls *listeners) add(types []EventType, fn func(Event), first *Event) func() {
	if fn == nil {
		return func() {}
	}
	var valid []EventType
	for _, t := range types {
		if t > 0 && t < numEventTypes && !slices.Contains(valid, t) {
			valid = append(valid, t)
		}
	}
	if len(valid) == 0 {
		return func() {}
	}
	l := &listener{types: valid, fn: fn, queue: make(chan Event, listenerQueue), stop: make(chan struct{})}
	if first != nil {
		l.queue <- *first
	}
	ls.mu.Lock()
	if ls.closed {
		ls.mu.Unlock()
		return func() {}
	}
	for _, t := range valid {
		ls.byType[t] = append(ls.byType[t][:len(ls.byType[t]):len(ls.byType[t])], l)
		ls.count[t].Add(1)
	}
	ls.wg.Add(1)
	ls.mu.Unlock()
	go ls.run(l)
	return func() { ls.remove(l) }
}

// remove unregisters l; it receives nothing more, and its goroutine ends after the callback
// in progress, if any.
func (ls *listeners) remove(l *listener) {
	ls.mu.Lock()
	for _, t := range l.types {
		list := ls.byType[t]
		if i := slices.Index(list, l); i >= 0 {
			ls.byType[t] = append(list[:i:i], list[i+1:]...)
			ls.count[t].Add(-1)
		}
	}
	ls.mu.Unlock()
	l.once.Do(func() { close(l.stop) })
}

// emit queues e for every listener of its type. It never blocks: a listener whose queue is
// full misses the event, and the miss is counted and reported.
func (ls *listeners) emit(e Event) {
	if !ls.has(e.Type) {
		return
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, l := range ls.byType[e.Type] {
		select {
		case l.queue <- e:
		default:
			l.dropped.Add(1)
		}
	}
}

func (ls *listeners) run(l *listener) {
	defer ls.wg.Done()
	reported := uint64(0)
	for {
		select {
		case <-l.stop:
			return
		case e, ok := <-l.queue:
			if !ok {
				return
			}
			if n := l.dropped.Load(); n != reported {
				ls.warn("fbclient: a listener is too slow and missed events", "events", l.typeNames(), "missed", n-reported)
				reported = n
			}
			ls.call(l, e)
		}
	}
}

func (ls *listeners) call(l *listener, e Event) {
	defer func() {
		if v := recover(); v != nil {
			ls.warn("fbclient: a listener panicked", "event", e.Type.String(), "panic", fmt.Sprint(v))
		}
	}()
	l.fn(e)
}

// close delivers what is queued, waiting until ctx ends, and stops every listener. A
// callback still running when ctx ends is abandoned: its goroutine exits when it returns.
func (ls *listeners) close(ctx context.Context) {
	ls.mu.Lock()
	if ls.closed {
		ls.mu.Unlock()
		return
	}
	ls.closed = true
	var all []*listener
	for t := range ls.byType {
		for _, l := range ls.byType[t] {
			if !slices.Contains(all, l) {
				all = append(all, l)
				close(l.queue) // no emit can send any more: emit holds mu
			}
		}
		ls.byType[t] = nil
		ls.count[t].Store(0)
	}
	ls.mu.Unlock()
	done := make(chan struct{})
	go func() {
		ls.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, l := range all {
			l.once.Do(func() { close(l.stop) })
		}
	}
}

func (l *listener) typeNames() string {
	names := make([]string, len(l.types))
	for i, t := range l.types {
		names[i] = t.String()
	}
	return strings.Join(names, ",")
}
