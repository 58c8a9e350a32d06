package fbclient

import (
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkListenerDeliver measures the fan-out end to end: each op emits a burst of 1,000
// events (which fits in a default queue) to 1 or 8 listeners that only count, and waits
// until every listener has received them all. ns/event is the cost per event delivered to
// one listener.
func BenchmarkListenerDeliver(b *testing.B) {
	const burst = 1000
	for _, n := range []int{1, 8} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			c, err := New(Config{Offline: true})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var want atomic.Int64
			done := make(chan struct{}, n)
			for range n {
				var got int64 // owned by the listener's goroutine
				c.On(EventFlagChanged, func(Event) {
					if got++; got == want.Load() {
						done <- struct{}{}
					}
				})
			}
			e := Event{Type: EventFlagChanged, Message: "1 flags changed", FlagKeys: []string{"f"}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				want.Store(int64(i * burst))
				for range burst {
					c.listeners.emit(e)
				}
				for range n {
					<-done
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*burst*n), "ns/event")
		})
	}
}
