package fbclient

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/featflags/fbclient/internal/mpsc"
)

// Track records that user performed the custom event eventName, a FeatBit metric with the
// numeric value 1, to be sent to FeatBit with the next batch of insight events. It is
// TrackMetric(user, eventName, 1).
func (c *Client) Track(user User, eventName string) error {
	return c.TrackMetric(user, eventName, 1)
}

// TrackMetric records a custom metric event for user: FeatBit's eventName with a numeric
// value, sent to FeatBit with the next batch of insight events and stamped, like evaluation
// events, with the time the SDK takes it from its buffer: at most FlushInterval/10 (100 ms by
// default) after the call, in recording order. It never blocks, does no I/O and does not
// allocate.
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
	if rc := c.events; rc.send && !rc.putMetric(&user, eventName, value) {
		return ErrClosed // Close ran since the check above
	}
	return nil
}

// Flush starts sending the insight events the client holds without waiting for the next
// flush interval, and returns at once. FlushAndWait waits for the result.
func (c *Client) Flush() {
	if c == nil || c.isClosed() || !c.events.send {
		return
	}
	select {
	case c.events.flush <- struct{}{}:
	default: // a flush is already asked for
	}
}

// FlushAndWait sends the insight events the client holds and waits until every event
// recorded before the call has been sent or given up (see DroppedEvents), or until ctx ends,
// whichever comes first. It returns nil in the first case, an error wrapping ctx's error in
// the second, and ErrClosed if the client was closed before the call. It returns nil at
// once when events are not sent (Offline, DisableEvents). While the events endpoint fails,
// the events are kept and FlushAndWait waits for it to recover. A Close during the wait ends
// it with nil once Close has sent or given up everything.
func (c *Client) FlushAndWait(ctx context.Context) error {
	if c == nil || c.isClosed() {
		return ErrClosed
	}
	rc := c.events
	if !rc.send {
		return nil
	}
	req := flushWait{upTo: rc.queue.Head(), done: make(chan struct{})}
	select {
	case rc.flushWait <- req:
	case <-rc.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fbclient: flushing insight events: %w", ctx.Err())
	}
	select {
	case <-req.done:
		return nil
	case <-rc.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fbclient: flushing insight events: %w", ctx.Err())
	}
}

// DroppedEvents returns how many insight events the client has dropped since it started:
// events that found the buffer full (Config.EventCapacity), that FeatBit refused (an error
// status such as 400 or 413, and 401/403 with every later event after it), that Close could
// not deliver, and events FeatBit would reject that are never sent (a variation whose value
// or id is empty, an event larger than Config.EventBatchBytes). Events kept while the
// endpoint fails are not dropped. Every drop is also reported to EventEventsDropped
// listeners and, rate-limited, in the log. With Offline or DisableEvents no insight event
// exists, so nothing is counted.
func (c *Client) DroppedEvents() uint64 {
	if c == nil {
		return 0
	}
	var n uint64
	for _, d := range c.events.stats().Dropped {
		n += d
	}
	return n
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// newEvents returns the client's insight-event pipeline, started: its recorder, and a
// dispatcher that sends to FeatBit unless the client is Offline or has DisableEvents.
func (c *Client) newEvents(tune ...func(*eventTimings)) *recorder {
	send := !c.cfg.Offline && !c.cfg.DisableEvents
	rc := newRecorder(c.cfg.EventCapacity, send, c.listeners)
	t := defaultEventTimings(c.cfg.FlushInterval)
	for _, f := range tune {
		f(&t)
	}
	d := newDispatcher(c, rc, t)
	go d.run()
	return rc
}

// closeEvents stops recording, sends what the client holds until deadline, gives up the
// rest and stops the pipeline. It returns an error matching ErrEventsUndelivered if it gave
// events up.
func (c *Client) closeEvents(deadline time.Time) error {
	if n := c.events.close(deadline); n > 0 {
		return fmt.Errorf("%w: %d events given up at Close", ErrEventsUndelivered, n)
	}
	return nil
}

// record is what the evaluation path hands to the event pipeline: a compact, pointer-light
// copy of one evaluation or metric. The user is copied by value; its attribute slice is
// shared, which is safe because Users are immutable.
type record struct {
	kind   recordKind
	reason Reason
	inExpt bool
	flag   *flag
	v      *variation
	user   User
	metric string
	value  float64
}

type recordKind uint8

const (
	recordEvaluation recordKind = iota + 1
	recordMetric
)

// nudgeEvery: a producer checks every nudgeEvery records whether the queue is filling up
// while the dispatcher lingers, and wakes it if so.
const nudgeEvery = 256

// recorder is the part of the event pipeline that the evaluation path touches. Records go
// into a bounded lock-free queue without blocking or allocating; the dispatcher (events_send.go)
// takes them. Control (flush, close) reaches the dispatcher on channels of its own.
//
// A record keeps its slot in the queue until it is finished: sent, or given up. The queue's
// capacity therefore bounds the events recorded and not finished, wherever they are (queued,
// in a batch being built, kept during an outage, or being sent), and the memory they hold,
// however long the endpoint fails. A record that finds no slot is dropped and counted.
type recorder struct {
	queue *mpsc.Queue[record]
	_     [64]byte
	// parked is set while the dispatcher sleeps until a record arrives: the producer that
	// finds it set wakes the dispatcher.
	parked atomic.Bool
	closed atomic.Bool
	_      [64]byte
	full   stripedCounter // records that found the queue full

	send      bool // events go to FeatBit; otherwise records are made only for listeners
	nudgeLen  int  // queue length at which a producer wakes a lingering dispatcher
	listeners *listeners

	wake      chan struct{}  // records arrived, or the queue fills up
	flush     chan struct{}  // Flush
	flushWait chan flushWait // FlushAndWait
	closing   chan time.Time // Close, with its deadline
	stopped   chan struct{}  // closed when the dispatcher has returned
	counts    eventCounts    // kept by the dispatcher, read by anyone
	lateMu    sync.Mutex     // serializes the sweeps of records committed after close
	swept     bool           // close has counted what was left; later puts count their own
	given     atomic.Int64   // events given up by close
	closeOnce sync.Once
}

// flushWait asks the dispatcher to send every record before queue position upTo and to close
// done when they are all sent or given up.
type flushWait struct {
	upTo uint64
	done chan struct{}
}

func newRecorder(capacity int, send bool, ls *listeners) *recorder {
	return &recorder{
		queue:     mpsc.New[record](capacity),
		send:      send,
		nudgeLen:  max(capacity/4, 1),
		listeners: ls,
		wake:      make(chan struct{}, 1),
		flush:     make(chan struct{}, 1),
		flushWait: make(chan flushWait),
		closing:   make(chan time.Time, 1),
		stopped:   make(chan struct{}),
	}
}

// wanted reports whether an evaluation must be recorded: events are sent, or someone
// listens. It is one or two loads.
func (rc *recorder) wanted() bool {
	return rc.send || rc.listeners.has(EventEvaluation)
}

// putEvaluation records an evaluation, written in place in the queue.
func (rc *recorder) putEvaluation(f *flag, v *variation, reason Reason, inExpt bool, u *User) {
	if rc.closed.Load() {
		return
	}
	r, pos, ok := rc.queue.Claim()
	if !ok {
		rc.full.add()
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
		rc.full.add()
		return true
	}
	r.kind, r.user, r.metric, r.value = recordMetric, *u, name, value
	rc.committed(pos)
	return true
}

// committed publishes the record claimed at pos and wakes the dispatcher if it sleeps, or
// if the queue fills up while it lingers.
func (rc *recorder) committed(pos uint64) {
	rc.queue.Commit(pos)
	if rc.parked.Load() {
		if rc.parked.CompareAndSwap(true, false) {
			rc.signal()
		}
	} else if pos%nudgeEvery == 0 && rc.queue.Len() >= rc.nudgeLen {
		rc.signal()
	}
	if rc.closed.Load() {
		rc.lateCommit()
	}
}

func (rc *recorder) signal() {
	select {
	case rc.wake <- struct{}{}:
	default:
	}
}

// lateCommit counts, once close has swept the queue, a record whose put passed the closed
// check as close began and committed after the sweep.
func (rc *recorder) lateCommit() {
	rc.lateMu.Lock()
	defer rc.lateMu.Unlock()
	if rc.swept {
		rc.sweepLocked()
	}
}

// close stops recording, asks the dispatcher to deliver what it holds within deadline and
// waits for it to finish. It returns the number of events given up. Calls after the first
// return 0.
func (rc *recorder) close(deadline time.Time) int64 {
	first := false
	rc.closeOnce.Do(func() { first = true })
	if !first {
		return 0
	}
	rc.closed.Store(true)
	rc.closing <- deadline
	<-rc.stopped
	rc.lateMu.Lock()
	// A put that passed the closed check just before close may have queued a record after
	// the dispatcher's last drain; one that commits later counts its own (committed).
	rc.sweepLocked()
	rc.swept = true
	rc.lateMu.Unlock()
	return rc.given.Load()
}

// sweepLocked takes the records left in the queue after the dispatcher stopped and counts
// them as given up. lateMu serializes it: the dispatcher is gone, so its callers take its
// place as the queue's consumer.
func (rc *recorder) sweepLocked() {
	var r record
	n := 0
	for ; rc.queue.Take(&r); n++ {
	}
	if n == 0 {
		return
	}
	if rc.send {
		rc.counts.drop(dropClosing, n)
		rc.given.Add(int64(n))
	}
	rc.queue.Release(n)
}

// stripedCounter is a counter that many goroutines add to at once without contending for
// one cache line: each goroutine adds to the stripe picked by the address of its stack, which
// differs between goroutines and stays put while the goroutine runs, and a read sums the
// stripes. Stripes are 128 bytes apart, so that neighbours are not fetched together.
type stripedCounter [16]struct {
	n atomic.Uint64
	_ [120]byte
}

func (s *stripedCounter) add() {
	var local byte
	// Goroutine stacks are at least 2 KiB apart; the multiply spreads them over the stripes.
	i := (uint64(uintptr(unsafe.Pointer(&local))) >> 11) * 0x9E3779B97F4A7C15 >> 60
	s[i].n.Add(1)
}

func (s *stripedCounter) load() uint64 {
	var t uint64
	for i := range s {
		t += s[i].n.Load()
	}
	return t
}
