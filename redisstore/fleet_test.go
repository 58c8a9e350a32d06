package redisstore

import (
	"testing"
	"time"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newReader starts a client in daemon mode: its data comes from Redis, and it sends no
// events. It is closed at the end of the test.
func newReader(t testing.TB, rdb redis.UniversalClient, o Options) *fbclient.Client {
	t.Helper()
	src, err := NewDataSource(rdb, o)
	require.NoError(t, err)
	c, err := fbclient.New(fbclient.Config{DataSource: src, DisableEvents: true, StartWait: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitStatus waits until c's status satisfies cond.
func waitStatus(t *testing.T, c *fbclient.Client, what string, cond func(fbclient.Status) bool) fbclient.Status {
	t.Helper()
	var st fbclient.Status
	eventually(t, what, func() bool {
		st = c.Status()
		return cond(st)
	})
	return st
}

func isReady(st fbclient.Status) bool { return st.State == fbclient.StateReady }

// Reader clients evaluate what the writer stored, follow its changes, and keep serving while
// Redis is away.
func TestReaderClients(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	o := Options{EnvID: srv.EnvID(), CheckInterval: 20 * time.Millisecond, LeaseTTL: 150 * time.Millisecond}
	w := newWriter(t, rs.Client(), o)
	user := fbclient.NewUser("u1")

	readers := []*fbclient.Client{newReader(t, rs.Client(), o), newReader(t, rs.Client(), o)}
	for _, c := range readers {
		st := waitStatus(t, c, "no data is reported", func(st fbclient.Status) bool { return st.Err != nil })
		assert.ErrorIs(t, st.Err, ErrNoData)
		assert.Equal(t, fbclient.StateNotReady, st.State)
	}

	srv.SetFlags(fbtest.Flag("banner").Strings("blue", "green").Fallthrough(0))
	srv.SetFlags(testFlags(10)...) // enough flags for changes to travel as patches
	require.NoError(t, w.Save(testCtx(t), fullSet(t, srv)))
	for _, c := range readers {
		require.NoError(t, c.WaitForInitialization(testCtx(t)))
		assert.Equal(t, "blue", c.Variation("banner", user, "none"))
	}
	srv.SetFlags(fbtest.Flag("banner").Strings("blue", "green").Fallthrough(1))
	require.NoError(t, w.Save(testCtx(t), fullSet(t, srv)))
	for _, c := range readers {
		eventually(t, "the change is served", func() bool { return c.Variation("banner", user, "none") == "green" })
	}

	rs.Stop()
	for _, c := range readers {
		waitStatus(t, c, "stale", func(st fbclient.Status) bool { return st.State == fbclient.StateStale })
		assert.Equal(t, "green", c.Variation("banner", user, "none"), "the last data is served")
	}
	rs.Start()
	for _, c := range readers {
		waitStatus(t, c, "ready again", isReady)
	}
	srv.SetFlags(fbtest.Flag("banner").Strings("blue", "green").Fallthrough(0))
	require.NoError(t, w.Save(testCtx(t), fullSet(t, srv)))
	for _, c := range readers {
		eventually(t, "changes are followed again", func() bool { return c.Variation("banner", user, "none") == "blue" })
	}

	// Readers that followed the changes serve what a reader that reads the set whole does.
	srv.SetSegments(fbtest.Segment("pro").Included("u1"))
	srv.SetFlags(fbtest.Flag("f3").Strings("a", "b").Rule("seg", 1, fbtest.InSegment("pro")))
	last := fullSet(t, srv)
	require.NoError(t, w.Save(testCtx(t), last))
	fresh := newReader(t, rs.Client(), o)
	require.NoError(t, fresh.WaitForInitialization(testCtx(t)))
	for _, c := range append(readers, fresh) {
		waitStatus(t, c, "the last version", func(fbclient.Status) bool { return c.Variation("f3", user, "") == "b" })
	}
	for _, u := range []fbclient.User{user, fbclient.NewUser("u2"), fbclient.NewUser("u3").WithCustom("plan", "pro")} {
		want := fresh.AllVariations(u)
		for _, c := range readers {
			assert.Equal(t, want, c.AllVariations(u))
		}
	}
}
