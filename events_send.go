package fbclient

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/featflags/fbclient/internal/backoff"
)

// eventTimings are the timings of the event pipeline. Production code uses the defaults;
// this package's tests shorten them.
type eventTimings struct {
	flushEvery time.Duration // a batch goes out this long after its first event at the latest
	// linger is how long records may wait in the queue while they keep coming: the
	// dispatcher takes them (and stamps them) at most this long after they were recorded,
	// and wakes at most once per linger while records flow (sooner if the queue fills up).
	linger time.Duration
	// wait turns a wait the policy chose (a backoff or a Retry-After) into the wait taken.
	wait func(time.Duration) time.Duration
	// requestTimeout bounds a request with a body of n bytes.
	requestTimeout func(n int) time.Duration
}

func defaultEventTimings(flushEvery time.Duration) eventTimings {
	return eventTimings{
		flushEvery:     flushEvery,
		linger:         min(max(flushEvery/10, time.Millisecond), maxLinger),
		wait:           func(d time.Duration) time.Duration { return d },
		requestTimeout: requestTimeout,
	}
}

// dispatcher is the event pipeline's goroutine. It owns everything after the queue: it takes
// records (stamping them and feeding EventEvaluation listeners), encodes them into batches,
// decides when a batch goes out, starts the requests (at most senders at once, each on a
// goroutine whose result comes back on results), keeps batches through outages, serves
// flushes and Close, and reports drops. Nothing else touches its fields.
//
// Batches: events are encoded as they are taken into the open batch. It goes out when it
// holds EventBatchSize events, FlushInterval after its first event, or on a flush, if a
// request slot is free; while every slot is busy or the endpoint fails it keeps growing, up
// to EventBatchBytes, and is then sealed and held. So batches are small at low rates and
// grow with the backlog, and one wake-up of the dispatcher takes everything recorded since
// the last one.
type dispatcher struct {
	rc  *recorder
	t   eventTimings
	log *slog.Logger

	url        string
	secret     string
	hc         *http.Client
	batchSize  int
	batchBytes int

	enc       itemEncoder
	open      []byte    // '[' and the items of the open batch
	openItems int       // items in open
	openSince time.Time // when its first event was taken
	sealed    uint64    // sequence number of the last sealed batch
	held      []*batch  // sealed batches waiting to be sent, oldest first
	inFlight  []*batch  // batches being sent
	waiters   []flushWaiter

	failing    bool      // the endpoint fails: only probes are sent
	probeAt    time.Time // when the next probe may start
	retryAfter time.Time // the server asked for no request before this
	bo         *backoff.Backoff
	refused    bool // the secret is refused: nothing is sent any more

	closing  bool
	deadline time.Time // Close's deadline

	results chan response
	ctx     context.Context
	cancel  context.CancelFunc // aborts the requests in flight

	reporter                      dropReporter
	rejectLog, failLog, unsentLog logLimit
}

// batch is a sealed request body.
type batch struct {
	seq      uint64
	body     []byte
	items    int
	attempts int
}

// flushWaiter is a FlushAndWait waiting for the batches up to seq.
type flushWaiter struct {
	seq  uint64
	done chan struct{}
}

func newDispatcher(c *Client, rc *recorder, t eventTimings) *dispatcher {
	d := &dispatcher{
		rc:         rc,
		t:          t,
		log:        c.log,
		secret:     c.cfg.EnvSecret,
		batchSize:  c.cfg.EventBatchSize,
		batchBytes: c.cfg.EventBatchBytes,
		open:       []byte{'['},
		bo:         backoff.New(retryFirst, retryMax, 0, nil),
		results:    make(chan response, senders),
		rejectLog:  logLimit{every: refusalLogInterval},
		failLog:    logLimit{every: refusalLogInterval},
		unsentLog:  logLimit{every: refusalLogInterval},
	}
	d.reporter.interval = t.flushEvery
	if c.cfg.eventsURL != nil {
		d.url = c.cfg.eventsURL.String()
	}
	d.hc = c.cfg.HTTPClient
	if tr := c.cfg.ownTransport; tr != nil {
		// The default client's flat timeout would cut a large batch short on a slow link:
		// each request gets a timeout sized for its body instead (requestTimeout).
		d.hc = &http.Client{Transport: tr}
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

func (d *dispatcher) run() {
	rc := d.rc
	defer close(rc.stopped)
	defer d.cancel()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// While records come, the dispatcher takes them once per linger (or when the queue fills
	// up), not on every wake-up: lingerUntil is the next time. Otherwise it is parked, and
	// the first record wakes it to start a linger.
	var lingerUntil time.Time
	take := true
	for {
		now := time.Now()
		if take {
			lingerUntil = time.Time{}
			if d.drain(now, rc.queue.Taken()) > 0 {
				lingerUntil = now.Add(d.t.linger)
			}
		}
		d.dispatch(now)
		if d.rc.send {
			d.reportDrops(now, false)
		}
		if d.closing {
			if d.finished() {
				d.reportDrops(now, true)
				return
			}
			if !now.Before(d.deadline) {
				d.abort()
				d.reportDrops(time.Now(), true)
				return
			}
		}
		next := d.due()
		if !lingerUntil.IsZero() {
			next = earliest(next, lingerUntil)
		} else {
			rc.parked.Store(true)
			if rc.queue.Len() > 0 { // a record came after the drain
				rc.parked.Store(false)
				take = true
				continue
			}
		}
		var tick <-chan time.Time
		if !next.IsZero() {
			timer.Reset(next.Sub(now))
			tick = timer.C
		}
		take = true
		select {
		case <-rc.wake:
			if lingerUntil.IsZero() {
				// The first record after a pause: take it with those that follow, at
				// most one linger later.
				lingerUntil, take = time.Now().Add(d.t.linger), false
			}
		case <-tick:
		case <-rc.flush:
			d.drain(time.Now(), rc.queue.Head())
			d.seal()
		case f := <-rc.flushWait:
			d.drain(time.Now(), f.upTo)
			d.seal()
			d.waiters = append(d.waiters, flushWaiter{seq: d.sealed, done: f.done})
			d.serveWaiters()
		case r := <-d.results:
			d.handle(r, time.Now())
			take = false
		case dl := <-rc.closing:
			d.startClosing(dl)
		}
		rc.parked.Store(false)
		timer.Stop()
	}
}

// earliest returns the earlier of two times, ignoring zero times.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// due returns when the dispatcher has something to do without being woken: a batch to send,
// a probe, drops to report, Close's deadline. The zero time means never.
func (d *dispatcher) due() time.Time {
	var next time.Time
	if d.rc.send && !d.refused {
		switch {
		case d.failing:
			if len(d.inFlight) == 0 && (len(d.held) > 0 || d.openItems > 0) {
				next = d.probeAt
			}
		case d.openItems > 0 && len(d.inFlight) < senders:
			next = d.openSince.Add(d.t.flushEvery)
		}
		counts, _ := d.rc.dropCounts()
		next = earliest(next, d.reporter.due(&counts))
	}
	if d.closing {
		next = earliest(next, d.deadline)
	}
	return next
}

// drain takes the committed records, and waits for the ones claimed before queue position
// upTo: a producer commits right after it claims. The records are stamped with the time
// they are taken. It returns how many it took.
func (d *dispatcher) drain(now time.Time, upTo uint64) int {
	q := d.rc.queue
	var r record
	n, free := 0, 0
	for {
		for ; q.Take(&r); n++ {
			if n%256 == 255 {
				now = time.Now()
			}
			if r.kind == recordEvaluation && d.rc.listeners.has(EventEvaluation) {
				d.rc.listeners.emit(evaluationEvent(&r, now))
			}
			if !d.rc.send {
				free++
				continue
			}
			d.add(&r, now)
		}
		if int64(upTo-q.Taken()) <= 0 {
			break
		}
		runtime.Gosched()
	}
	if free > 0 {
		d.rc.counts.listened.Add(uint64(free))
		q.Release(free)
	}
	return n
}

// evaluationEvent is the EventEvaluation event of an evaluation record taken at at.
func evaluationEvent(r *record, at time.Time) Event {
	return Event{
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
	}
}

// add encodes one event into the open batch, sealing the batch when the event does not fit.
func (d *dispatcher) add(r *record, at time.Time) {
	if d.refused {
		d.drop(dropUnauthorized, 1)
		return
	}
	if r.kind == recordEvaluation && (r.v.value == "" || r.v.id == "") {
		d.drop(dropEmptyVariation, 1)
		if d.unsentLog.allow(at) {
			d.log.Warn("fbclient: an evaluation event is not sent: FeatBit rejects a variation whose value or id is empty", "flag", r.flag.key)
		}
		return
	}
	mark := len(d.open)
	if d.openItems > 0 {
		d.open = append(d.open, ',')
	}
	start := len(d.open)
	d.open = d.enc.appendItem(d.open, r, at)
	if len(d.open)+1 > d.batchBytes { // +1 for the closing ']'
		size := len(d.open) - start
		if 2+size > d.batchBytes {
			d.open = d.open[:mark]
			d.drop(dropOversize, 1)
			if d.unsentLog.allow(at) {
				d.log.Warn("fbclient: an insight event is not sent: it is larger than EventBatchBytes", "bytes", size, "eventBatchBytes", d.batchBytes)
			}
			return
		}
		// The item starts the next batch.
		d.sealAt(mark)
		d.open = append(d.open[:1], d.open[start:start+size]...)
	}
	d.openItems++
	if d.openItems == 1 {
		d.openSince = at
	}
}

// drop gives up n events that were not put in a batch.
func (d *dispatcher) drop(why dropReason, n int) {
	d.rc.counts.drop(why, n)
	d.rc.queue.Release(n)
}

// seal seals the open batch, if it has events, and holds it for sending.
func (d *dispatcher) seal() { d.sealAt(len(d.open)) }

// sealAt seals the first n bytes of the open batch, which hold all its items, and leaves the
// rest of the buffer in place after the opening '['. The batch gets a copy of exactly its
// bytes: the buffer is reused, and a request body is never touched after it is handed to
// net/http, which may read it after Do returns.
func (d *dispatcher) sealAt(n int) {
	if d.openItems == 0 {
		return
	}
	body := make([]byte, n+1)
	copy(body, d.open[:n])
	body[n] = ']'
	d.sealed++
	d.held = append(d.held, &batch{seq: d.sealed, body: body, items: d.openItems})
	d.openItems = 0
	if n == len(d.open) {
		d.open = d.open[:1]
	}
}

// dispatch starts the requests the policy allows now.
func (d *dispatcher) dispatch(now time.Time) {
	if !d.rc.send || d.refused {
		return
	}
	if d.failing {
		if len(d.inFlight) > 0 || now.Before(d.probeAt) {
			return
		}
		if len(d.held) == 0 {
			d.seal()
		}
		if len(d.held) > 0 {
			d.start(d.held[0])
			d.held = d.held[1:]
		}
		return
	}
	for len(d.inFlight) < senders {
		if len(d.held) == 0 {
			if d.openItems == 0 || (d.openItems < d.batchSize && !d.closing && now.Before(d.openSince.Add(d.t.flushEvery))) {
				return
			}
			d.seal()
		}
		d.start(d.held[0])
		d.held[0] = nil
		d.held = d.held[1:]
	}
}
