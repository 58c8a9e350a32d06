package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newWriter(t *testing.T, rdb redis.UniversalClient, o Options) *Writer {
	t.Helper()
	w, err := NewWriter(rdb, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func TestOptions(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"no env id", Options{}},
		{"braces in env id", Options{EnvID: "a{b}"}},
		{"space in prefix", Options{EnvID: "e", Prefix: "a b"}},
		{"short lease", Options{EnvID: "e", LeaseTTL: time.Millisecond}},
		{"short check interval", Options{EnvID: "e", CheckInterval: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewWriter(rdb, tc.o)
			assert.ErrorIs(t, err, fbclient.ErrInvalidConfig)
			_, err = NewDataSource(rdb, tc.o)
			assert.ErrorIs(t, err, fbclient.ErrInvalidConfig)
		})
	}
	_, err := NewDataSource(nil, Options{EnvID: "e"})
	assert.ErrorIs(t, err, fbclient.ErrInvalidConfig)

	o, k, err := Options{EnvID: "3F2C-AB", Prefix: "flags"}.resolve()
	require.NoError(t, err)
	assert.Equal(t, keys{data: "flags:{3f2c-ab}:data", lease: "flags:{3f2c-ab}:lease", channel: "flags:{3f2c-ab}:changed"}, k)
	assert.Equal(t, DefaultLeaseTTL, o.LeaseTTL)
	assert.Equal(t, DefaultCheckInterval, o.CheckInterval)
}

func TestEnvIDFromSecret(t *testing.T) {
	srv := fbtest.NewTestServer(t)
	id, err := fbclient.EnvIDFromSecret(srv.Secret())
	require.NoError(t, err)
	assert.Equal(t, srv.EnvID(), id)
	_, err = fbclient.EnvIDFromSecret("short")
	assert.Error(t, err)
}

// A saved data set is stored whole with its version, published, loaded back, and carries no
// secret.
func TestWriterSaveLoad(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	rdb := rs.Client()
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("banner").Strings("blue", "green").Rollout(1, 1))
	srv.SetSegments(fbtest.Segment("beta").Included("u1"))
	o := Options{EnvID: srv.EnvID()}
	n := watch(t, rdb, o)
	w := newWriter(t, rdb, o)

	_, err := w.Load(testCtx(t))
	assert.ErrorIs(t, err, ErrNoData)

	savedAt := time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC) // what the client gives
	ds := fullSet(t, srv).WithSavedAt(savedAt)
	require.NoError(t, w.Save(testCtx(t), ds))
	n.waitFor(t, ds.Version())
	assert.Equal(t, ds.Version(), storedVersion(t, rdb, o))

	got, err := w.Load(testCtx(t))
	require.NoError(t, err)
	want, _ := ds.MarshalJSON()
	have, _ := got.MarshalJSON()
	assert.JSONEq(t, string(want), string(have))
	assert.True(t, savedAt.Equal(got.SavedAt()), "SavedAt %v comes back as %v", savedAt, got.SavedAt())

	// Only the data and the lease are stored; nothing holds the secret.
	keys, err := rdb.Keys(testCtx(t), "*").Result()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"fbclient:{" + srv.EnvID() + "}:data", "fbclient:{" + srv.EnvID() + "}:lease"}, keys)
	stored, err := rdb.HGetAll(testCtx(t), "fbclient:{"+srv.EnvID()+"}:data").Result()
	require.NoError(t, err)
	lease, err := rdb.Get(testCtx(t), "fbclient:{"+srv.EnvID()+"}:lease").Result()
	require.NoError(t, err)
	for _, v := range append([]string{lease}, stored["version"], stored["data"]) {
		assert.NotContains(t, v, srv.Secret())
		assert.NotContains(t, v, srv.Secret()[:22]) // nor the key part of it
	}

	// A stored set without a readable time is still good; it has no SavedAt.
	require.NoError(t, rdb.HSet(testCtx(t), "fbclient:{"+srv.EnvID()+"}:data", fieldSavedAt, "soon").Err())
	got, err = w.Load(testCtx(t))
	require.NoError(t, err)
	assert.True(t, got.SavedAt().IsZero())

	assert.Error(t, w.Save(testCtx(t), mustParse(t, `{"eventType":"patch","featureFlags":[],"segments":[]}`)))
	require.NoError(t, w.Close())
	assert.ErrorIs(t, w.Save(testCtx(t), ds), ErrClosed)
	// Close gave up the lease.
	assert.Equal(t, int64(0), rdb.Exists(testCtx(t), "fbclient:{"+srv.EnvID()+"}:lease").Val())
}

func mustParse(t *testing.T, s string) *fbclient.DataSet {
	t.Helper()
	ds, err := fbclient.ParseDataSet([]byte(s))
	require.NoError(t, err)
	return ds
}

// An older data set never replaces a newer one.
func TestWriterRefusesOlder(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	rdb := rs.Client()
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a"))
	older := fullSet(t, srv)
	srv.SetFlags(fbtest.Flag("b"))
	newer := fullSet(t, srv)
	require.Greater(t, newer.Version(), older.Version())

	o := Options{EnvID: srv.EnvID()}
	n := watch(t, rdb, o)
	w1 := newWriter(t, rdb, o)
	require.NoError(t, w1.Save(testCtx(t), newer))
	require.NoError(t, w1.Close()) // a second writer, behind the first, takes over
	w2 := newWriter(t, rdb, o)
	require.NoError(t, w2.Save(testCtx(t), older))
	assert.Equal(t, newer.Version(), storedVersion(t, rdb, o))
	srv.SetFlags(fbtest.Flag("c"))
	newest := fullSet(t, srv)
	require.NoError(t, w2.Save(testCtx(t), newest))
	assert.Equal(t, []int64{newer.Version(), newest.Version()}, n.waitFor(t, newest.Version()))
}

// While one Writer holds the lease, another one does not write; when the holder dies, the
// other takes over within the lease's bound and writes its newer data set, never an older one.
func TestWriterFailover(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	o := Options{EnvID: srv.EnvID(), LeaseTTL: 300 * time.Millisecond}
	n := watch(t, rs.Client(), o)

	srv.SetFlags(fbtest.Flag("a"))
	v1 := fullSet(t, srv)
	srv.SetFlags(fbtest.Flag("b"))
	v2 := fullSet(t, srv)

	// The holder has its own connection, so that it can die alone.
	holderRdb := rs.Client()
	holder := newWriter(t, holderRdb, Options{EnvID: o.EnvID, LeaseTTL: time.Minute})
	require.NoError(t, holder.Save(testCtx(t), v1))
	standby := newWriter(t, rs.Client(), o)
	require.NoError(t, standby.Save(testCtx(t), v2))
	assert.Equal(t, v1.Version(), storedVersion(t, rs.Client(), o), "the standby wrote while the holder held the lease")

	// The holder dies without giving up the lease; it expires after a minute, so let Redis
	// expire it now as it would then.
	_ = holderRdb.Close()
	_, k, _ := o.resolve()
	require.NoError(t, rs.Client().PExpire(testCtx(t), k.lease, time.Millisecond).Err())
	assert.Equal(t, []int64{v1.Version(), v2.Version()}, n.waitFor(t, v2.Version()))
}

// Several Writers saving the same growing data set at once never store an older set over a
// newer one, and the newest set ends up stored.
func TestWritersConcurrent(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	o := Options{EnvID: srv.EnvID(), LeaseTTL: 150 * time.Millisecond}
	n := watch(t, rs.Client(), o)
	var sets []*fbclient.DataSet
	for i := range 20 {
		srv.SetFlags(fbtest.Flag("f").Strings("a", "b").Fallthrough(i % 2))
		sets = append(sets, fullSet(t, srv))
	}
	var wg sync.WaitGroup
	for range 4 {
		w := newWriter(t, rs.Client(), o)
		wg.Go(func() {
			for _, ds := range sets {
				assert.NoError(t, w.Save(testCtx(t), ds))
			}
		})
	}
	wg.Wait()
	last := sets[len(sets)-1].Version()
	got := n.waitFor(t, last)
	for i := 1; i < len(got); i++ {
		assert.Greater(t, got[i], got[i-1], "versions published in order: %v", got)
	}
}

// After Redis restarts empty, the Writer that holds the newest data writes it again.
func TestWriterRedisRestart(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	o := Options{EnvID: srv.EnvID(), LeaseTTL: 150 * time.Millisecond}
	srv.SetFlags(fbtest.Flag("a"))
	ds := fullSet(t, srv)
	rdb := rs.Client()
	w := newWriter(t, rdb, o)
	require.NoError(t, w.Save(testCtx(t), ds))

	rs.Stop()
	err := w.Save(testCtx(t), ds)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrClosed))
	assert.NotContains(t, err.Error(), srv.Secret())
	rs.Start()
	eventually(t, "the data set is written again", func() bool {
		s, err := rdb.HGet(context.Background(), "fbclient:{"+srv.EnvID()+"}:data", fieldVersion).Result()
		return err == nil && !strings.HasPrefix(s, "-")
	})
	assert.Equal(t, ds.Version(), storedVersion(t, rdb, o))
}

// newClient starts a streaming client of srv, closed at the end of the test.
func newClient(t *testing.T, srv *fbtest.Server, cfg fbclient.Config) *fbclient.Client {
	t.Helper()
	cfg.EnvSecret = srv.Secret()
	cfg.StreamingURL = srv.StreamingURL()
	cfg.DisableEvents = true
	c, err := fbclient.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A Writer that follows its client gives up the lease when the client loses FeatBit, and a
// Writer whose client is in sync takes over.
func TestWriterFollowsClient(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srvA := fbtest.NewTestServer(t)
	srvB := fbtest.NewTestServer(t, fbtest.WithSecret(srvA.Secret()))
	o := Options{EnvID: srvA.EnvID(), LeaseTTL: 300 * time.Millisecond}
	n := watch(t, rs.Client(), o)

	srvA.SetFlags(fbtest.Flag("a"))
	v1 := fullSet(t, srvA)
	srvB.SetFlags(fbtest.Flag("a"), fbtest.Flag("b"))
	v2 := fullSet(t, srvB)
	require.Greater(t, v2.Version(), v1.Version())

	wA := newWriter(t, rs.Client(), o)
	wA.Follow(newClient(t, srvA, fbclient.Config{}))
	require.NoError(t, wA.Save(testCtx(t), v1))
	n.waitFor(t, v1.Version())
	wB := newWriter(t, rs.Client(), o)
	wB.Follow(newClient(t, srvB, fbclient.Config{}))
	require.NoError(t, wB.Save(testCtx(t), v2))
	assert.Equal(t, v1.Version(), storedVersion(t, rs.Client(), o))

	srvA.RefuseConnections(503)
	srvA.DropConnections()
	assert.Equal(t, []int64{v1.Version(), v2.Version()}, n.waitFor(t, v2.Version()))
}

// A data set of another environment than the Writer's is refused, so that readers of this
// environment never serve it.
func TestWriterRefusesForeignEnv(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	rdb := rs.Client()
	ours, theirs := fbtest.NewTestServer(t), fbtest.NewTestServer(t)
	theirs.SetFlags(fbtest.Flag("a"))
	o := Options{EnvID: ours.EnvID()}
	w := newWriter(t, rdb, o)
	err := w.Save(testCtx(t), fullSet(t, theirs))
	require.Error(t, err)
	assert.Contains(t, err.Error(), theirs.EnvID())
	assert.Equal(t, int64(-1), storedVersion(t, rdb, o))

	ours.SetFlags(fbtest.Flag("a"))
	ds := fullSet(t, ours)
	require.NoError(t, w.Save(testCtx(t), ds))
	assert.Equal(t, ds.Version(), storedVersion(t, rdb, o))
}
