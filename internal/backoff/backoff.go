// Package backoff computes reconnect delays: exponential growth from a first delay up to a
// maximum, with jitter, and a reset once a connection has delivered data and stayed up long
// enough.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Defaults used by New for zero arguments: 1 s doubling to 30 s (LaunchDarkly's cap, so a
// client is back within about 30 s of its server's recovery), reset by a connection that
// stayed healthy 5 s.
const (
	DefaultFirst      = time.Second
	DefaultMax        = 30 * time.Second
	DefaultResetAfter = 5 * time.Second
)

// Backoff is the reconnect policy of one connection loop. Attempt n (from 0) waits a delay in
// [b/2, b), where b = min(max, first·2ⁿ). A connection that became healthy (Connected) and
// stayed so for resetAfter before it ended (Disconnected) starts the sequence again, so the
// first reconnect after a healthy period is quick, while connections that fail or end soon
// after they start keep backing off. It is not safe for concurrent use.
type Backoff struct {
	first, max, resetAfter time.Duration
	rand                   func() float64

	attempt     int
	connectedAt time.Time
}

// New returns a policy with the given first and maximum backoff, resetting after a healthy
// connection of at least resetAfter. A zero or negative duration takes its default. rand must
// return values in [0,1); nil means math/rand/v2's Float64.
func New(first, max, resetAfter time.Duration, rand func() float64) *Backoff {
	if first <= 0 {
		first = DefaultFirst
	}
	if max <= 0 {
		max = DefaultMax
	}
	if max < first {
		max = first
	}
	if resetAfter <= 0 {
		resetAfter = DefaultResetAfter
	}
	if rand == nil {
		rand = defaultRand
	}
	return &Backoff{first: first, max: max, resetAfter: resetAfter, rand: rand}
}

func defaultRand() float64 { return rand.Float64() }

// Next returns the delay to wait before the next connection attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	d := b.first
	for i := 0; i < b.attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	b.attempt++
	u := min(max(b.rand(), 0), 1)
	return d/2 + time.Duration(float64(d)*0.5*u)
}

// Connected records that the connection became healthy at t: for a stream, that it
// delivered a data set.
func (b *Backoff) Connected(t time.Time) {
	b.connectedAt = t
}

// Disconnected records that the connection ended at t. If it had been healthy for at least
// the reset interval, the next delay starts again from the first backoff.
func (b *Backoff) Disconnected(t time.Time) {
	if !b.connectedAt.IsZero() && t.Sub(b.connectedAt) >= b.resetAfter {
		b.attempt = 0
	}
	b.connectedAt = time.Time{}
}

// Reset starts again from the first backoff.
func (b *Backoff) Reset() {
	b.attempt = 0
	b.connectedAt = time.Time{}
}
