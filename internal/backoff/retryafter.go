package backoff

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryAfter reads a response's Retry-After header, in seconds or as an HTTP date, and
// returns the wait it asks for, capped at limit: 0 when there is none, it is malformed, or it
// is in the past.
func RetryAfter(h http.Header, now time.Time, limit time.Duration) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > int64(limit/time.Second) {
			return limit
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), limit)
}
