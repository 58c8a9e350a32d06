package fbclient

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"net/http"
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

// requestTimeout is the timeout of a request whose body has n bytes: long enough for the
// body over a slow link, so that a batch FeatBit receives is not sent again.
func requestTimeout(n int) time.Duration {
	return responseTimeout + time.Duration(n)*time.Second/slowestLink
}

// response is the outcome of one request.
type response struct {
	b          *batch
	status     int
	retryAfter time.Duration
	detail     string // the start of the response body for a failure status
	err        error
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
	i, _ := slices.BinarySearchFunc(d.held, b.seq, func(x *batch, seq uint64) int { return cmp.Compare(x.seq, seq) })
	d.held = slices.Insert(d.held, i, b)
}

// fail marks the endpoint failing after a retryable failure and schedules the next probe.
func (d *dispatcher) fail(r response, now time.Time) {
	wait := r.retryAfter // clamped to backoff.MaxRetryAfter by post
	if wait > 0 {
		d.retryAfter = now.Add(d.t.wait(wait))
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
	r.retryAfter = backoff.RetryAfter(resp.Header, time.Now(), backoff.MaxRetryAfter)
	return r
}
