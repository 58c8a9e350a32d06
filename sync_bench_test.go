package fbclient

import (
	"slices"
	"testing"
	"time"

	"github.com/featflags/fbclient/fbtest"
)

// BenchmarkPushToVisible measures the time from a change on the server (fbtest's SetFlags,
// which pushes a one-flag patch to every stream) to the new value being served by Variation,
// over loopback. It reports the median and the 99th percentile of b.N pushes.
//
// The loop waits for the EventFlagChanged listener rather than spinning on Variation: a
// spinning goroutine keeps the scheduler from polling the network promptly and would
// measure the scheduler, not the SDK. The listener runs after the commit, so each figure is
// an upper bound of the time to visibility; Variation is checked to serve the new value then.
func BenchmarkPushToVisible(b *testing.B) {
	checkLeaks(b)
	srv := fbtest.NewTestServer(b)
	srv.SetFlags(fbtest.Flag("f").On(true))
	c, err := New(Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL(), DisableEvents: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if !c.Initialized() {
		b.Fatal("client not ready")
	}
	u := NewUser("u")
	seen := make(chan struct{}, 1)
	c.On(EventFlagChanged, func(Event) { seen <- struct{}{} })
	timeout := time.NewTimer(time.Hour)
	defer timeout.Stop()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		want := i%2 == 1 // the flag starts on: the first push turns it off
		start := time.Now()
		srv.SetFlags(fbtest.Flag("f").On(want))
		timeout.Reset(10 * time.Second)
		select {
		case <-seen:
		case <-timeout.C:
			b.Fatalf("push %d not applied after 10 s", i)
		}
		d := time.Since(start)
		if c.BoolVariation("f", u, !want) != want {
			b.Fatalf("push %d applied but not served", i)
		}
		lat = append(lat, d)
	}
	b.StopTimer()
	slices.Sort(lat)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(lat[len(lat)/2]), "p50-µs")
	b.ReportMetric(us(lat[(len(lat)*99)/100]), "p99-µs")
	b.ReportMetric(float64(len(lat)), "pushes")
}
