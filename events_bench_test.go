package fbclient

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/internal/wire"
)

// discard is an events endpoint that reads each body and answers 200, for measuring the
// client's side of sending.
var discard = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.WriteHeader(http.StatusOK)
})

// discardServer starts discard on loopback and returns its URL.
func discardServer(tb testing.TB) string {
	srv := httptest.NewServer(discard)
	tb.Cleanup(srv.Close)
	return srv.URL
}

// eventsBenchClient returns a ready client with events on, sending to eventsURL with
// secret, holding the flags of ds.
func eventsBenchClient(tb testing.TB, eventsURL, secret string, cfg Config, ds *wire.DataSync) *Client {
	tb.Helper()
	syncSrv := fbtest.NewServer()
	syncSrv.HoldDataSync() // the data comes from the benchmark, not from a synchronizer
	tb.Cleanup(syncSrv.Close)
	cfg.EnvSecret, cfg.StreamingURL, cfg.EventsURL, cfg.StartWait = secret, syncSrv.StreamingURL(), eventsURL, -1
	c, err := New(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	c.commit(ds, Fetch{})
	require.True(tb, c.Initialized())
	return c
}

// callerConfig keeps the background from allocating while the timer runs: one batch holds
// everything recorded between two pauses, and no flush interval passes. What is measured is
// the calling goroutine, with the consumer encoding next to it.
var callerConfig = Config{FlushInterval: time.Minute, EventBatchSize: 1 << 20, EventBatchBytes: 64 << 20}

// benchRecorded runs op b.N times with events on, pausing the timer every 2048 calls to send
// what was recorded, so the buffer never fills and every call takes the recording path.
func benchRecorded(b *testing.B, c *Client, op func()) {
	ctx := context.Background()
	op()
	require.NoError(b, c.FlushAndWait(ctx))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		op()
		if i%2048 == 0 {
			b.StopTimer()
			require.NoError(b, c.FlushAndWait(ctx))
			b.StartTimer()
		}
	}
	b.StopTimer()
	require.NoError(b, c.FlushAndWait(ctx))
	require.Zero(b, c.DroppedEvents())
}

// Scenario 1 of bench_test.go with events on.
func BenchmarkEventsVariationBoolFallthrough(b *testing.B) {
	c := eventsBenchClient(b, discardServer(b), testSecret, callerConfig, full([]wire.Flag{boolFlag("bool-flag", true, 1)}))
	benchRecorded(b, c, func() { sinkBool = c.BoolVariation("bool-flag", benchUser, false) })
}

// Scenario 2 of bench_test.go with events on.
func BenchmarkEventsVariationRules5x3(b *testing.B) {
	c := eventsBenchClient(b, discardServer(b), testSecret, callerConfig, full([]wire.Flag{rules5x3()}))
	benchRecorded(b, c, func() { sinkBool = c.BoolVariation("rules-5x3", benchUser, false) })
}

func BenchmarkTrack(b *testing.B) {
	c := eventsBenchClient(b, discardServer(b), testSecret, callerConfig, full(nil))
	benchRecorded(b, c, func() {
		if err := c.Track(benchUser, "checkout"); err != nil {
			b.Fatal(err)
		}
	})
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// recordAndSend evaluates n times, with the default event settings, and waits until every
// event is sent; it returns the process CPU time this took.
func recordAndSend(tb testing.TB, c *Client, n int) time.Duration {
	ctx := context.Background()
	start := cpuTime(tb)
	for i := 1; i <= n; i++ {
		sinkBool = c.BoolVariation("bool-flag", benchUser, false)
		if i%4096 == 0 { // stay within EventCapacity
			require.NoError(tb, c.FlushAndWait(ctx))
		}
	}
	require.NoError(tb, c.FlushAndWait(ctx))
	return cpuTime(tb) - start
}

// discardChild serves discard in a separate process, so that the benchmark's process CPU
// time is the client's alone. It prints its URL and stops when its standard input closes.
func discardChild() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: discard}
	go func() { _ = srv.Serve(ln) }()
	fmt.Println("http://" + ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	return 0
}

// discardProcess starts discardChild in a child process and returns its URL and
// a function that stops it and returns the CPU time it used.
func discardProcess(tb testing.TB) (string, func() time.Duration) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "FBCLIENT_DISCARD_SERVER=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(tb, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	url, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(tb, err)
	stop := func() time.Duration {
		stdin.Close()
		_ = cmd.Wait()
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	tb.Cleanup(func() { stop() })
	return strings.TrimSpace(url), stop
}

// The cost of sending events, as CPU time per event: evaluation, recording, encoding,
// batching and HTTP requests (flush every second, 4 requests at a time).
func BenchmarkEventsCPUPerEvent(b *testing.B) {
	ds := func() *wire.DataSync { return full([]wire.Flag{boolFlag("bool-flag", true, 1)}) }
	// The endpoint runs in another process: cpu-ns/event is the client process alone, and
	// server-cpu-ns/event the endpoint's process reading the requests. 50 events per
	// request is the default; the other sizes show the share of the per-request cost.
	for _, size := range []int{50, 200, 1000} {
		b.Run(fmt.Sprintf("process/batch=%d", size), func(b *testing.B) {
			url, stop := discardProcess(b)
			c := eventsBenchClient(b, url, testSecret, Config{EventBatchSize: size}, ds())
			recordAndSend(b, c, 1000)
			b.ResetTimer()
			cpu := recordAndSend(b, c, b.N)
			b.StopTimer()
			require.Zero(b, c.DroppedEvents())
			c.Close()
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
			b.ReportMetric(float64(stop().Nanoseconds())/float64(b.N+1000), "server-cpu-ns/event")
		})
	}
	// fbtest in the same process: it decodes and checks every item with encoding/json, and
	// its share is included. Each iteration sends 20,000 events to a new server, so its
	// memory stays small.
	b.Run("fbtest", func(b *testing.B) {
		const perServer = 20000
		var cpu time.Duration
		for range b.N {
			b.StopTimer()
			srv := fbtest.NewServer()
			c := eventsBenchClient(b, srv.URL(), srv.Secret(), Config{}, ds())
			b.StartTimer()
			cpu += recordAndSend(b, c, perServer)
			b.StopTimer()
			require.Len(b, srv.Events(), perServer)
			c.Close()
			srv.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perServer), "cpu-ns/event")
	})
}

// blockedServer is an events endpoint that never answers until the benchmark ends.
func blockedServer(tb testing.TB) string {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() { close(stop) }) // runs first: lets the requests end
	return srv.URL
}

// Scenario 1 with events on, from all the benchmark's goroutines at once, while the event
// buffer is full (the endpoint does not answer): every call takes the drop path. Run with
// -cpu 1,2: more goroutines must not make a call slower.
func BenchmarkEventsVariationParallelFull(b *testing.B) {
	c := eventsBenchClient(b, blockedServer(b), testSecret, Config{EventCapacity: 1000, CloseTimeout: time.Millisecond},
		full([]wire.Flag{boolFlag("bool-flag", true, 1)}))
	for c.DroppedEvents() == 0 {
		sinkBool = c.BoolVariation("bool-flag", benchUser, false)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		v := false
		for pb.Next() {
			v = c.BoolVariation("bool-flag", benchUser, false)
		}
		sinkBool = v
	})
}

// Scenario 1 with events on, from all the benchmark's goroutines at once, sending to a
// loopback endpoint with the default Config: the calls record what the pipeline takes and
// drop the rest.
func BenchmarkEventsVariationParallel(b *testing.B) {
	c := eventsBenchClient(b, discardServer(b), testSecret, Config{}, full([]wire.Flag{boolFlag("bool-flag", true, 1)}))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		v := false
		for pb.Next() {
			v = c.BoolVariation("bool-flag", benchUser, false)
		}
		sinkBool = v
	})
}

// The encoding of one evaluation event.
func BenchmarkAppendItem(b *testing.B) {
	r := record{kind: recordEvaluation, flag: &flag{key: "new-checkout-flow"}, v: &variation{id: "18b369f8-5ae1-4e59-9d07-0e5b3c86e0e0", value: "true"},
		reason: ReasonFallthrough, user: NewUser("user-1234567").WithName("Jane Doe").WithCustom("country", "us").WithCustom("plan", "enterprise")}
	var e itemEncoder
	buf := make([]byte, 0, 1024)
	at := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		buf = e.appendItem(buf[:0], &r, at)
	}
}
