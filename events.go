package fbclient

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/featflags/fbclient/internal/ring"
)

// record is what the evaluation path hands to the event pipeline: a compact, pointer-light
// copy of one evaluation or metric. The user is copied by value; its attribute slice is
// shared, which is safe because Users are immutable.
type record struct {
	kind    recordKind
	flag    *flag
	v       *variation
	reason  Reason
	inExpt  bool
	user    User
	metric  string
	value   float64
	created int64 // Unix ms; set for metrics, which carry their own time
}

type recordKind uint8

const (
	recordEvaluation recordKind = iota + 1
	recordMetric
)

// recorder moves records from the evaluation path to a background goroutine without
// blocking or allocating: a bounded lock-free queue, and a wake-up signal sent only when the
// consumer sleeps. The consumer stamps evaluation records with the time it takes them, which
// is within a millisecond of the evaluation as long as it keeps up (FeatBit's resolution is a
// millisecond), and feeds them to EventEvaluation listeners and to the insight sender.
type recorder struct {
	queue   *ring.Queue[record]
	parked  atomic.Bool
	wake    chan struct{}
	dropped atomic.Uint64

	// send is set while events go to FeatBit; otherwise records are only built while
	// someone listens for EventEvaluation.
	send      atomic.Bool
	listeners *listeners
	sink      func(r *record, at time.Time) // the insight sender; nil when send is false

	stop chan struct{}
	wg   sync.WaitGroup
}

func newRecorder(capacity int, send bool, ls *listeners) *recorder {
	rc := &recorder{
		queue:     ring.New[record](capacity),
		wake:      make(chan struct{}, 1),
		listeners: ls,
		stop:      make(chan struct{}),
	}
	rc.send.Store(send)
	return rc
}

// wanted reports whether an evaluation must be recorded: events are sent, or someone
// listens. It is one or two atomic loads.
func (rc *recorder) wanted() bool {
	return rc.send.Load() || rc.listeners.has(EventEvaluation)
}

// put hands r to the consumer. It never blocks: if the queue is full, r is dropped and
// counted.
func (rc *recorder) put(r *record) {
	if !rc.queue.Put(r) {
		rc.dropped.Add(1)
		return
	}
	if rc.parked.Load() && rc.parked.CompareAndSwap(true, false) {
		select {
		case rc.wake <- struct{}{}:
		default:
		}
	}
}

// start runs the consumer until close.
func (rc *recorder) start() {
	rc.wg.Add(1)
	go rc.run()
}

func (rc *recorder) run() {
	defer rc.wg.Done()
	for {
		rc.drain()
		rc.parked.Store(true)
		if rc.queue.Len() > 0 {
			// A record arrived after the drain but before parked was visible.
			rc.parked.Store(false)
			continue
		}
		select {
		case <-rc.wake:
		case <-rc.stop:
			rc.drain()
			return
		}
	}
}

// drain takes every queued record and delivers it.
func (rc *recorder) drain() {
	var r record
	var at time.Time
	for n := 0; rc.queue.Get(&r); n++ {
		if n%256 == 0 {
			at = time.Now()
		}
		rc.deliver(&r, at)
	}
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
	}
}

// close stops the consumer after it has delivered what is queued.
func (rc *recorder) close() {
	select {
	case <-rc.stop:
		return
	default:
	}
	rc.send.Store(false)
	close(rc.stop)
	rc.wg.Wait()
}
