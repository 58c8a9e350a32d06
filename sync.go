package fbclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/featflags/fbclient/internal/backoff"
)

// This file holds what the two built-in data sources, streaming.go and polling.go, share:
// their failure policy, their timings, and the redaction of the secret from what they report.

// Failure policy of the built-in sources. Each branch that handles a failure names its row
// ("policy F4"). "Failed" is DataSink.Failed: the client keeps its data and becomes Stale
// (NotReady if it has none); "Stop" is DataSink.Stop: state Failed, no more attempts.
//
//	Row  Failure                                                 What the client does
//	F1   cannot connect: DNS, TCP, TLS, proxy, handshake timeout  Failed; retry after the backoff
//	F2   WebSocket upgrade refused with an HTTP status            Failed; retry after the backoff or Retry-After, whichever is longer
//	F3   credentials rejected: close 4003; HTTP 401/403 to a poll Stop
//	F4   connection closed or dropped (1000, 1001, 1011, 1006,    Failed; retry after the backoff, from its first step when the
//	     TCP reset) or a write failed                             connection had delivered a data set and stayed up 5 s since
//	F5   silence: no message for three ping intervals (30 s)      close 1001, then as F4
//	F6   no reply to the data-sync request within 15 s            close 1001, then as F4; a message still arriving holds it off
//	F7   a message larger than the read limit (64 MiB)            error logged, then as F4
//	F8   malformed message, unknown type, unusable item           logged and skipped; the connection and the other items stay
//	F9   poll: network error, timeout, HTTP 429 or 5xx            Failed; retry after the backoff or Retry-After, whichever is longer
//	F10  poll: other HTTP status, or a body that is no data set   Failed; next poll after PollInterval, as asking faster would not help
//
// The backoff (internal/backoff) draws each delay in [d/2, d), d doubling from 1 s to 30 s.
// A successful poll starts it again. Retry-After, in seconds or as a date, is clamped to
// [0, backoff.MaxRetryAfter] (1 min). Nothing but F3 and Close ends the retries.

// defaultReadLimit is the largest message or polling response accepted. A full data set
// arrives as one message, so the limit is generous: an environment's flags and segments would
// have to reach 64 MiB of JSON to hit it.
const defaultReadLimit = 64 << 20

// syncTimings are the timings, limits, clock and randomness of the built-in sources.
// Production code uses defaultSyncTimings; this package's tests shorten them (see newClient).
type syncTimings struct {
	// streaming
	pingInterval     time.Duration // between two pings
	deadAfter        time.Duration // a connection without any message for this long is dead (F5)
	syncTimeout      time.Duration // wait for the reply to a data-sync request (F6)
	writeWait        time.Duration // deadline of a write
	handshakeTimeout time.Duration // WebSocket dial and upgrade

	// polling
	betweenPolls time.Duration // after a poll that succeeded or will not pass (F10): Config.PollInterval
	pollTimeout  time.Duration // one polling request, when the HTTP client has no timeout

	// both
	backoffFirst time.Duration // first delay after a failure
	backoffMax   time.Duration // longest delay
	backoffReset time.Duration // a connection healthy this long starts the backoff again
	readLimit    int64         // largest message or response body

	rand  func() float64
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) bool // waits d; false if ctx ended first
	after func(d time.Duration) <-chan time.Time          // starts the data-sync reply timer (F6)
}

func defaultSyncTimings(pollInterval time.Duration) syncTimings {
	return syncTimings{
		pingInterval:     defaultPingInterval,
		deadAfter:        deadPings * defaultPingInterval,
		syncTimeout:      defaultSyncTimeout,
		writeWait:        defaultWriteWait,
		handshakeTimeout: defaultHandshakeTimeout,
		betweenPolls:     pollInterval,
		pollTimeout:      defaultPollTimeout,
		backoffFirst:     backoff.DefaultFirst,
		backoffMax:       backoff.DefaultMax,
		backoffReset:     backoff.DefaultResetAfter,
		readLimit:        defaultReadLimit,
		rand:             rand.Float64,
		now:              time.Now,
		sleep:            sleep,
		after:            time.After,
	}
}

func (t *syncTimings) newBackoff() *backoff.Backoff {
	return backoff.New(t.backoffFirst, t.backoffMax, t.backoffReset, t.rand)
}

// sleep waits d, or less if ctx ends first, and reports whether it waited the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// preview returns the start of a message or response for a log record.
func preview(b []byte) string {
	const n = 64
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
		return strings.ToValidUTF8(string(b), "?") + "..."
	}
	return strings.ToValidUTF8(string(b), "?")
}

// redactor removes the secret, the token and the URL carrying it from error texts: network
// and WebSocket errors may quote the URL they were dialing.
type redactor struct {
	secret, token string
	url, safeURL  string
}

func (r *redactor) redact(s string) string {
	if r.url != "" {
		s = strings.ReplaceAll(s, r.url, r.safeURL)
	}
	if r.token != "" {
		s = strings.ReplaceAll(s, r.token, "[token]")
	}
	if r.secret != "" {
		s = strings.ReplaceAll(s, r.secret, "[secret]")
	}
	// Any query naming a token that is still there (e.g. in another encoding) goes too.
	for {
		i := strings.Index(s, "token=")
		if i < 0 {
			return s
		}
		j := i + strings.IndexAny(s[i:], "&\"' )\n")
		if j < i {
			j = len(s)
		}
		s = s[:i] + s[j:]
	}
}

// errorf returns a new error "prefix: <err redacted>". It does not wrap err, whose text may
// hold the token, except for context errors, which carry nothing.
func (r *redactor) errorf(prefix string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: timed out: %w", prefix, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", prefix, context.Canceled)
	}
	return fmt.Errorf("%s: %s", prefix, r.redact(err.Error()))
}
