package backoff

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter is the longest wait a server's Retry-After can impose, on sync and on
// insight events alike: a proxy asking for an hour must not keep a client stale, or its
// events held, for that long.
const MaxRetryAfter = time.Minute

// RetryAfter reads a response's Retry-After header, in seconds or as an HTTP date, and
// returns the wait it asks for, clamped to [0, limit]: 0 when there is none, it is
// malformed, negative or in the past; limit when it is larger, however large. It never
// overflows.
func RetryAfter(h http.Header, now time.Time, limit time.Duration) time.Duration {
	limit = max(limit, 0)
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// On ErrRange n is the int64 bound of the value's sign.
		switch {
		case n <= 0:
			return 0
		case n >= int64(limit/time.Second)+1:
			return limit
		}
		return min(time.Duration(n)*time.Second, limit)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), limit)
	}
	return 0
}
