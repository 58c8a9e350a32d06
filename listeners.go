package fbclient

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
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
	// EventNetworkFetchCached: a sync completed and the SDK kept the data it holds, changed
	// only by the patch it received (which may be empty). Payload: Fetch.
	EventNetworkFetchCached
	// EventNetworkFetchError: a sync attempt failed. Payload: Fetch, Err.
	EventNetworkFetchError
	// EventEvaluation: one typed evaluation that served a variation. Payload: Evaluation.
	EventEvaluation
	// EventFlagChanged: flag definitions changed, directly or through a segment they use.
	// Payload: FlagKeys.
	EventFlagChanged
	// EventEventsDropped: insight events were dropped: the buffer was full, FeatBit refused
	// them, Close could not deliver them, or FeatBit would have refused them (see
	// Client.DroppedEvents). Events kept through an outage of the events endpoint are not
	// dropped. Payload: Dropped.
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
	// EventMissed: this listener missed events because its queue was full. Every listener
	// gets it, whatever types it registered for, in the place of the events it missed;
	// registering for it adds nothing. Payload: Missed.
	EventMissed
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
	EventMissed:             "missed",
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
	Missed     *Missed     // EventMissed
	// StatusChange is the payload of EventStatusChanged; Err is then the new status's error.
	StatusChange *StatusChange
	Err          error // EventNetworkFetchError, EventStatusChanged; log records with an error attribute
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

// Missed tells a listener how many events it missed: they were emitted while its queue was
// full (see ListenerQueueSize).
type Missed struct {
	// Count is how many events were missed at this place in the listener's sequence: after
	// the event it received before this notice, and before the one it receives next.
	Count uint64
	// Total is how many events the listener has missed since it was registered.
	Total uint64
}

// LogRecord is a log record the SDK wrote.
type LogRecord struct {
	Level slog.Level  // the record's level (LevelCritical for EventLogCritical)
	Attrs []slog.Attr // the record's attributes, group names joined with "."
}

// LevelCritical is the slog level of the SDK's critical records (EventLogCritical).
const LevelCritical = slog.LevelError + 4

// defaultListenerQueue is how many events may wait for one listener unless
// ListenerQueueSize says otherwise.
const defaultListenerQueue = 4096

// keptListenerQueue is the largest queue capacity a listener keeps once its queue is empty;
// a larger one, grown in a burst, is given back.
const keptListenerQueue = 1024

// listenerLogInterval is the least time between two warnings of one kind (missed events,
// panics) about one listener. The first is logged at once; later ones cover everything
// since the last, and a listener that stops logs what was left unreported.
const listenerLogInterval = 30 * time.Second

// ListenerOption sets an option of one listener, for Client.On, Client.OnEvents and
// Client.OnValueChange. Config.Listeners has the same options as fields of Listener.
type ListenerOption func(*listenerOptions)

type listenerOptions struct {
	name      string
	queueSize int
	kind      string // added to the default name, e.g. "value of flag x"
}

// ListenerName names the listener in the SDK's warnings about it (it panicked, it missed
// events). Default: "listener N", N counting the client's listeners from 1 in the order they
// were registered, Config.Listeners first ("listener N (value of flag K)" for
// OnValueChange). Names need not be unique.
func ListenerName(name string) ListenerOption {
	return func(o *listenerOptions) { o.name = name }
}

// ListenerQueueSize sets how many events may wait for the listener while it is busy; an
// event emitted while the queue is full is missed (see EventMissed). Default 4096; n < 1
// means the default. Memory grows with the events actually waiting, not with the size, so
// a listener that must keep up with bursts, such as one counting evaluations, can have a
// large queue.
func ListenerQueueSize(n int) ListenerOption {
	return func(o *listenerOptions) { o.queueSize = n }
}

// listeners fans events out to registered callbacks. Every listener has its own queue and
// goroutine, so callbacks run off the SDK's paths, in order per listener, and a slow or
// panicking listener affects only itself.
type listeners struct {
	mu     sync.Mutex
	byType [numEventTypes][]*listener
	count  [numEventTypes]atomic.Int32
	all    []*listener // registered, in registration order
	seq    int         // listeners registered so far, for default names
	closed bool
	wg     sync.WaitGroup
	missed atomic.Uint64 // events missed by every listener since the client started
	// warn reports a panicking or too slow listener. It writes to the configured logger
	// only, never to listeners, so a failing listener cannot feed itself.
	warn func(msg string, args ...any)
	// now is the clock that spaces out warnings; nil means time.Now. Tests set it.
	now func() time.Time
}

// listener is one registered callback. Its queue is a slice guarded by mu, so that memory
// follows the backlog rather than the queue size, and a run of missed events can be noted
// at its exact place in the sequence.
type listener struct {
	name  string
	types []EventType
	fn    func(Event)
	size  int // the queue's limit, miss notices aside

	mu      sync.Mutex
	queue   []Event // waiting events from head on, oldest first
	head    int
	gap     uint64    // events missed since the last one queued
	gapTime time.Time // when the first of them was emitted
	missed  uint64    // events missed since registration
	closing bool      // Close: deliver what is queued, then end

	wake   chan struct{} // capacity 1: something was queued, or closing was set
	stop   chan struct{} // closed by off or at Close's deadline: end now
	once   sync.Once
	panics atomic.Uint64
}

// has reports whether anyone listens for t. It is one atomic load.
func (ls *listeners) has(t EventType) bool { return ls.count[t].Load() > 0 }

// add registers fn for the given types and returns the function that removes it. first, if
// not nil, is queued for the new listener before any other event.
func (ls *listeners) add(types []EventType, fn func(Event), first *Event, opts ...ListenerOption) func() {
	if fn == nil {
		return func() {}
	}
	var valid []EventType
	for _, t := range types {
		if t > 0 && t < numEventTypes && t != EventMissed && !slices.Contains(valid, t) {
			valid = append(valid, t)
		}
	}
	if len(valid) == 0 {
		return func() {}
	}
	var o listenerOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	l := &listener{name: o.name, types: valid, fn: fn, size: o.queueSize, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if l.size < 1 {
		l.size = defaultListenerQueue
	}
	if first != nil {
		l.queue = append(l.queue, *first)
	}
	ls.mu.Lock()
	if ls.closed {
		ls.mu.Unlock()
		return func() {}
	}
	ls.seq++
	if l.name == "" {
		l.name = "listener " + strconv.Itoa(ls.seq)
		if o.kind != "" {
			l.name += " (" + o.kind + ")"
		}
	}
	for _, t := range valid {
		ls.byType[t] = append(ls.byType[t][:len(ls.byType[t]):len(ls.byType[t])], l)
		ls.count[t].Add(1)
	}
	ls.all = append(ls.all, l)
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
	if i := slices.Index(ls.all, l); i >= 0 {
		ls.all = append(ls.all[:i:i], ls.all[i+1:]...)
	}
	ls.mu.Unlock()
	l.once.Do(func() { close(l.stop) })
}

// emit queues e for every listener of its type. It never blocks: a listener whose queue is
// full misses the event, which is counted and later reported to the listener and the log.
func (ls *listeners) emit(e Event) {
	if !ls.has(e.Type) {
		return
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, l := range ls.byType[e.Type] {
		if !l.put(e) {
			ls.missed.Add(1)
		}
	}
}

// put queues e, or counts it as missed when the queue is full. A run of missed events is
// queued as one EventMissed notice just before the next event that fits.
func (l *listener) put(e Event) bool {
	l.mu.Lock()
	if len(l.queue)-l.head >= l.size {
		if l.gap == 0 {
			l.gapTime = e.Time
		}
		l.gap++
		l.missed++
		l.mu.Unlock()
		return false
	}
	if len(l.queue) == cap(l.queue) && l.head > 0 { // reuse the space already delivered
		n := copy(l.queue, l.queue[l.head:])
		clear(l.queue[n:])
		l.queue, l.head = l.queue[:n], 0
	}
	wasEmpty := l.head == len(l.queue) // only then may the runner be waiting
	if l.gap > 0 {
		l.queue = append(l.queue, l.notice())
	}
	l.queue = append(l.queue, e)
	l.mu.Unlock()
	if wasEmpty {
		l.signal()
	}
	return true
}

// notice turns the current run of missed events into an EventMissed event. l.mu is held.
func (l *listener) notice() Event {
	n := l.gap
	l.gap = 0
	return Event{Type: EventMissed, Time: l.gapTime, Message: strconv.FormatUint(n, 10) + " events missed: the listener's queue was full",
		Missed: &Missed{Count: n, Total: l.missed}}
}

func (l *listener) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest waiting event, or the notice of a run of missed events once
// nothing else waits. done is true when the listener is closing and has nothing left.
func (l *listener) next() (e Event, ok, done bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.head < len(l.queue):
		e = l.queue[l.head]
		l.queue[l.head] = Event{}
		l.head++
		if l.head == len(l.queue) { // empty: start over, giving back a burst's memory
			l.head = 0
			l.queue = l.queue[:0]
			if cap(l.queue) > keptListenerQueue {
				l.queue = nil
			}
		}
		return e, true, false
	case l.gap > 0:
		return l.notice(), true, false
	}
	return Event{}, false, l.closing
}

// run delivers l's events on l's own goroutine until l is removed, or closed and drained.
func (ls *listeners) run(l *listener) {
	defer ls.wg.Done()
	missLog, panicLog := logLimit{every: listenerLogInterval}, logLimit{every: listenerLogInterval}
	var lastPanic string // the last panic's value, for the panic warnings
	// What the rate limits held back.
	defer func() {
		l.mu.Lock()
		n, total := missLog.pending+l.gap, l.missed // a gap may be left undelivered
		l.mu.Unlock()
		if n > 0 {
			ls.warnMissed(l, n, total)
		}
		if n := panicLog.pending; n > 0 {
			ls.warn("fbclient: a listener panicked", "listener", l.name, "panics", n, "panic", lastPanic)
		}
	}()
	for {
		e, ok, done := l.next()
		if done {
			return
		}
		if !ok {
			select {
			case <-l.stop:
				return
			case <-l.wake:
			}
			continue
		}
		select {
		case <-l.stop:
			return
		default:
		}
		if e.Type == EventMissed {
			if n, log := missLog.add(e.Missed.Count, ls.clock()); log {
				ls.warnMissed(l, n, e.Missed.Total)
			}
		}
		ls.call(l, e, &panicLog, &lastPanic)
	}
}

func (ls *listeners) warnMissed(l *listener, n, total uint64) {
	ls.warn("fbclient: a listener missed events: its queue was full", "listener", l.name, "missed", n, "total", total, "queueSize", l.size)
}

// call runs the callback, turning a panic into a warning: the first with its stack, later
// ones at most one per listenerLogInterval, counting those in between.
func (ls *listeners) call(l *listener, e Event, panicLog *logLimit, lastPanic *string) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		l.panics.Add(1)
		*lastPanic = fmt.Sprint(v)
		if n, log := panicLog.add(1, ls.clock()); log {
			ls.warn("fbclient: a listener panicked", "listener", l.name, "panics", n, "event", e.Type.String(), "panic", *lastPanic, "stack", string(debug.Stack()))
		}
	}()
	l.fn(e)
}

func (ls *listeners) clock() time.Time {
	if ls.now != nil {
		return ls.now()
	}
	return time.Now()
}

// listenerStat is what one registered listener has missed and how often it panicked.
type listenerStat struct {
	name           string
	missed, panics uint64
}

// stats returns how many events all listeners have missed since the client started
// (removed listeners included) and the counts of each registered listener.
func (ls *listeners) stats() (missed uint64, each []listenerStat) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	each = make([]listenerStat, len(ls.all))
	for i, l := range ls.all {
		l.mu.Lock()
		each[i] = listenerStat{name: l.name, missed: l.missed, panics: l.panics.Load()}
		l.mu.Unlock()
	}
	return ls.missed.Load(), each
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
	all := ls.all
	ls.all = nil
	for t := range ls.byType {
		ls.byType[t] = nil
		ls.count[t].Store(0)
	}
	ls.mu.Unlock() // no emit can reach a listener any more
	for _, l := range all {
		l.mu.Lock()
		l.closing = true
		l.mu.Unlock()
		l.signal()
	}
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
