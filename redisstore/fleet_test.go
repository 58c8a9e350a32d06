package redisstore

import (
	"fmt"
	"path/filepath"
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

// newWriterClient starts a client of srv whose Config.Cache is a new Writer on rdb, and makes
// the Writer follow it. Both are closed at the end of the test, the client first.
func newWriterClient(t *testing.T, srv *fbtest.Server, rdb redis.UniversalClient, o Options) (*fbclient.Client, *Writer) {
	t.Helper()
	w := newWriter(t, rdb, o)
	c := newClient(t, srv, fbclient.Config{Cache: w})
	w.Follow(c)
	return c, w
}

// waitStored waits until Redis holds version v for o's environment.
func waitStored(t *testing.T, rdb redis.UniversalClient, o Options, v int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("Redis holds version %d", v), func() bool { return storedVersion(t, rdb, o) == v })
}

// The whole chain with real clients: FeatBit (fbtest) → a writer client whose Config.Cache is
// a Writer → Redis → reader clients. Every change, back-to-back ones included, reaches every
// reader, and FeatBit sees one connection: the writer's.
func TestFleetThroughClients(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	banner := func(i int) *fbtest.FlagBuilder {
		return fbtest.Flag("banner").Strings("blue", "green", "red", "black").Fallthrough(i)
	}
	srv.SetFlags(banner(0))
	srv.SetFlags(testFlags(10)...)
	o := Options{EnvID: srv.EnvID(), CheckInterval: time.Hour} // changes travel by notification
	wc, _ := newWriterClient(t, srv, rs.Client(), o)
	require.Equal(t, fbclient.StateReady, wc.Status().State)
	user := fbclient.NewUser("u1")

	var readers []*fbclient.Client
	for range 5 {
		c := newReader(t, rs.Client(), o)
		require.NoError(t, c.WaitForInitialization(testCtx(t)))
		assert.Equal(t, "blue", c.Variation("banner", user, "none"))
		readers = append(readers, c)
	}
	for _, i := range []int{1, 2, 1, 2, 3} { // one after the other, without waiting
		srv.SetFlags(banner(i))
	}
	for _, c := range readers {
		waitStatus(t, c, "the last change is served", func(fbclient.Status) bool { return c.Variation("banner", user, "none") == "black" })
	}
	for _, u := range []fbclient.User{user, fbclient.NewUser("u2").WithCustom("plan", "pro")} {
		want := wc.AllVariations(u)
		for _, c := range readers {
			assert.Equal(t, want, c.AllVariations(u), "a reader serves what the writer client serves")
		}
	}
	assert.Equal(t, 1, srv.Connections())
	assert.Equal(t, 1, srv.Stats().StreamsAccepted, "FeatBit accepted one connection, the writer's")
}

// A client that cannot reach FeatBit at start serves the data set that a writer client left
// in Redis, stale and marked as cached with the time that client saved it, and switches to
// live data when FeatBit is back. A client of another environment does not take it.
func TestWarmStartFromRedis(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	rdb := rs.Client()
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("banner").Strings("blue", "green").Fallthrough(0))
	o := Options{EnvID: srv.EnvID()}
	_, k, _ := o.resolve()
	user := fbclient.NewUser("u1")

	before := time.Now().Truncate(time.Millisecond) // Redis keeps milliseconds
	first, firstW := newWriterClient(t, srv, rdb, o)
	waitStored(t, rdb, o, srv.DataVersion())
	after := time.Now()
	require.NoError(t, first.Close())
	require.NoError(t, firstW.Close())
	srv.Stop()

	w := newWriter(t, rdb, o)
	c := newClient(t, srv, fbclient.Config{Cache: w, StartWait: -1})
	w.Follow(c)
	st := c.Status()
	require.True(t, st.FromCache, "the client starts warm from Redis")
	assert.Equal(t, fbclient.StateStale, st.State)
	assert.False(t, st.CachedAt.Before(before) || st.CachedAt.After(after), "CachedAt %v is when the first client saved, between %v and %v", st.CachedAt, before, after)
	assert.Equal(t, "blue", c.Variation("banner", user, "none"))
	assert.Equal(t, int64(0), rdb.Exists(testCtx(t), k.lease).Val(), "a writer whose client serves cached data takes no lease")

	other := fbtest.NewTestServer(t)
	other.Stop()
	foreign := newClient(t, other, fbclient.Config{Cache: newWriter(t, rdb, o), StartWait: -1})
	assert.False(t, foreign.Status().FromCache, "another environment's data set is not served")
	assert.Equal(t, "none", foreign.Variation("banner", user, "none"))

	srv.SetFlags(fbtest.Flag("banner").Strings("blue", "green").Fallthrough(1))
	require.NoError(t, srv.Start())
	require.NoError(t, c.WaitForInitialization(testCtx(t)))
	st = waitStatus(t, c, "ready", isReady)
	assert.False(t, st.FromCache)
	assert.True(t, st.CachedAt.IsZero())
	assert.Equal(t, "green", c.Variation("banner", user, "none"))
	waitStored(t, rdb, o, srv.DataVersion())
}

// Writer failover through real clients: two writer clients, the lease holder dies without
// giving up its lease, and the other one writes the next change once the lease has expired.
// Readers get every version in order, and FeatBit sees one connection per writer, none per
// reader.
func TestWriterFailoverThroughClients(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("banner").Strings("blue", "green").Fallthrough(0))
	// The lease must outlast renewals delayed by a busy machine, or the standby would take it
	// before the holder dies; the takeover takes up to 1.33 s.
	o := Options{EnvID: srv.EnvID(), LeaseTTL: time.Second, CheckInterval: 50 * time.Millisecond}
	_, k, _ := o.resolve()
	n := watch(t, rs.Client(), o)
	user := fbclient.NewUser("u1")

	holderRdb := rs.Client() // its own connection, so that it can die alone
	holder, holderW := newWriterClient(t, srv, holderRdb, o)
	v1 := srv.DataVersion()
	waitStored(t, rs.Client(), o, v1)
	_, _ = newWriterClient(t, srv, rs.Client(), o)
	require.Equal(t, holderW.owner, rs.Client().Get(testCtx(t), k.lease).Val(), "the first writer holds the lease")
	readers := []*fbclient.Client{newReader(t, rs.Client(), o), newReader(t, rs.Client(), o)}
	for _, c := range readers {
		require.NoError(t, c.WaitForInitialization(testCtx(t)))
		assert.Equal(t, "blue", c.Variation("banner", user, "none"))
	}
	assert.Equal(t, 2, srv.Connections(), "one FeatBit connection per writer, none per reader")

	// The holder dies: its Redis connection goes first, so it cannot give up the lease.
	require.NoError(t, holderRdb.Close())
	require.NoError(t, holder.Close())
	require.NoError(t, srv.WaitConnections(testCtx(t), 1))
	srv.SetFlags(fbtest.Flag("banner").Strings("blue", "green").Fallthrough(1))
	v2 := srv.DataVersion()
	for _, c := range readers {
		waitStatus(t, c, "the change is served", func(st fbclient.Status) bool {
			return st.State == fbclient.StateReady && c.Variation("banner", user, "none") == "green"
		})
	}
	assert.Equal(t, []int64{v1, v2}, n.waitFor(t, v2), "each version written once, in order")
	assert.Equal(t, 2, srv.Stats().StreamsAccepted)
}

// A reader client with a FileCache of its own starts warm when Redis is unreachable at start,
// and takes the whole stored set when Redis is back.
func TestReaderWarmStartFromFile(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("banner").Strings("blue", "green").Fallthrough(0))
	o := Options{EnvID: srv.EnvID(), CheckInterval: 20 * time.Millisecond, LeaseTTL: 150 * time.Millisecond}
	newWriterClient(t, srv, rs.Client(), o)
	user := fbclient.NewUser("u1")
	file := filepath.Join(t.TempDir(), "flags.json")
	reader := func() *fbclient.Client {
		src, err := NewDataSource(rs.Client(), o)
		require.NoError(t, err)
		c, err := fbclient.New(fbclient.Config{DataSource: src, DisableEvents: true, StartWait: -1, Cache: fbclient.FileCache(file)})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	first := reader()
	require.NoError(t, first.WaitForInitialization(testCtx(t)))
	require.NoError(t, first.Close()) // saves the file, if not saved yet

	rs.Stop()
	c := reader()
	st := c.Status()
	require.True(t, st.FromCache)
	assert.Equal(t, "blue", c.Variation("banner", user, "none"))

	srv.SetFlags(fbtest.Flag("banner").Strings("blue", "green").Fallthrough(1))
	rs.Start() // empty: the writer stores its data set again
	require.NoError(t, c.WaitForInitialization(testCtx(t)))
	st = waitStatus(t, c, "ready", isReady)
	assert.False(t, st.FromCache)
	assert.Equal(t, "green", c.Variation("banner", user, "none"))
}
