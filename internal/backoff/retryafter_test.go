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
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(time.Hour).Format(http.TimeFormat), limit},
		{"Fri, 31 Dec 9999 23:59:59 GMT", limit},
		{"Mon, 01 Jan 0001 00:00:00 GMT", 0},
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
