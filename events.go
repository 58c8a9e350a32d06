package fbclient

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/featflags/fbclient/internal/mpsc"
)

// Errors of Track and TrackMetric. An invalid user is reported with ErrInvalidUser.
var (
	// ErrInvalidEvent: the event name given to Track or TrackMetric is empty or blank.
	ErrInvalidEvent = errors.New("fbclient: invalid event name")
	// ErrInvalidMetricValue: the value given to TrackMetric is NaN, infinite, or beyond the
	// range of the 32-bit float FeatBit stores it in (FeatBit would reject the whole batch).
	ErrInvalidMetricValue = errors.New("fbclient: invalid metric value")
)

// Track records that user performed the custom event eventName, a FeatBit metric with the
// numeric value 1, to be sent to FeatBit with the next batch of insight events. It is
// TrackMetric(user, eventName, 1).
func (c *Client) Track(user User, eventName string) error {
	return c.TrackMetric(user, eventName, 1)
}

// TrackMetric records a custom metric event for user: FeatBit's eventName with a numeric
// value, sent to FeatBit with the next batch of insight events and stamped, like evaluation
// events, with the time the SDK takes it from its buffer (about a millisecond later). It
// never blocks, does no I/O and does not allocate.
//
// It returns ErrInvalidEvent for a blank event name, ErrInvalidUser for an invalid user
// (User.Valid), ErrInvalidMetricValue for NaN, an infinite value or one whose magnitude is
// above math.MaxFloat32 (FeatBit stores a 32-bit float), and ErrClosed after
// Close; in those cases nothing is recorded. Otherwise it returns nil. With Config.Offline or
// Config.DisableEvents nothing is sent, so TrackMetric checks its arguments and records
// nothing. When the event buffer is full the event is dropped and counted (DroppedEvents,
// EventEventsDropped), and TrackMetric still returns nil: delivery is asynchronous, and
// FlushAndWait and DroppedEvents report on it.
func (c *Client) TrackMetric(user User, eventName string, value float64) error {
	switch {
	case strings.TrimSpace(eventName) == "":
		return ErrInvalidEvent
	case !user.Valid():
		return fmt.Errorf("%w: the user key is blank", ErrInvalidUser)
	case math.IsNaN(value) || math.Abs(value) > math.MaxFloat32:
		return fmt.Errorf("%w: %v", ErrInvalidMetricValue, value)
	case c == nil || c.isClosed():
		return ErrClosed
	}
	c.afterTrack(&user, eventName, value)
	if rc := c.events; rc.send.Load() && rc.putMetric(&user, eventName, value) {
		return nil
	}
	if c.isClosed() { // Close ran since the check above
		return ErrClosed
	}
	return nil
}

// Flush starts sending the insight events the client holds without waiting for the next
// flush interval, and returns at once. FlushAndWait waits for the result.
func (c *Client) Flush() {
	if c == nil || c.isClosed() || !c.events.send.Load() {
		return
	}
	c.events.requestFlush()
}

// FlushAndWait sends the insight events the client holds and waits until every event
// recorded before the call has been sent or given up (see DroppedEvents), or until ctx ends,
// whichever comes first. It returns nil in the first case, an error wrapping ctx's error in
// the second, and ErrClosed if the client was closed before the call. It returns nil at
// once when events are not sent (Offline, DisableEvents). A Close during the wait ends it
// with nil once Close has sent or given up everything.
func (c *Client) FlushAndWait(ctx context.Context) error {
	if c == nil || c.isClosed() {
		return ErrClosed
	}
	rc := c.events
	if !rc.send.Load() {
		return nil
	}
	done := rc.flushAfter(rc.queue.Head())
	select {
	case <-done:
		return nil
	case <-rc.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fbclient: flushing insight events: %w", ctx.Err())
	}
}

// DroppedEvents returns how many insight events the client has dropped since it started:
// events that found the buffer full (Config.EventCapacity), that FeatBit refused (an error
// status such as 400 or 413, and 401/403 with every later event after it), that could not
// be delivered after the retries, that Close could not send within Config.CloseTimeout,
// and events FeatBit would reject that are never sent (a variation whose value or id is
// empty, an event larger than Config.EventBatchBytes). Evaluation records that EventEvaluation listeners missed because
// the buffer was full are counted too, even when events are not sent. Every drop is also
// reported to EventEventsDropped listeners and, rate-limited, in the log.
func (c *Client) DroppedEvents() uint64 {
	if c == nil {
		return 0
	}
	return c.events.drops.total()
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// newEventSender returns the insight-event sender, or nil when events are not sent.
func (c *Client) newEventSender() *eventSender {
	if c.cfg.Offline || c.cfg.DisableEvents {
		return nil
	}
	return newSender(c)
}

// closeEvents stops recording, sends what the client holds until deadline, gives up the
// rest, stops the event goroutines and reports what was dropped.
func (c *Client) closeEvents(deadline time.Time) {
	rc := c.events
	rc.close(deadline)
	rc.reportDrops(time.Now(), true)
}

// record is what the evaluation path hands to the event pipeline: a compact, pointer-light
// copy of one evaluation or metric. The user is copied by value; its attribute slice is
// shared, which is safe because Users are immutable. The recorder also gives the sink
// control records, which never go through the queue.
type record struct {
	kind   recordKind
	reason Reason
	inExpt bool
	flag   *flag
	v      *variation
	user   User
	metric string
	value  float64
	done   chan struct{} // recordFlush: closed when the events before it are sent or given up
}

type recordKind uint8

const (
	recordEvaluation recordKind = iota + 1
	recordMetric
	// Control records, for the sink.
	recordStart // first record, given by start on the caller's goroutine
	recordFlush // send what is buffered; close done, if set, when it is sent or given up
	recordClose // last record; its time is the close deadline
)

// While records keep coming, the consumer takes them every pollInterval instead of being
// woken for each: producers then pay for no wake-up, and the consumer reads records the
// producers are done with. After idlePolls polls that found nothing it sleeps until a
// producer wakes it; a producer also wakes it when the queue is half full.
const (
	pollInterval = time.Millisecond
	idlePolls    = 10
)

// recorder moves records from the evaluation path to a background goroutine without
// blocking or allocating: a bounded lock-free queue, polled by the consumer while records
// come (see pollInterval), and a wake-up signal sent only when the consumer sleeps. The
// consumer stamps records with the time it takes them, about a millisecond after they were
// recorded as long as it keeps up (FeatBit's resolution is a millisecond), and feeds them to
// EventEvaluation listeners and to the sink.
//
// A record keeps its slot in the queue until it is finished: sent, or given up. The queue's
// capacity therefore bounds the events recorded and not finished, wherever they are (queued,
// in a batch being built, or in a batch being sent or waiting for a retry), and the memory
// they hold, whatever the endpoint does. A record that finds no slot is dropped and counted.
type recorder struct {
	queue    *mpsc.Queue[record]
	capacity int
	_        [64]byte
	parked   atomic.Bool
	_        [64]byte
	flush    atomic.Bool // a flush was asked for; the consumer gives the sink a recordFlush
	wake     chan struct{}

	// send is set while events go to FeatBit; otherwise records are only built while
	// someone listens for EventEvaluation.
	send      atomic.Bool
	closed    atomic.Bool
	listeners *listeners
	// sink receives, on the consumer goroutine and in queue order, a recordStart (from
	// start), every event and recordFlush, and a final recordClose whose time is the close
	// deadline; it must return from recordClose only when it has finished. It frees the
	// queue slot of every event it finishes (finish). nil when send is false.
	sink func(r *record, at time.Time)

	mu      sync.Mutex
	flushes []flushRequest // FlushAndWait calls waiting for the consumer to reach them
	swept   bool           // close has counted what was left; later puts count their own

	drops    dropCounts
	reporter dropReporter

	deadline time.Time     // set by close before stop is closed
	stop     chan struct{} // closed by close
	stopped  chan struct{} // closed when the consumer has finished
	wg       sync.WaitGroup
}

// flushRequest asks for a recordFlush once every record before queue position pos is taken.
type flushRequest struct {
	pos  uint64
	done chan struct{}
}

func newRecorder(capacity int, send bool, ls *listeners, warn func(string, ...any)) *recorder {
	rc := &recorder{
		queue:     mpsc.New[record](capacity),
		capacity:  capacity,
		wake:      make(chan struct{}, 1),
		listeners: ls,
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	rc.reporter.warn = warn
	rc.reporter.interval = DefaultFlushInterval
	rc.send.Store(send)
	return rc
}

// wanted reports whether an evaluation must be recorded: events are sent, or someone
// listens. It is one or two atomic loads.
func (rc *recorder) wanted() bool {
	return rc.send.Load() || rc.listeners.has(EventEvaluation)
}

// putEvaluation records an evaluation, written in place in the queue.
func (rc *recorder) putEvaluation(f *flag, v *variation, reason Reason, inExpt bool, u *User) {
	if rc.closed.Load() {
		return
	}
	r, pos, ok := rc.queue.Claim()
	if !ok {
		rc.drops.add(dropBufferFull, 1)
		return
	}
	r.kind, r.flag, r.v, r.reason, r.inExpt, r.user = recordEvaluation, f, v, reason, inExpt, *u
	rc.committed(pos)
}

// putMetric records a metric, written in place in the queue. It returns false, recording
// nothing, once the recorder is closed.
func (rc *recorder) putMetric(u *User, name string, value float64) bool {
	if rc.closed.Load() {
		return false
	}
	r, pos, ok := rc.queue.Claim()
	if !ok {
		rc.drops.add(dropBufferFull, 1)
		return true
	}
	r.kind, r.user, r.metric, r.value = recordMetric, *u, name, value
	rc.committed(pos)
	return true
}

// committed publishes the record claimed at pos, and wakes the consumer if need be.
func (rc *recorder) committed(pos uint64) {
	rc.queue.Commit(pos)
	if pos%256 == 0 || rc.parked.Load() || rc.closed.Load() {
		rc.afterCommit()
	}
}

// afterCommit wakes the consumer, or, once the recorder is closed, counts what a put that
// passed the closed check as close began committed after close took what was left.
func (rc *recorder) afterCommit() {
	if rc.closed.Load() {
		rc.mu.Lock()
		if rc.swept {
			rc.sweepLocked()
		}
		rc.mu.Unlock()
		return
	}
	rc.nudge()
}

// nudge wakes the consumer after a put if it sleeps, or if the queue is half full: the
// producers check that every 256 events.
func (rc *recorder) nudge() {
	if rc.queue.Len() > rc.capacity/2 {
		// Filling up between two polls: take them now.
		select {
		case rc.wake <- struct{}{}:
		default:
		}
		return
	}
	rc.wakeUp()
}

// flushAfter asks the consumer for a recordFlush once it has taken every record before
// queue position pos; the returned channel is closed when the events before it are sent or
// given up.
func (rc *recorder) flushAfter(pos uint64) chan struct{} {
	done := make(chan struct{})
	rc.mu.Lock()
	rc.flushes = append(rc.flushes, flushRequest{pos: pos, done: done})
	rc.mu.Unlock()
	rc.requestFlush()
	return done
}

// requestFlush asks the consumer to give the sink a recordFlush after what it holds.
func (rc *recorder) requestFlush() {
	rc.flush.Store(true)
	rc.wakeUp()
}

// wakeUp wakes the consumer if it sleeps.
func (rc *recorder) wakeUp() {
	if rc.parked.Load() && rc.parked.CompareAndSwap(true, false) {
		select {
		case rc.wake <- struct{}{}:
		default:
		}
	}
}

// start gives the sink its recordStart and runs the consumer until close.
func (rc *recorder) start() {
	if rc.sink != nil {
		rc.sink(&record{kind: recordStart}, time.Now())
	}
	rc.wg.Add(1)
	go rc.run()
}

func (rc *recorder) run() {
	defer rc.wg.Done()
	defer close(rc.stopped)
	poll := time.NewTimer(pollInterval)
	defer poll.Stop()
	idle := 0
	for {
		if rc.drain() > 0 {
			idle = 0
		} else {
			idle++
		}
		waiting := rc.serveFlushes()
		if rc.sink == nil {
			rc.reportDrops(time.Now(), false)
		}
		var tick <-chan time.Time
		if idle < idlePolls || waiting {
			// Records are coming: take them again after a while, without a wake-up.
			poll.Reset(pollInterval)
			tick = poll.C
		} else {
			rc.parked.Store(true)
			if rc.queue.Len() > 0 || rc.flush.Load() {
				// A record arrived after the drain but before parked was visible.
				rc.parked.Store(false)
				idle = 0
				continue
			}
		}
		select {
		case <-tick:
		case <-rc.wake:
			idle = 0
		case <-rc.stop:
			rc.parked.Store(false)
			// Puts that passed the closed check finish within moments.
			for rc.drain(); rc.queue.Len() > 0; rc.drain() {
				runtime.Gosched()
			}
			rc.serveFlushes()
			if rc.sink != nil {
				rc.sink(&record{kind: recordClose}, rc.deadline)
			}
			return
		}
		rc.parked.Store(false)
	}
}

// drain takes every queued record and delivers it, and returns how many it took.
func (rc *recorder) drain() int {
	var r record
	var at time.Time
	n := 0
	for ; rc.queue.Take(&r); n++ {
		if n%256 == 0 {
			at = time.Now()
		}
		rc.deliver(&r, at)
	}
	if rc.sink == nil {
		rc.finish(n) // the listeners have them
	}
	return n
}

// serveFlushes gives the sink a recordFlush if one was asked for, with the FlushAndWait
// calls whose records have all been taken. It reports whether some calls still wait.
func (rc *recorder) serveFlushes() (waiting bool) {
	if !rc.flush.Load() || !rc.flush.CompareAndSwap(true, false) {
		return false
	}
	taken := rc.queue.Taken()
	var ready []chan struct{}
	rc.mu.Lock()
	kept := rc.flushes[:0]
	for _, f := range rc.flushes {
		if int64(taken-f.pos) >= 0 {
			ready = append(ready, f.done)
		} else {
			kept = append(kept, f)
		}
	}
	clear(rc.flushes[len(kept):])
	rc.flushes = kept
	rc.mu.Unlock()
	if len(kept) > 0 {
		rc.flush.Store(true) // ask again at the next poll
	}
	now := time.Now()
	if len(ready) == 0 {
		rc.deliver(&record{kind: recordFlush}, now)
	}
	for _, done := range ready {
		rc.deliver(&record{kind: recordFlush, done: done}, now)
	}
	return len(kept) > 0
}

func (rc *recorder) deliver(r *record, at time.Time) {
	if r.kind == recordEvaluation && rc.listeners.has(EventEvaluation) {
		rc.listeners.emit(Event{
			Type:    EventEvaluation,
			Time:    at,
			Message: r.flag.key + ": " + r.reason.String(),
			Evaluation: &Evaluation{
				FlagKey:      r.flag.key,
				User:         r.user,
				Value:        r.v.value,
				VariationID:  r.v.id,
				Reason:       r.reason,
				InExperiment: r.inExpt,
			},
		})
	}
	if rc.sink != nil {
		rc.sink(r, at)
		return
	}
	if r.kind == recordFlush && r.done != nil {
		close(r.done)
	}
}

// finish frees the queue slots of n events that have been sent or given up.
func (rc *recorder) finish(n int) { rc.queue.Release(n) }

// pending returns the number of events recorded and not finished: at most the capacity.
func (rc *recorder) pending() int { return rc.queue.Used() }

// close stops recording, lets the consumer deliver what is queued and the sink finish
// (within deadline), and waits for them. Events put after that are counted as dropped.
func (rc *recorder) close(deadline time.Time) {
	if !rc.closed.CompareAndSwap(false, true) {
		return
	}
	rc.send.Store(false)
	rc.deadline = deadline
	close(rc.stop)
	rc.wg.Wait()
	rc.mu.Lock()
	// A put that passed the closed check just before close may have queued a record after
	// the consumer's last drain; one that commits later counts its own (committed).
	rc.sweepLocked()
	rc.swept = true
	for _, f := range rc.flushes {
		close(f.done)
	}
	rc.flushes = nil
	rc.mu.Unlock()
}

// sweepLocked takes the records left in the queue after the consumer stopped and counts them
// as dropped. rc.mu serializes it: the consumer is gone, so its callers take its place.
func (rc *recorder) sweepLocked() {
	var r record
	n := 0
	for ; rc.queue.Take(&r); n++ {
	}
	rc.drops.add(dropClosing, n)
	rc.finish(n)
}

// dropReason says why events were dropped.
type dropReason uint8

const (
	dropBufferFull dropReason = iota
	dropEmptyVariation
	dropOversize
	dropBadRequest
	dropTooLarge
	dropStatus
	dropUnauthorized
	dropRetries
	dropClosing
	numDropReasons
)

var dropWhy = [numDropReasons]string{
	dropBufferFull:     "buffer full",
	dropEmptyVariation: "empty variation value or id (FeatBit rejects it)",
	dropOversize:       "event larger than EventBatchBytes",
	dropBadRequest:     "batch rejected by FeatBit (400)",
	dropTooLarge:       "batch too large for the server (413)",
	dropStatus:         "batch refused with an unexpected HTTP status",
	dropUnauthorized:   "env secret refused by FeatBit (401/403); events are no longer sent",
	dropRetries:        "not delivered after retries",
	dropClosing:        "not sent before Close's deadline",
}

// dropCounts counts dropped events by reason.
type dropCounts [numDropReasons]atomic.Uint64

func (d *dropCounts) add(why dropReason, n int) { d[why].Add(uint64(n)) }

func (d *dropCounts) total() uint64 {
	var t uint64
	for i := range d {
		t += d[i].Load()
	}
	return t
}

// dropLogInterval is the least time between two log warnings about dropped events.
const dropLogInterval = 30 * time.Second

// dropReporter turns drop counts into EventEventsDropped events (at most one per flush
// interval, with the counts since the last one) and log warnings (at most one per
// dropLogInterval).
type dropReporter struct {
	mu       sync.Mutex
	interval time.Duration // least time between two events; set by the sender
	warn     func(msg string, args ...any)
	emitted  [numDropReasons]uint64
	lastEmit time.Time
	logged   [numDropReasons]uint64
	lastLog  time.Time
}

// reportDrops reports the drops not yet reported, unless the last report is too recent and
// final is false. The listeners and the logger are called after the reporter's lock is
// released.
func (rc *recorder) reportDrops(now time.Time, final bool) {
	var counts [numDropReasons]uint64
	var total uint64
	for i := range counts {
		counts[i] = rc.drops[i].Load()
		total += counts[i]
	}
	p := &rc.reporter
	p.mu.Lock()
	emitN, emitWhy := dropsSince(&counts, &p.emitted)
	emit := emitN > 0 && (final || now.Sub(p.lastEmit) >= p.interval)
	if emit {
		p.emitted, p.lastEmit = counts, now
	}
	logN, logWhy := dropsSince(&counts, &p.logged)
	log := logN > 0 && (final || p.lastLog.IsZero() || now.Sub(p.lastLog) >= dropLogInterval)
	if log {
		p.logged, p.lastLog = counts, now
	}
	p.mu.Unlock()
	if emit {
		rc.listeners.emit(Event{
			Type:    EventEventsDropped,
			Time:    now,
			Message: strconv.FormatUint(emitN, 10) + " insight events dropped: " + emitWhy,
			Dropped: &Dropped{Count: emitN, Total: total, Why: emitWhy},
		})
	}
	if log {
		p.warn("fbclient: insight events dropped", "dropped", logN, "total", total, "why", logWhy)
	}
}

// dropsSince returns how many events were dropped between two count snapshots, and why:
// one reason, or each reason with its count.
func dropsSince(now, before *[numDropReasons]uint64) (uint64, string) {
	var n uint64
	var reasons []string
	last := 0
	for i := range now {
		if d := now[i] - before[i]; d > 0 {
			n += d
			last = i
			reasons = append(reasons, dropWhy[i]+": "+strconv.FormatUint(d, 10))
		}
	}
	if len(reasons) == 1 {
		return n, dropWhy[last]
	}
	return n, strings.Join(reasons, "; ")
}
