package backoff

import (
	"testing"
	"time"
)

func constant(u float64) func() float64 { return func() float64 { return u } }

func TestNextSequence(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name string
		u    float64
		want []time.Duration
	}{
		{"no jitter draw", 0, []time.Duration{s / 2, s, 2 * s, 4 * s, 8 * s, 15 * s, 15 * s, 15 * s}},
		{"middle draw", 0.5, []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * s, 6 * s, 12 * s, 22500 * time.Millisecond, 22500 * time.Millisecond}},
		{"near one", 0.999, []time.Duration{999500 * time.Microsecond, 1999 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(0, 0, 0, constant(tc.u))
			for i, want := range tc.want {
				if got := b.Next(); got != want {
					t.Errorf("attempt %d: Next() = %v, want %v", i, got, want)
				}
			}
		})
	}
}

func TestNextStaysInRange(t *testing.T) {
	draws := []float64{0, 0.1, 0.25, 0.5, 0.75, 0.9999}
	i := 0
	b := New(100*time.Millisecond, 3*time.Second, time.Minute, func() float64 { i++; return draws[i%len(draws)] })
	for n := 0; n < 100; n++ {
		base := min(100*time.Millisecond<<min(n, 10), 3*time.Second)
		d := b.Next()
		if d < base/2 || d >= base {
			t.Fatalf("attempt %d: %v not in [%v, %v)", n, d, base/2, base)
		}
	}
}

func TestManyAttemptsDoNotOverflow(t *testing.T) {
	b := New(time.Nanosecond, 0, 0, constant(0))
	var d time.Duration
	for range 10000 {
		d = b.Next()
	}
	if d != DefaultMax/2 {
		t.Fatalf("after many attempts Next() = %v, want %v", d, DefaultMax/2)
	}
}

func TestReset(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		healthy time.Duration // -1: never connected
		want    time.Duration // next delay after the disconnect (u = 0)
	}{
		{"never healthy", -1, 4 * time.Second},
		{"ended as it became healthy", 0, 4 * time.Second},
		{"short connection", 4999 * time.Millisecond, 4 * time.Second},
		{"exactly the reset interval", 5 * time.Second, time.Second / 2},
		{"long connection", time.Hour, time.Second / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(0, 0, 0, constant(0))
			b.Next() // 0.5 s
			b.Next() // 1 s
			b.Next() // 2 s
			if tc.healthy >= 0 {
				b.Connected(t0)
			}
			b.Disconnected(t0.Add(max(tc.healthy, 0)))
			if got := b.Next(); got != tc.want {
				t.Errorf("Next() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDisconnectWithoutConnectDoesNotReuseOldStart(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b := New(0, 0, 0, constant(0))
	b.Connected(t0)
	b.Disconnected(t0.Add(time.Second))
	b.Next()
	b.Next()
	// A second disconnect without a new healthy connection must not count from t0.
	b.Disconnected(t0.Add(time.Hour))
	if got := b.Next(); got != 2*time.Second {
		t.Fatalf("Next() = %v, want 2s", got)
	}
}

func TestExplicitReset(t *testing.T) {
	b := New(0, 0, 0, constant(0))
	b.Next()
	b.Next()
	b.Reset()
	if got := b.Next(); got != time.Second/2 {
		t.Fatalf("Next() after Reset = %v", got)
	}
}

func TestMaxBelowFirst(t *testing.T) {
	b := New(5*time.Second, time.Second, 0, constant(0))
	if got := b.Next(); got != 2500*time.Millisecond {
		t.Fatalf("Next() = %v, want 2.5s (max raised to first)", got)
	}
}

// A server that keeps accepting connections and dropping them soon after still pushes the
// delay up to the cap, while one healthy connection brings it back to the first step.
func TestFlappingKeepsBackingOff(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b := New(0, 0, 0, constant(0))
	now := t0
	var last time.Duration
	for range 10 {
		b.Connected(now)
		now = now.Add(time.Second)
		b.Disconnected(now)
		last = b.Next()
		now = now.Add(last)
	}
	if last != DefaultMax/2 {
		t.Fatalf("after ten short connections Next() = %v, want the cap's %v", last, DefaultMax/2)
	}
	b.Connected(now)
	b.Disconnected(now.Add(DefaultResetAfter))
	if got := b.Next(); got != DefaultFirst/2 {
		t.Fatalf("after a healthy connection Next() = %v, want %v", got, DefaultFirst/2)
	}
}
