package redisstore

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// leakCheck fails t if a goroutine started during the test is still running at its end. Call
// it first, so that it runs after every other cleanup.
func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// testCtx returns a context that ends with the test, or after a minute.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fullSet returns the full data set srv serves now, as its latest-all endpoint gives it
// (fbtest.Server.DataFile).
func fullSet(t testing.TB, srv *fbtest.Server) *fbclient.DataSet {
	t.Helper()
	ds, err := fbclient.ParseDataSet(srv.DataFile())
	require.NoError(t, err)
	require.True(t, ds.Full())
	return ds
}

// storedVersion returns the version stored in Redis for o's environment, -1 if none.
func storedVersion(t *testing.T, rdb redis.UniversalClient, o Options) int64 {
	t.Helper()
	_, k, err := o.resolve()
	require.NoError(t, err)
	s, err := rdb.HGet(context.Background(), k.data, fieldVersion).Result()
	if err == redis.Nil {
		return -1
	}
	require.NoError(t, err)
	v, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return v
}

// notifications records the versions published on o's change channel.
type notifications struct {
	mu       sync.Mutex
	versions []int64
	changed  chan struct{} // closed and replaced on every notification
}

// watch subscribes to o's change channel until the end of the test.
func watch(t *testing.T, rdb redis.UniversalClient, o Options) *notifications {
	t.Helper()
	_, k, err := o.resolve()
	require.NoError(t, err)
	ps := rdb.Subscribe(testCtx(t), k.channel)
	_, err = ps.Receive(testCtx(t)) // the subscription is confirmed
	require.NoError(t, err)
	n := &notifications{changed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := ps.ReceiveMessage(context.Background())
			if err != nil {
				return
			}
			ver, _, _ := strings.Cut(msg.Payload, " ")
			v, err := strconv.ParseInt(ver, 10, 64)
			if err != nil {
				v = -2
			}
			n.mu.Lock()
			n.versions = append(n.versions, v)
			close(n.changed)
			n.changed = make(chan struct{})
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ps.Close()
		<-done
	})
	return n
}

// waitFor waits until the last published version is v.
func (n *notifications) waitFor(t *testing.T, v int64) []int64 {
	t.Helper()
	ctx := testCtx(t)
	for {
		n.mu.Lock()
		got := append([]int64(nil), n.versions...)
		ch := n.changed
		n.mu.Unlock()
		if len(got) > 0 && got[len(got)-1] == v {
			return got
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("version %d was not published; published: %v", v, got)
		}
	}
}

// eventually polls cond until it holds, failing the test after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := testCtx(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// quiet drops go-redis's own log lines (failed dials while a test's server is stopped).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	m.Run()
}
