package fbclient

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/featflags/fbclient/internal/backoff"
)

// Delivery policy of insight batches. Each outcome of a request, and what the dispatcher
// does about it:
//
//	2xx                              delivered; the endpoint works again if it was failing
//	network error, timeout,          kept: the batch goes back among the held batches, in
//	408, 429, 5xx                    order; the endpoint is failing: nothing more is sent but
//	                                 one probe at a time (the oldest batch), after a backoff
//	                                 or the Retry-After the server asked for, whichever is
//	                                 longer; new events are kept until EventCapacity is full
//	401, 403                         the secret is refused: this batch, the held ones and every
//	                                 later event are dropped; one error is logged
//	any other status (400, 413, …)   this batch is dropped and counted; sending goes on
//	failure during Close             what is left is given up: Close tries a failing
//	                                 endpoint once more, and does not wait for a backoff
const (
	// senders is the number of requests that may be in flight at once.
	senders = 4
	// retryFirst and retryMax bound the backoff between probes of a failing endpoint.
	retryFirst = 250 * time.Millisecond
	retryMax   = 30 * time.Second
	// eventsMaxRetryAfter caps the wait a Retry-After header from the events endpoint can
	// ask for.
	eventsMaxRetryAfter = time.Minute
	// responseTimeout and slowestLink size a request's timeout: the time the body takes at
	// slowestLink bytes per second, plus responseTimeout.
	responseTimeout = 10 * time.Second
	slowestLink     = 1 << 10
	// maxLinger bounds how long a record may wait in the queue while records keep coming
	// (FlushInterval/10 otherwise), and so how late it is stamped.
	maxLinger = 100 * time.Millisecond
	// refusalLogInterval is the least time between two log records about refused batches,
	// a failing endpoint, or events never sent (each kind on its own).
	refusalLogInterval = 30 * time.Second
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
	rand           func() float64 // jitter of the backoff; nil means math/rand
}

func defaultEventTimings(flushEvery time.Duration) eventTimings {
	return eventTimings{
		flushEvery:     flushEvery,
		linger:         min(max(flushEvery/10, time.Millisecond), maxLinger),
		wait:           func(d time.Duration) time.Duration { return d },
		requestTimeout: requestTimeout,
	}
}

// requestTimeout is the timeout of a request whose body has n bytes: long enough for the
// body over a slow link, so that a batch FeatBit receives is not sent again.
func requestTimeout(n int) time.Duration {
	return responseTimeout + time.Duration(n)*time.Second/slowestLink
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

// response is the outcome of one request.
type response struct {
	b          *batch
	status     int
	retryAfter time.Duration
	detail     string // the start of the response body for a failure status
	err        error
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
		bo:         backoff.New(retryFirst, retryMax, 0, t.rand),
		results:    make(chan response, senders),
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
	// the first record wakes it.
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

// start sends b on a goroutine of its own, which hands the result back on d.results.
func (d *dispatcher) start(b *batch) {
	if b.attempts > 0 {
		d.rc.counts.retried.Add(uint64(b.items))
	}
	b.attempts++
	d.inFlight = append(d.inFlight, b)
	go func() { d.results <- d.post(b) }()
}

// handle applies the delivery policy to the result of a request.
func (d *dispatcher) handle(r response, now time.Time) {
	b := r.b
	d.inFlight = slices.DeleteFunc(d.inFlight, func(x *batch) bool { return x == b })
	switch classifyAttempt(r.status, r.err) {
	case attemptSent:
		if d.failing {
			d.failing = false
			d.bo.Reset()
			d.log.Info("fbclient: the events endpoint works again; sending the insight events kept meanwhile", "held", d.heldEvents())
		}
		d.delivered(b)
	case attemptRefused:
		d.refuse(r.status)
		d.finish(b, dropUnauthorized)
	case attemptRejected:
		if d.refused {
			d.finish(b, dropUnauthorized)
			break
		}
		why := dropStatus
		switch r.status {
		case http.StatusBadRequest:
			why = dropBadRequest
		case http.StatusRequestEntityTooLarge:
			why = dropTooLarge
		}
		if d.rejectLog.allow(now) {
			d.log.Warn("fbclient: FeatBit refused a batch of insight events; it is dropped", "status", r.status, "events", b.items, "bytes", len(b.body), "detail", r.detail)
		}
		d.finish(b, why)
	default: // retryable
		switch {
		case d.refused:
			d.finish(b, dropUnauthorized)
		case d.closing:
			d.hold(b)
			d.giveUp()
		default:
			d.hold(b)
			d.fail(r, now)
		}
	}
}

// hold puts a batch that could not be sent back among the held ones, in order.
func (d *dispatcher) hold(b *batch) {
	i, _ := slices.BinarySearchFunc(d.held, b.seq, func(x *batch, seq uint64) int {
		switch {
		case x.seq < seq:
			return -1
		case x.seq > seq:
			return 1
		}
		return 0
	})
	d.held = slices.Insert(d.held, i, b)
}

// fail marks the endpoint failing after a retryable failure and schedules the next probe.
func (d *dispatcher) fail(r response, now time.Time) {
	wait := time.Duration(0)
	if r.retryAfter > 0 {
		ra := min(r.retryAfter, eventsMaxRetryAfter)
		d.retryAfter = now.Add(d.t.wait(ra))
		wait = ra
	}
	if !d.failing || len(d.inFlight) == 0 { // the probe failed, or the first failure
		wait = max(wait, d.bo.Next())
	}
	d.failing = true
	d.probeAt = later(d.probeAt, now.Add(d.t.wait(wait)))
	d.probeAt = later(d.probeAt, d.retryAfter)
	if d.failLog.allow(now) {
		args := []any{"held", d.heldEvents(), "retryIn", d.probeAt.Sub(now).Round(time.Millisecond)}
		if r.err != nil {
			args = append(args, "error", r.err)
		} else {
			args = append(args, "status", r.status)
		}
		d.log.Warn("fbclient: the events endpoint fails; insight events are kept and sent when it works again", args...)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// heldEvents returns the number of events waiting to be sent.
func (d *dispatcher) heldEvents() int {
	n := d.openItems
	for _, b := range d.held {
		n += b.items
	}
	return n
}

// delivered accounts for a batch FeatBit accepted.
func (d *dispatcher) delivered(b *batch) {
	d.rc.counts.sent.Add(uint64(b.items))
	d.release(b)
}

// finish accounts for a batch that is dropped.
func (d *dispatcher) finish(b *batch, why dropReason) {
	d.rc.counts.drop(why, b.items)
	d.release(b)
}

// release frees the places of a finished batch's events in the buffer and wakes the flushes
// waiting for it.
func (d *dispatcher) release(b *batch) {
	d.rc.queue.Release(b.items)
	d.serveWaiters()
}

// serveWaiters closes the flush waiters whose batches are all finished.
func (d *dispatcher) serveWaiters() {
	low := d.sealed + 1
	if len(d.held) > 0 {
		low = d.held[0].seq
	}
	for _, b := range d.inFlight {
		low = min(low, b.seq)
	}
	d.waiters = slices.DeleteFunc(d.waiters, func(w flushWaiter) bool {
		if w.seq < low {
			close(w.done)
			return true
		}
		return false
	})
}

// refuse stops sending for good, with one error record, and drops what is held.
func (d *dispatcher) refuse(status int) {
	if d.refused {
		return
	}
	d.refused = true
	d.log.Error("fbclient: FeatBit refused the env secret; insight events are no longer sent by this client", "status", status)
	d.seal()
	held := d.held
	d.held = nil
	for _, b := range held {
		d.finish(b, dropUnauthorized)
	}
}

// startClosing begins Close: every record is taken and the open batch sealed; a failing
// endpoint is tried once more now, unless the server asked to wait beyond the deadline.
func (d *dispatcher) startClosing(deadline time.Time) {
	d.closing, d.deadline = true, deadline
	d.drain(time.Now(), d.rc.queue.Head())
	d.seal()
	if d.failing {
		if d.retryAfter.After(deadline) {
			d.giveUp()
			return
		}
		d.probeAt = d.retryAfter
	}
}

// finished reports whether Close has nothing left to do.
func (d *dispatcher) finished() bool {
	return d.rc.queue.Len() == 0 && d.openItems == 0 && len(d.held) == 0 && len(d.inFlight) == 0
}

// giveUp drops, during Close, every event held and not in flight.
func (d *dispatcher) giveUp() {
	d.seal()
	held := d.held
	d.held = nil
	for _, b := range held {
		d.rc.given.Add(int64(b.items))
		d.finish(b, dropClosing)
	}
}

// abort ends Close at its deadline: the requests in flight are cancelled and, like
// everything still held, given up unless they were delivered.
func (d *dispatcher) abort() {
	d.cancel()
	for len(d.inFlight) > 0 {
		r := <-d.results
		d.inFlight = slices.DeleteFunc(d.inFlight, func(x *batch) bool { return x == r.b })
		if classifyAttempt(r.status, r.err) == attemptSent {
			d.delivered(r.b)
		} else {
			d.hold(r.b)
		}
	}
	d.drain(time.Now(), d.rc.queue.Taken())
	d.giveUp()
}

// Outcomes of one attempt to send a batch.
const (
	attemptSent     = iota // 2xx
	attemptRetry           // network error, 408, 429, 5xx: may succeed later
	attemptRefused         // 401, 403: the secret is wrong
	attemptRejected        // any other status: the batch will never be accepted
)

// classifyAttempt classifies the result of one attempt to send a batch.
func classifyAttempt(status int, err error) int {
	switch {
	case err != nil:
		return attemptRetry
	case status >= 200 && status < 300:
		return attemptSent
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return attemptRefused
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return attemptRetry
	}
	return attemptRejected
}

// post sends one request. It runs on a goroutine of its own and touches nothing of the
// dispatcher's but its immutable settings.
func (d *dispatcher) post(b *batch) (r response) {
	r.b = b
	ctx, cancel := context.WithTimeout(d.ctx, d.t.requestTimeout(len(b.body)))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(b.body))
	if err != nil {
		r.err = err
		return r
	}
	req.Header = http.Header{
		"Authorization": {d.secret},
		"Content-Type":  {"application/json"},
		"User-Agent":    {userAgent},
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	defer resp.Body.Close()
	r.status = resp.StatusCode
	if resp.StatusCode >= 300 {
		head := make([]byte, 256)
		n, _ := io.ReadFull(resp.Body, head)
		r.detail = strings.TrimSpace(strings.ToValidUTF8(string(head[:n]), string(utf8.RuneError)))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	r.retryAfter = backoff.RetryAfter(resp.Header, time.Now(), eventsMaxRetryAfter)
	return r
}

// logLimit lets a kind of log record through at most once per refusalLogInterval.
type logLimit struct{ last time.Time }

func (l *logLimit) allow(now time.Time) bool {
	if !l.last.IsZero() && now.Sub(l.last) < refusalLogInterval {
		return false
	}
	l.last = now
	return true
}
