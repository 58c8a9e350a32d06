package fbclient

import (
	"context"
	goflag "flag"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// leakOptions ignores the regexp2 match-timeout clock, a package-level goroutine that stops
// by itself a second after the last regex match with a timeout.
var leakOptions = []goleak.Option{goleak.IgnoreTopFunction("github.com/dlclark/regexp2.runClock"), goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock")}

// TestMain runs the package's tests, then checks that none of them left a goroutine running
// (each sequential test that starts a client also checks itself: checkLeaks). Or, in the
// child process BenchmarkEventsCPUPerEvent starts, it runs the events endpoint that the
// benchmark measures against.
//
// The parallel tests (see parallel) spend their time waiting for deadlines to pass, so
// unless -parallel is given they all run at once instead of GOMAXPROCS at a time.
func TestMain(m *testing.M) {
	if os.Getenv("FBCLIENT_DISCARD_SERVER") == "1" {
		os.Exit(discardChild())
	}
	goflag.Parse()
	explicit := false
	goflag.Visit(func(f *goflag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = goflag.Set("test.parallel", "16")
	}
	goleak.VerifyTestMain(m, leakOptions...)
}

// checkLeaks fails t if a goroutine started during the test is still running when the test
// and its cleanups end. In a parallel test (see parallel), or a subtest of one, other tests'
// goroutines run at the same time, so the check is left to TestMain, which checks that no
// goroutine of any test is left when the package's tests end.
func checkLeaks(t testing.TB) {
	t.Helper()
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, leakOptions...)
	t.Cleanup(func() {
		if !inParallel(t) {
			goleak.VerifyNone(t, opts...)
		}
	})
}

// parallelTests holds the names of the tests marked by parallel.
var parallelTests sync.Map

// parallel runs t in parallel with the package's other parallel tests (t.Parallel). It is for
// tests that mostly wait on real time that no test hook can shorten: a regular expression's
// match timeout, a connection that must be found dead, a request that must time out. Go
// runs parallel tests after the sequential ones of their parent, and parallel calls
// t.Parallel before the test starts anything, so the leak checks of sequential tests see
// none of their goroutines.
func parallel(t *testing.T) {
	parallelTests.Store(t.Name(), true)
	t.Parallel()
}

// inParallel reports whether t, or a test it is a subtest of, is marked by parallel.
func inParallel(t testing.TB) bool {
	name := t.Name()
	for {
		if _, ok := parallelTests.Load(name); ok {
			return true
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			return false
		}
		name = name[:i]
	}
}

// quickRetries makes the event pipeline's waits (backoff, Retry-After) ten thousand times
// shorter, so that an outage of the events endpoint lasts milliseconds in tests: the longest
// backoff (30 s) becomes 3 ms.
func quickRetries(t *eventTimings) {
	t.wait = func(d time.Duration) time.Duration { return d / 10000 }
}

// quickEvents is quickRetries with the shortest linger: the dispatcher takes records a
// millisecond after they come, not up to 100 ms later, so that tests that wait for an event
// to be sent or heard do not wait out the linger.
func quickEvents(t *eventTimings) {
	quickRetries(t)
	t.linger = time.Millisecond
}

// newOffline starts an offline client from a data file, closed when the test ends, and
// checks that it leaves no goroutine behind.
func newOffline(t testing.TB, file string) *Client {
	t.Helper()
	checkLeaks(t)
	c, err := newClient(Config{Offline: true, DataFile: file}, nil, quickEvents)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.True(t, c.Initialized())
	return c
}

// closeWithin closes c and fails t if Close does not return within d.
func closeWithin(t testing.TB, c *Client, d time.Duration, what string) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		assert.NoError(t, c.Close())
	}()
	select {
	case <-closed:
	case <-time.After(d):
		t.Fatal(what)
	}
}

// testCtx is a generous deadline for waits that should end long before it.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
