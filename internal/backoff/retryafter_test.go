package backoff

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	const limit = 5 * time.Minute
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 7 ", 7 * time.Second},
		{"+7", 7 * time.Second},
		{" 0 ", 0},
		{"-5", 0},
		{"300", limit},
		{"301", limit},
		{"299", 299 * time.Second},
		// Values whose nanoseconds do not fit in a Duration, or not even in an int64, are
		// clamped, never wrapped around.
		{"-9223372037", 0},
		{"-18446744073", 0},
		{"-99999999999999999999999", 0},
		{"9223372037", limit},
		{"18446744073", limit},
		{"99999999999", limit},
		{"99999999999999", limit},
		{"99999999999999999999999", limit},
		{"9223372036854775807", limit},
		{"9223372036854775808", limit},
		{"-9223372036854775808", 0},
		{"-9223372036854775809", 0},
		{"-0", 0},
		// Exponents, fractions and other number forms are not delay-seconds: ignored.
		{"1e9", 0},
		{"-1e9", 0},
		{"1E3", 0},
		{"Infinity", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(time.Hour).Format(http.TimeFormat), limit},
		{"Fri, 31 Dec 9999 23:59:59 GMT", limit},
		{"Mon, 01 Jan 0001 00:00:00 GMT", 0},
		{now.Add(-200 * 365 * 24 * time.Hour).Format(http.TimeFormat), 0},
		{now.Add(200 * 365 * 24 * time.Hour).Format(http.TimeFormat), limit},
		{"Sunday, 06-Nov-94 08:49:37 GMT", 0},  // RFC 850, in the past
		{"Sun Nov  6 08:49:37 2994", limit},    // asctime, far in the future
		{"Fri, 31 Dec 9999 23:59:59 +0100", 0}, // not an HTTP date (not GMT): ignored
		{"soon", 0},
		{"1.5", 0},
		{"0x10", 0},
		{"5s", 0},
		{"--5", 0},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Retry-After", tc.header)
		}
		if got := RetryAfter(h, now, limit); got != tc.want {
			t.Errorf("Retry-After %q: got %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestRetryAfterLimits(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	h := http.Header{"Retry-After": {"90"}}
	for _, tc := range []struct {
		limit, want time.Duration
	}{
		{MaxRetryAfter, MaxRetryAfter},
		{90*time.Second + time.Millisecond, 90 * time.Second},
		{1500 * time.Millisecond, 1500 * time.Millisecond},
		{0, 0},
		{-time.Second, 0},
	} {
		if got := RetryAfter(h, now, tc.limit); got != tc.want {
			t.Errorf("limit %v: got %v, want %v", tc.limit, got, tc.want)
		}
	}
}
