package fbclient

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/featflags/fbclient/internal/backoff"
)

// Delivery policy of insight batches.
const (
	// senders is the number of requests that may be in flight at once.
	senders = 4
	// maxRetries is how many times a batch is sent again after a retryable failure.
	maxRetries = 3
	// retryFirst and retryMax bound the backoff between attempts (with jitter).
	retryFirst = 200 * time.Millisecond
	retryMax   = 2 * time.Second
	// maxRetryAfter caps the wait a Retry-After header can ask for.
	maxRetryAfter = time.Minute
	// attemptTimeout bounds one request, whatever the HTTP client's own timeout.
	attemptTimeout = 30 * time.Second
	// refusalLogInterval is the least time between two log records about refused or
	// undeliverable batches (each kind on its own), and about events never sent.
	refusalLogInterval = 30 * time.Second
)

// eventSender turns insight events into JSON batches and posts them to FeatBit. It is the
// recorder's sink: add runs on the recorder's consumer goroutine, encodes each event into
// the batch being built and seals the batch when it is full or a flush is asked for. Sealed
// batches wait in a FIFO for one of the sender goroutines, which post them with retries.
// The consumer never waits for the network.
type eventSender struct {
	c          *Client
	rc         *recorder
	url        string
	hc         *http.Client
	log        *slog.Logger
	batchSize  int
	batchBytes int
	interval   time.Duration

	// The batch being built, owned by the consumer goroutine: '[' and the items so far.
	buf   []byte
	items int
	enc   itemEncoder

	refused atomic.Bool // FeatBit refused the secret: nothing is sent any more

	mu         sync.Mutex
	queue      []*batch // sealed, not yet taken by a sender goroutine
	active     []uint64 // sequence numbers of the batches being sent
	sealed     uint64   // sequence number of the last sealed batch
	waiters    []flushWaiter
	pauseUntil time.Time // no request starts before (Retry-After)
	closing    bool
	deadline   time.Time // Close's deadline, once closing

	work    chan struct{} // a batch was queued
	closeCh chan struct{} // closed when Close begins
	ctx     context.Context
	cancel  context.CancelFunc // aborts requests and waits at Close's deadline
	wg      sync.WaitGroup

	rejectLog, retryLog, unsentLog logLimit
}

// batch is a sealed request body.
type batch struct {
	seq   uint64
	body  []byte
	items int
}

// flushWaiter is a FlushAndWait waiting for the batches up to seq.
type flushWaiter struct {
	seq  uint64
	done chan struct{}
}

func newSender(c *Client) *eventSender {
	return &eventSender{
		c:          c,
		url:        c.cfg.eventsURL.String(),
		hc:         c.cfg.HTTPClient,
		log:        c.log,
		batchSize:  c.cfg.EventBatchSize,
		batchBytes: c.cfg.EventBatchBytes,
		interval:   c.cfg.FlushInterval,
		buf:        []byte{'['},
		work:       make(chan struct{}, 1),
		closeCh:    make(chan struct{}),
	}
}

// add is the recorder's sink.
func (s *eventSender) add(r *record, at time.Time) {
	switch r.kind {
	case recordStart:
		s.start()
	case recordEvaluation, recordMetric:
		s.encode(r, at)
	case recordFlush:
		s.seal()
		if r.done != nil {
			s.await(r.done)
		}
	case recordClose:
		s.seal()
		s.shutdown(at)
	}
}

// start starts the flush ticker and the sender goroutines. It runs in New, after the
// recorder is in place.
func (s *eventSender) start() {
	s.rc = s.c.events
	s.rc.reporter.interval = s.interval
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1 + senders)
	go s.tick()
	for range senders {
		go s.run()
	}
}

// tick asks for a flush and reports drops every flush interval, until Close.
func (s *eventSender) tick() {
	defer s.wg.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			if s.rc.pending() > 0 {
				s.rc.requestFlush()
			}
			s.rc.reportDrops(now, false)
		case <-s.closeCh:
			return
		}
	}
}

// encode adds one event to the batch being built, sealing the batch when it is full.
func (s *eventSender) encode(r *record, at time.Time) {
	if s.refused.Load() {
		s.drop(dropUnauthorized, 1)
		return
	}
	if r.kind == recordEvaluation && (r.v.value == "" || r.v.id == "") {
		s.drop(dropEmptyVariation, 1)
		if s.unsentLog.allow(at) {
			s.log.Warn("fbclient: an evaluation event is not sent: FeatBit rejects a variation whose value or id is empty", "flag", r.flag.key)
		}
		return
	}
	mark := len(s.buf)
	if s.items > 0 {
		s.buf = append(s.buf, ',')
	}
	start := len(s.buf)
	s.buf = s.enc.appendItem(s.buf, r, at)
	if len(s.buf)+1 > s.batchBytes { // +1 for the closing ']'
		size := len(s.buf) - start
		if 2+size > s.batchBytes {
			s.buf = s.buf[:mark]
			s.drop(dropOversize, 1)
			if s.unsentLog.allow(at) {
				s.log.Warn("fbclient: an insight event is not sent: it is larger than EventBatchBytes", "bytes", size, "eventBatchBytes", s.batchBytes)
			}
			return
		}
		// The item starts the next batch.
		s.sealAt(mark)
		s.buf = append(s.buf[:1], s.buf[start:start+size]...)
	}
	s.items++
	if s.items >= s.batchSize {
		s.seal()
	}
}

// drop gives up n events that were not put in a batch.
func (s *eventSender) drop(why dropReason, n int) {
	s.rc.drops.add(why, n)
	s.rc.finish(n)
}

// seal hands the batch being built, if any, to the sender goroutines.
func (s *eventSender) seal() { s.sealAt(len(s.buf)) }

// sealAt seals the first n bytes of the buffer, which hold s.items items, and starts a new
// batch with the rest of the buffer left in place after the opening '['. The batch gets a
// copy of exactly its bytes: the buffer is reused, and a request body is never touched after
// it is handed to net/http, which may read it after Do returns.
func (s *eventSender) sealAt(n int) {
	if s.items == 0 {
		return
	}
	body := make([]byte, n+1)
	copy(body, s.buf[:n])
	body[n] = ']'
	b := &batch{body: body, items: s.items}
	s.items = 0
	s.mu.Lock()
	s.sealed++
	b.seq = s.sealed
	s.queue = append(s.queue, b)
	s.mu.Unlock()
	if n == len(s.buf) {
		s.buf = s.buf[:1]
	}
	s.signal()
}

func (s *eventSender) signal() {
	select {
	case s.work <- struct{}{}:
	default:
	}
}

// await closes done once every batch sealed so far is finished.
func (s *eventSender) await(done chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pendingLocked() > s.sealed {
		close(done)
		return
	}
	s.waiters = append(s.waiters, flushWaiter{seq: s.sealed, done: done})
}

// pendingLocked returns the sequence number of the oldest unfinished batch, or sealed+1.
func (s *eventSender) pendingLocked() uint64 {
	low := s.sealed + 1
	if len(s.queue) > 0 {
		low = s.queue[0].seq
	}
	for _, seq := range s.active {
		low = min(low, seq)
	}
	return low
}

// run is a sender goroutine: it sends batches until Close has nothing more for it.
func (s *eventSender) run() {
	defer s.wg.Done()
	for {
		b := s.next()
		if b == nil {
			return
		}
		why, ok := s.deliver(b)
		s.finish(b, why, ok)
	}
}

// next returns the oldest queued batch, waiting for one; nil once closing with none left.
func (s *eventSender) next() *batch {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			b := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.active = append(s.active, b.seq)
			more := len(s.queue) > 0
			s.mu.Unlock()
			if more {
				s.signal() // for another sender goroutine
			}
			return b
		}
		closing := s.closing
		s.mu.Unlock()
		if closing {
			return nil
		}
		select {
		case <-s.work:
		case <-s.closeCh:
		}
	}
}

// finish accounts for a batch that was sent or given up and wakes the flushes waiting
// for it.
func (s *eventSender) finish(b *batch, why dropReason, ok bool) {
	if !ok {
		s.rc.drops.add(why, b.items)
	}
	s.rc.finish(b.items)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, seq := range s.active {
		if seq == b.seq {
			s.active = append(s.active[:i], s.active[i+1:]...)
			break
		}
	}
	low := s.pendingLocked()
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if w.seq < low {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	clear(s.waiters[len(kept):])
	s.waiters = kept
}

// deliver posts a batch, retrying what may succeed later. It reports whether the batch was
// accepted and, if not, why it was given up.
func (s *eventSender) deliver(b *batch) (dropReason, bool) {
	var bo *backoff.Backoff
	for attempt := 0; ; attempt++ {
		if s.refused.Load() {
			return dropUnauthorized, false
		}
		s.mu.Lock()
		pause := s.pauseUntil
		s.mu.Unlock()
		if !s.waitUntil(pause) {
			return dropClosing, false
		}
		status, retryAfter, detail, err := s.post(b.body)
		switch classifyAttempt(status, err) {
		case attemptSent:
			return 0, true
		case attemptRefused:
			s.refuse(status)
			return dropUnauthorized, false
		case attemptRejected:
			why := dropStatus
			switch status {
			case http.StatusBadRequest:
				why = dropBadRequest
			case http.StatusRequestEntityTooLarge:
				why = dropTooLarge
			}
			if s.rejectLog.allow(time.Now()) {
				s.log.Warn("fbclient: FeatBit refused a batch of insight events; it is dropped", "status", status, "events", b.items, "bytes", len(b.body), "detail", detail)
			}
			return why, false
		}
		// Retryable.
		if s.ctx.Err() != nil {
			return dropClosing, false
		}
		if attempt == maxRetries {
			if s.retryLog.allow(time.Now()) {
				args := []any{"attempts", attempt + 1, "events", b.items}
				if err != nil {
					args = append(args, "error", err)
				} else {
					args = append(args, "status", status)
				}
				s.log.Warn("fbclient: could not deliver a batch of insight events; it is dropped", args...)
			}
			return dropRetries, false
		}
		if retryAfter > 0 {
			// The server asked every request to wait.
			wait := min(retryAfter, maxRetryAfter)
			s.pause(time.Now().Add(wait))
			s.log.Debug("fbclient: FeatBit asked to wait before sending more insight events", "status", status, "retryAfter", wait)
			continue
		}
		if bo == nil {
			bo = backoff.New(retryFirst, retryMax, 0, nil)
		}
		if !s.waitUntil(time.Now().Add(bo.Next())) {
			return dropClosing, false
		}
	}
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

// post sends one request. detail is the start of the response body for a failure status.
func (s *eventSender) post(body []byte) (status int, retryAfter time.Duration, detail string, err error) {
	ctx, cancel := context.WithTimeout(s.ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, "", err
	}
	req.Header = http.Header{
		"Authorization": {s.c.cfg.EnvSecret},
		"Content-Type":  {"application/json"},
		"User-Agent":    {userAgent},
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		head := make([]byte, 256)
		n, _ := io.ReadFull(resp.Body, head)
		detail = strings.TrimSpace(strings.ToValidUTF8(string(head[:n]), string(utf8.RuneError)))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, backoff.RetryAfter(resp.Header, time.Now(), maxRetryAfter), detail, nil
}

// refuse stops sending for good, with one error record.
func (s *eventSender) refuse(status int) {
	if s.refused.CompareAndSwap(false, true) {
		s.log.Error("fbclient: FeatBit refused the env secret; insight events are no longer sent by this client", "status", status)
	}
}

// pause makes every request wait until t.
func (s *eventSender) pause(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.After(s.pauseUntil) {
		s.pauseUntil = t
	}
}

// waitUntil waits until t. It returns false, without waiting, when t is after Close's
// deadline, and when requests are aborted.
func (s *eventSender) waitUntil(t time.Time) bool {
	for {
		d := time.Until(t)
		if d <= 0 {
			return s.ctx.Err() == nil
		}
		s.mu.Lock()
		closing, deadline := s.closing, s.deadline
		s.mu.Unlock()
		var closeCh <-chan struct{}
		if closing {
			if t.After(deadline) {
				return false
			}
		} else {
			closeCh = s.closeCh
		}
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
			return s.ctx.Err() == nil
		case <-s.ctx.Done():
			timer.Stop()
			return false
		case <-closeCh:
			timer.Stop() // check Close's deadline
		}
	}
}

// shutdown sends what is queued until deadline, then aborts what is left, and stops the
// sender's goroutines. It runs on the consumer goroutine, after the last batch is sealed.
func (s *eventSender) shutdown(deadline time.Time) {
	s.mu.Lock()
	s.closing, s.deadline = true, deadline
	s.mu.Unlock()
	close(s.closeCh)
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(time.Until(deadline))
	select {
	case <-done:
	case <-t.C:
		s.cancel()
		<-done
	}
	t.Stop()
	s.cancel()
	s.mu.Lock()
	for _, w := range s.waiters {
		close(w.done)
	}
	s.waiters = nil
	s.mu.Unlock()
}

// logLimit lets a kind of log record through at most once per refusalLogInterval.
type logLimit struct{ last atomic.Int64 }

func (l *logLimit) allow(now time.Time) bool {
	last := l.last.Load()
	if last != 0 && now.UnixNano()-last < int64(refusalLogInterval) {
		return false
	}
	return l.last.CompareAndSwap(last, now.UnixNano())
}
