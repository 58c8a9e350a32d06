package fbclient

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/internal/wire"
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
	benchPushToVisible(b, nil)
}

// BenchmarkPushToVisible10000Flags is BenchmarkPushToVisible with 10,000 other flags in the
// data set.
func BenchmarkPushToVisible10000Flags(b *testing.B) {
	benchPushToVisible(b, largeDataSet(10000))
}

// benchPushToVisible runs BenchmarkPushToVisible on a server that holds the data set others
// (FeatBit's JSON, nil for none) besides the flag it changes.
func benchPushToVisible(b *testing.B, others []byte) {
	checkLeaks(b)
	srv := fbtest.NewTestServer(b)
	if others != nil {
		require.NoError(b, srv.LoadJSON(others))
	}
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

// BenchmarkPatch10000Flags measures a one-flag patch to a store of 10,000 flags: applying
// and publishing a decoded patch, and the same with the decoding of its message. Each patch
// changes another flag, so the cost of folding patched flags into a new base is included.
func BenchmarkPatch10000Flags(b *testing.B) {
	const n = 10000
	ds, err := wire.DecodeDataSet(largeDataSet(n))
	require.NoError(b, err)
	flags := ds.FeatureFlags
	st := new(store)
	st.apply(ds)
	version := st.load().version
	// pick spreads the patches over all the flags.
	pick := func(i int) wire.Flag { return flags[(i*7919)%n] }

	b.Run("apply", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			version++
			f := pick(i)
			f.IsEnabled = !f.IsEnabled
			f.UpdatedAt = wire.FormatVersion(version)
			if res := st.apply(&wire.DataSync{EventType: wire.EventPatch, FeatureFlags: []wire.Flag{f}}); len(res.changed) != 1 {
				b.Fatalf("patch %d changed %v", i, res.changed)
			}
		}
	})

	b.Run("decode+apply", func(b *testing.B) {
		// The messages are templates whose updatedAt is rewritten in place for each patch.
		const templates = 256
		msgs := make([][]byte, templates)
		at := make([]int, templates)
		stamp := wire.FormatVersion(version)
		for i := range msgs {
			f := pick(i)
			f.UpdatedAt = stamp
			msg, err := json.Marshal(struct {
				MessageType string        `json:"messageType"`
				Data        wire.DataSync `json:"data"`
			}{wire.MessageDataSync, wire.DataSync{EventType: wire.EventPatch, FeatureFlags: []wire.Flag{f}}})
			require.NoError(b, err)
			msgs[i], at[i] = msg, bytes.Index(msg, []byte(stamp))
			require.Positive(b, at[i])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			version++
			msg := msgs[i%templates]
			copy(msg[at[i%templates]:], wire.FormatVersion(version))
			_, ds, err := wire.DecodeMessage(msg)
			if err != nil {
				b.Fatal(err)
			}
			if res := st.apply(ds); len(res.changed) != 1 {
				b.Fatalf("patch %d changed %v", i, res.changed)
			}
		}
	})
}
