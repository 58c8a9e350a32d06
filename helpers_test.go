package fbclient

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// leakOptions ignores the regexp2 match-timeout clock, a package-level goroutine that stops
// by itself a second after the last regex match with a timeout.
var leakOptions = []goleak.Option{goleak.IgnoreTopFunction("github.com/dlclark/regexp2.runClock"), goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock")}

// checkLeaks fails t if a goroutine started during the test is still running when the test
// and its cleanups end.
func checkLeaks(t testing.TB) {
	t.Helper()
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, leakOptions...)
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// newOffline starts an offline client from a data file, closed when the test ends, and
// checks that it leaves no goroutine behind.
func newOffline(t testing.TB, file string) *Client {
	t.Helper()
	checkLeaks(t)
	c, err := New(Config{Offline: true, DataFile: file})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.True(t, c.Initialized())
	return c
}
