package redisstore

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/stretchr/testify/require"
)

// BenchmarkPropagation measures how long a flag change takes from the fake FeatBit server to
// 50 reader clients, each with its own Redis connection: the server pushes the change to the
// writer client, whose Config.Cache is a Writer; the client commits it and saves the full
// data set, which the Writer stores and publishes; each reader is notified and applies it.
// One op is one change, made as soon as every reader has the previous one; p50-ms and p99-ms
// are over every reader of every change, up to the moment the reader's EventFlagChanged
// listener runs.
func BenchmarkPropagation(b *testing.B) {
	for _, n := range []int{1, 50} {
		for _, flags := range []int{10, 100} {
			b.Run(fmt.Sprintf("readers=%d/flags=%d", n, flags), func(b *testing.B) { benchPropagation(b, n, flags) })
		}
	}
}

func benchPropagation(b *testing.B, readers, nflags int) {
	rs := startRedis(b)
	srv := fbtest.NewServer()
	defer srv.Close()
	srv.SetFlags(testFlags(nflags)...)
	o := Options{EnvID: srv.EnvID()}
	w, err := NewWriter(rs.Client(), o)
	require.NoError(b, err)
	defer w.Close()
	wc, err := fbclient.New(fbclient.Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL(), DisableEvents: true, Cache: w})
	require.NoError(b, err)
	defer wc.Close() // before the Writer
	w.Follow(wc)

	seen := make(chan time.Time, readers)
	for range readers {
		c := newReader(b, rs.Client(), o)
		require.NoError(b, c.WaitForInitialization(b.Context()))
		c.On(fbclient.EventFlagChanged, func(fbclient.Event) { seen <- time.Now() })
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		srv.SetFlags(fbtest.Flag("f0").Strings("a", "b").Fallthrough((i + 1) % 2))
		for range readers {
			lat = append(lat, (<-seen).Sub(start))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// testFlags returns n string flags with a rule and a rollout, f0 to f(n-1).
func testFlags(n int) []*fbtest.FlagBuilder {
	flags := make([]*fbtest.FlagBuilder, n)
	for i := range flags {
		flags[i] = fbtest.Flag("f"+strconv.Itoa(i)).Strings("a", "b").
			Rule("pro", 1, fbtest.Cond("plan", "IsOneOf", fbtest.OneOf("pro", "team"))).
			Rollout(1, 1)
	}
	return flags
}

// BenchmarkClient compares a streaming client with a reader client on the same 1000 flags:
// the heap the client keeps (heap-bytes, measured after a GC with the client ready) and the
// time of one evaluation.
func BenchmarkClient(b *testing.B) {
	rs := startRedis(b)
	srv := fbtest.NewServer()
	defer srv.Close()
	srv.SetFlags(testFlags(1000)...)
	o := Options{EnvID: srv.EnvID()}
	w, err := NewWriter(rs.Client(), o)
	require.NoError(b, err)
	defer w.Close()
	require.NoError(b, w.Save(b.Context(), fullSet(b, srv)))
	rdb := rs.Client()
	modes := []struct {
		name string
		cfg  func() fbclient.Config
	}{
		{"streaming", func() fbclient.Config {
			return fbclient.Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL(), DisableEvents: true}
		}},
		{"redis", func() fbclient.Config {
			src, err := NewDataSource(rdb, o)
			require.NoError(b, err)
			return fbclient.Config{DataSource: src, DisableEvents: true}
		}},
	}
	user := fbclient.NewUser("u1").WithCustom("plan", "pro")
	for _, m := range modes {
		b.Run(m.name+"/heap", func(b *testing.B) {
			var total uint64
			for range b.N {
				before := heap()
				c, err := fbclient.New(m.cfg())
				require.NoError(b, err)
				require.NoError(b, c.WaitForInitialization(b.Context()))
				total += max(heap(), before) - before
				runtime.KeepAlive(c)
				_ = c.Close()
			}
			b.ReportMetric(float64(total)/float64(b.N), "heap-bytes")
		})
		b.Run(m.name+"/variation", func(b *testing.B) {
			c, err := fbclient.New(m.cfg())
			require.NoError(b, err)
			defer c.Close()
			require.NoError(b, c.WaitForInitialization(b.Context()))
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = "f" + strconv.Itoa(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				_ = c.Variation(keys[i%len(keys)], user, "")
			}
		})
	}
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkSplitItems measures what the Writer does with each data set it saves to make the
// patch of the next change: split 100 flags into items with their ids and hashes.
func BenchmarkSplitItems(b *testing.B) {
	srv := fbtest.NewServer()
	defer srv.Close()
	srv.SetFlags(testFlags(100)...)
	data, err := fullSet(b, srv).MarshalJSON()
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if splitItems(data) == nil {
			b.Fatal("not split")
		}
	}
}
