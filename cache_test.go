package fbclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/internal/wire"
)

// withCache sets Config.Cache for the start helper.
func withCache(cache Cache) func(*Config) {
	return func(c *Config) { c.Cache = cache }
}

// saveLive runs a client against srv until it is ready, then closes it, leaving the data
// set in the cache.
func saveLive(t *testing.T, srv *fbtest.Server, cache Cache) {
	t.Helper()
	c, _ := start(t, srv, opts{cfg: withCache(cache)})
	require.Equal(t, StateReady, c.Status().State)
	require.NoError(t, c.Close())
}

// A client that cannot reach FeatBit at start serves the data set a previous client left in
// the file cache, stale and marked as cached, keeps connecting, and switches to live data with
// the first data-sync. The cached data set is replaced by a full one: the client asks for
// everything (timestamp 0), not for the changes since the cached version.
func TestWarmStart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		startWait time.Duration
		mode      SyncMode
	}{
		{"StartWait passes", 20 * time.Millisecond, SyncStreaming},
		{"no StartWait", -1, SyncStreaming},
		{"polling", 20 * time.Millisecond, SyncPolling},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			srv := fbtest.NewTestServer(t)
			srv.SetFlags(fbtest.Flag("color").Strings("red", "blue").Fallthrough(0), fbtest.Flag("gone").On(true))
			path := filepath.Join(t.TempDir(), "flags.json")
			saveStarted := time.Now()
			saveLive(t, srv, FileCache(path))
			cachedVersion := srv.DataVersion()

			info, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assertNoSecret(t, string(b), srv.Secret())

			// FeatBit changes while the next client cannot reach it.
			srv.SetFlags(fbtest.Flag("color").Strings("red", "blue").Fallthrough(1))
			srv.ArchiveFlag("gone")
			srv.RefuseConnections(http.StatusServiceUnavailable)
			requests := len(srv.DataSyncRequests())
			attempts := func() int { st := srv.Stats(); return st.StreamsRefused + st.PollRequests }
			before := attempts()

			c, w := start(t, srv, opts{mode: tc.mode, startWait: tc.startWait, cfg: withCache(FileCache(path))})
			st := c.Status()
			assert.Equal(t, StateStale, st.State)
			assert.True(t, st.FromCache)
			assert.False(t, st.CachedAt.Before(saveStarted), "CachedAt %v is before the save started (%v)", st.CachedAt, saveStarted)
			assert.False(t, st.CachedAt.After(time.Now()))
			assert.False(t, c.Initialized(), "cached data does not make the client initialized")
			assert.Equal(t, "red", c.Variation("color", anyUser, "none"), "the cached data is served")
			assert.True(t, c.BoolVariation("gone", anyUser, false))
			d := c.VariationDetail("color", anyUser, "none")
			assert.Equal(t, ReasonFallthrough, d.Reason)

			// Failures while serving the cache leave it stale and cached.
			require.NoError(t, srv.WaitFor(testCtx(t), func() bool { return attempts() >= before+2 }))
			st = c.Status()
			assert.Equal(t, StateStale, st.State)
			assert.True(t, st.FromCache)
			assert.ErrorContains(t, st.Err, "503")

			srv.RefuseConnections(0)
			require.NoError(t, c.WaitForInitialization(testCtx(t)))
			st = c.Status()
			assert.Equal(t, StateReady, st.State)
			assert.False(t, st.FromCache)
			assert.True(t, st.CachedAt.IsZero())
			assert.Equal(t, "blue", c.Variation("color", anyUser, "none"), "live data replaces the cache")
			assert.False(t, c.BoolVariation("gone", anyUser, false), "an archived flag is gone")
			reqs := srv.DataSyncRequests()[requests:]
			require.NotEmpty(t, reqs)
			for _, r := range reqs {
				assert.Zero(t, r.Timestamp, "while serving the cache (version %d) the client asks for a full data set", cachedVersion)
			}
			w.find(t, "flag changes", changed("gone"))
			require.NoError(t, c.Close())

			var evs []Event
			for _, e := range w.snapshot() {
				if e.Type != EventNetworkFetch && e.Type != EventNetworkFetchError && slices.Contains(syncEvents, e.Type) {
					evs = append(evs, e)
				}
			}
			assert.Equal(t, []string{
				"status changed: not ready -> stale",
				"network fetch full: " + tc.mode.String(),
				"status changed: stale -> ready",
				"client ready",
				"flag changed: color,gone",
				"status changed: ready -> closed",
			}, describe(evs))
			require.NotNil(t, evs[0].StatusChange)
			assert.True(t, evs[0].StatusChange.Status.FromCache)
			assert.False(t, evs[2].StatusChange.Status.FromCache)

			// The live data set was saved over the cached one, at Close at the latest.
			ds, err := FileCache(path).Load(context.Background())
			require.NoError(t, err)
			assert.Equal(t, srv.DataVersion(), ds.Version())
		})
	}
}

// A cache file that cannot be used costs one warning and nothing else: New works, and the
// client starts cold.
func TestWarmStartUnusableCache(t *testing.T) {
	good := func(t *testing.T, srv *fbtest.Server) []byte {
		path := filepath.Join(t.TempDir(), "good.json")
		saveLive(t, srv, FileCache(path))
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return b
	}
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, srv *fbtest.Server, path string)
		says  string
	}{
		{"missing", func(*testing.T, *fbtest.Server, string) {}, "no such file"},
		{"unreadable", func(t *testing.T, _ *fbtest.Server, path string) { require.NoError(t, os.Mkdir(path, 0o700)) }, "is a directory"},
		{"empty", func(t *testing.T, _ *fbtest.Server, path string) { require.NoError(t, os.WriteFile(path, nil, 0o600)) }, "empty"},
		{"truncated", func(t *testing.T, srv *fbtest.Server, path string) {
			b := good(t, srv)
			require.NoError(t, os.WriteFile(path, b[:len(b)/2], 0o600))
		}, "cut short"},
		{"corrupted", func(t *testing.T, srv *fbtest.Server, path string) {
			b := good(t, srv)
			b[len(b)/3] = 0
			require.NoError(t, os.WriteFile(path, b, 0o600))
		}, "damaged"},
		{"a FeatBit data set", func(t *testing.T, _ *fbtest.Server, path string) {
			b, err := os.ReadFile("testdata/featbit_test_data.json")
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, b, 0o600))
		}, "not a cache file"},
		{"text", func(t *testing.T, _ *fbtest.Server, path string) {
			require.NoError(t, os.WriteFile(path, []byte("hello"), 0o600))
		}, "not a cache file"},
		{"a newer format", func(t *testing.T, srv *fbtest.Server, path string) {
			b := bytes.Replace(good(t, srv), []byte(`"fbclientCacheFormat":1`), []byte(`"fbclientCacheFormat":2`), 1)
			require.NoError(t, os.WriteFile(path, b, 0o600))
		}, "format 2"},
		{"another environment", func(t *testing.T, _ *fbtest.Server, path string) {
			other := fbtest.NewTestServer(t)
			other.SetFlags(fbtest.Flag("color").On(true))
			saveLive(t, other, FileCache(path))
		}, "belongs to environment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			srv := fbtest.NewTestServer(t)
			srv.SetFlags(fbtest.Flag("color").On(true))
			path := filepath.Join(t.TempDir(), "flags.json")
			tc.write(t, srv, path)
			srv.RefuseConnections(http.StatusServiceUnavailable)

			c, w := start(t, srv, opts{startWait: -1, cfg: withCache(FileCache(path))})
			st := c.Status()
			assert.Equal(t, StateNotReady, st.State)
			assert.False(t, st.FromCache)
			assert.False(t, c.BoolVariation("color", anyUser, false))
			logs := w.logs.String()
			cacheWarnings := 0
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, "level=WARN") && strings.Contains(line, "cache") {
					cacheWarnings++
				}
			}
			assert.Equal(t, 1, cacheWarnings, logs)
			assert.Equal(t, 1, strings.Count(logs, "the cached data set is not used"), logs)
			assert.Contains(t, logs, tc.says)

			srv.RefuseConnections(0)
			require.NoError(t, c.WaitForInitialization(testCtx(t)))
			assert.True(t, c.BoolVariation("color", anyUser, false))
		})
	}
}

// recordingCache is a Cache that keeps what it is given in memory and reports each Save.
type recordingCache struct {
	mu    sync.Mutex
	saved []*DataSet
	errs  []error // returned by the Saves in turn, then nil
	calls chan *DataSet
}

func newRecordingCache() *recordingCache { return &recordingCache{calls: make(chan *DataSet, 100)} }

func (r *recordingCache) Load(context.Context) (*DataSet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.saved) == 0 {
		return nil, errors.New("nothing saved")
	}
	return r.saved[len(r.saved)-1], nil
}

func (r *recordingCache) Save(_ context.Context, ds *DataSet) error {
	r.mu.Lock()
	var err error
	if len(r.errs) > 0 {
		err, r.errs = r.errs[0], r.errs[1:]
	} else {
		r.saved = append(r.saved, ds)
	}
	r.mu.Unlock()
	r.calls <- ds
	return err
}

func (r *recordingCache) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.saved)
}

// next returns the data set of the next call to Save.
func (r *recordingCache) next(t *testing.T) *DataSet {
	t.Helper()
	select {
	case ds := <-r.calls:
		return ds
	case <-testCtx(t).Done():
		t.Fatal("no save")
		return nil
	}
}

// cacheClock is the cache writer's clock in tests: time stands still, and every wait
// between two saves lasts until the test fires it.
type cacheClock struct {
	now   time.Time
	waits chan time.Duration
	fire  chan time.Time
}

func newCacheClock() *cacheClock {
	return &cacheClock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), waits: make(chan time.Duration, 100), fire: make(chan time.Time)}
}

func (k *cacheClock) timings() cacheTimings {
	return cacheTimings{every: cacheEvery, now: func() time.Time { return k.now }, after: func(d time.Duration) <-chan time.Time {
		k.waits <- d
		return k.fire
	}}
}

// wait returns the next wait the writer starts.
func (k *cacheClock) wait(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-k.waits:
		return d
	case <-testCtx(t).Done():
		t.Fatal("the cache writer does not wait")
		return 0
	}
}

// startClocked starts a streaming client for srv with cache and the writer's clock k,
// closed when the test ends, and returns it with its logs and events.
func startClocked(t *testing.T, srv *fbtest.Server, cache Cache, k *cacheClock) (*Client, *watch) {
	t.Helper()
	w := &watch{collector: newCollector()}
	c, err := newClientCache(Config{
		EnvSecret:     srv.Secret(),
		StreamingURL:  srv.StreamingURL(),
		DisableEvents: true,
		StartWait:     10 * time.Second,
		Cache:         cache,
		Logger:        slog.New(slog.NewTextHandler(&w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Listeners:     []Listener{{Events: syncEvents, Func: w.add}},
	}, fast, k.timings())
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, c.Close())
		assertNoSecret(t, w.text(), srv.Secret())
	})
	return c, w
}

// applied waits until the client has applied the server's latest data.
func applied(t *testing.T, w *watch, srv *fbtest.Server) {
	t.Helper()
	v := srv.DataVersion()
	w.find(t, "the latest change", func(e Event) bool { return e.Fetch != nil && e.Fetch.Version == v })
}

// Saves are coalesced: the first data set is saved at once, then a burst of changes makes
// one more save, of the latest data, when the interval has passed. Nothing is saved twice.
func TestCacheCoalescesSaves(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("n").Strings("0", "1"))
	cache := newRecordingCache()
	k := newCacheClock()
	c, w := startClocked(t, srv, cache, k)
	require.Equal(t, StateReady, c.Status().State)
	first := cache.next(t)
	assert.Equal(t, srv.DataVersion(), first.Version())
	assert.Equal(t, k.now, first.SavedAt())

	for i := range 20 {
		srv.SetFlags(fbtest.Flag("f" + formatIndex(i)).On(true))
	}
	assert.Equal(t, cacheEvery, k.wait(t), "the writer waits out the interval since the last save")
	applied(t, w, srv)
	k.fire <- k.now
	second := cache.next(t)
	assert.Equal(t, srv.DataVersion(), second.Version(), "the save after the wait has the latest data")
	flags, _ := second.Len()
	assert.Equal(t, 21, flags)

	require.NoError(t, c.Close())
	assert.Equal(t, 2, cache.count(), "twenty-one data sets, two saves")
}

// intervalCache is a recordingCache that asks for its own interval between saves.
type intervalCache struct {
	*recordingCache
	every time.Duration
}

func (c intervalCache) SaveInterval() time.Duration { return c.every }

// panickyIntervalCache is a recordingCache whose SaveInterval panics.
type panickyIntervalCache struct{ *recordingCache }

func (panickyIntervalCache) SaveInterval() time.Duration { panic("no interval") }

// A Cache with a SaveInterval method sets the interval between saves: with 0, every change is
// saved as soon as it is applied, with no wait.
func TestCacheSaveInterval(t *testing.T) {
	checkLeaks(t)
	for _, tc := range []struct {
		name  string
		cache func(*recordingCache) Cache
		wait  time.Duration // the wait after a save; 0: none
	}{
		{"zero", func(r *recordingCache) Cache { return intervalCache{r, 0} }, 0},
		{"negative", func(r *recordingCache) Cache { return intervalCache{r, -time.Second} }, 0},
		{"longer", func(r *recordingCache) Cache { return intervalCache{r, time.Minute} }, time.Minute},
		{"panics", func(r *recordingCache) Cache { return panickyIntervalCache{r} }, cacheEvery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fbtest.NewTestServer(t)
			srv.SetFlags(fbtest.Flag("a").On(true))
			rec := newRecordingCache()
			k := newCacheClock()
			_, w := startClocked(t, srv, tc.cache(rec), k)
			rec.next(t)
			if tc.wait > 0 {
				srv.SetFlags(fbtest.Flag("b").On(true))
				assert.Equal(t, tc.wait, k.wait(t))
				return
			}
			for i := range 3 {
				srv.SetFlags(fbtest.Flag("f" + formatIndex(i)).On(true))
				applied(t, w, srv)
				assert.Equal(t, srv.DataVersion(), rec.next(t).Version(), "each change is saved")
			}
			assert.Empty(t, k.waits, "no wait between saves")
		})
	}
}

// A change still unsaved at Close is saved by Close.
func TestCacheSavesAtClose(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a").On(true))
	cache := newRecordingCache()
	k := newCacheClock()
	c, w := startClocked(t, srv, cache, k)
	cache.next(t)
	srv.SetFlags(fbtest.Flag("b").On(true))
	k.wait(t)
	applied(t, w, srv)
	require.NoError(t, c.Close())
	last := cache.next(t)
	assert.Equal(t, srv.DataVersion(), last.Version())
	assert.Equal(t, 2, cache.count())
}

// Failed saves are logged once per kind of failure, not once per save; the data is saved
// when the cache works again.
func TestCacheSaveFailuresLoggedOncePerKind(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a").On(true))
	cache := newRecordingCache()
	diskFull := &os.PathError{Op: "write", Path: "/var/cache/.flags.json.tmp-1", Err: errors.New("no space left on device")}
	diskFull2 := &os.PathError{Op: "write", Path: "/var/cache/.flags.json.tmp-2", Err: errors.New("no space left on device")}
	away := errors.New("cache server away")
	cache.errs = []error{diskFull, diskFull2, diskFull, away, away, diskFull}
	k := newCacheClock()
	c, w := startClocked(t, srv, cache, k)
	cache.next(t)
	for i := range 6 {
		srv.SetFlags(fbtest.Flag("a").On(i%2 == 0))
		k.wait(t)
		applied(t, w, srv)
		k.fire <- k.now
		cache.next(t)
	}
	require.Equal(t, 1, cache.count(), "the seventh save worked")
	require.NoError(t, c.Close())

	var warnings []string
	debug := 0
	for _, line := range strings.Split(w.logs.String(), "\n") {
		switch {
		case strings.Contains(line, "level=WARN"):
			warnings = append(warnings, line)
		case strings.Contains(line, "level=DEBUG") && strings.Contains(line, "cannot save"):
			debug++
		}
	}
	require.Len(t, warnings, 2, "one per kind")
	assert.Contains(t, warnings[0], "no space left on device")
	assert.Contains(t, warnings[1], "cache server away")
	assert.Equal(t, 4, debug, "the repeats")
}

// FileCache writes through a temporary file that it renames: no temporary file is left,
// the file is 0600 whatever was there before, and a failed save leaves the old file whole.
func TestFileCacheReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flags.json")
	require.NoError(t, os.WriteFile(path, []byte("old"), 0o644))
	fc := FileCache(path)
	ds := dataSet(t, full([]wire.Flag{boolFlag("a", true, 100)}, seg("s", 90, "u"))).WithSavedAt(time.UnixMilli(5000))
	require.NoError(t, fc.Save(context.Background(), ds))

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left")
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	back, err := fc.Load(context.Background())
	require.NoError(t, err)
	assert.True(t, back.Full())
	assert.Equal(t, int64(100), back.Version())
	assert.True(t, back.SavedAt().Equal(time.UnixMilli(5000)))
	b1, _ := ds.MarshalJSON()
	b2, _ := back.MarshalJSON()
	assert.JSONEq(t, string(b1), string(b2))

	// A save that cannot write leaves the file as it was.
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	bad := FileCache(filepath.Join(dir, "missing-dir", "flags.json"))
	require.Error(t, bad.Save(context.Background(), ds))
	require.Error(t, fc.Save(context.Background(), dataSet(t, patch(nil))), "a patch is not saved")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	var cf cacheFile
	require.NoError(t, json.Unmarshal(after, &cf))
	assert.Equal(t, fileCacheFormat, cf.Format)
	assert.Equal(t, int64(100), cf.Version)
}

// With a DataSource the cache works the same. Before the source's first full data set the
// client asks for everything (Version 0); a patch that comes first is applied over the cached
// data but leaves the client stale and cached, and is folded into the full data set, so
// that the newer copy of each item wins.
func TestWarmStartWithDataSource(t *testing.T) {
	checkLeaks(t)
	cache := newRecordingCache()
	cache.saved = []*DataSet{dataSet(t, full([]wire.Flag{boolFlag("a", true, 100), boolFlag("b", true, 100)})).WithSavedAt(time.UnixMilli(42))}
	col := newCollector()
	c, sink := newWithSource(t, Config{Cache: cache, Listeners: []Listener{{Events: syncEvents, Func: col.add}}})
	st := c.Status()
	assert.Equal(t, StateStale, st.State)
	assert.True(t, st.FromCache)
	assert.True(t, st.CachedAt.Equal(time.UnixMilli(42)))
	assert.Zero(t, sink.Version(), "the source is asked for a full data set")
	u := NewUser("u")
	assert.True(t, c.BoolVariation("a", u, false))

	sink.Apply(dataSet(t, patch([]wire.Flag{boolFlag("a", false, 300)})), Fetch{})
	assert.False(t, c.BoolVariation("a", u, true), "the patch is applied over the cached data")
	assert.Equal(t, StateStale, c.Status().State, "a patch does not make the cached data live")
	assert.True(t, c.Status().FromCache)
	assert.Zero(t, sink.Version())

	sink.Apply(dataSet(t, full([]wire.Flag{boolFlag("a", true, 200), boolFlag("c", true, 200)})), Fetch{})
	st = c.Status()
	assert.Equal(t, StateReady, st.State)
	assert.False(t, st.FromCache)
	assert.True(t, c.Initialized())
	assert.Equal(t, int64(300), sink.Version())
	assert.False(t, c.BoolVariation("a", u, true), "the patch, newer than the full data set, is kept")
	assert.False(t, c.BoolVariation("b", u, false), "what the full data set lacks is gone")
	assert.True(t, c.BoolVariation("c", u, false))
	saved := cache.next(t)
	assert.Equal(t, int64(300), saved.Version(), "the live data is saved")
	require.NoError(t, c.Close())
	assert.Equal(t, []string{
		"status changed: not ready -> stale",
		"network fetch cached: custom",
		"flag changed: a",
		"network fetch full: custom",
		"status changed: stale -> ready",
		"client ready",
		"flag changed: b,c",
		"status changed: ready -> closed",
	}, describe(col.snapshot()))
}

// A Cache that panics or gives no full data set costs a warning; the client starts cold.
func TestWarmStartMisbehavingCache(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache Cache
		says  string
	}{
		{"panics", panicCache{}, "panicked"},
		{"nil data set", nilCache{}, "no data set"},
		{"patch", patchCache{}, "a patch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			var logs syncBuffer
			c, sink := newWithSource(t, Config{Cache: tc.cache, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			assert.Equal(t, StateNotReady, c.Status().State)
			assert.Contains(t, logs.String(), tc.says)
			sink.Apply(dataSet(t, full([]wire.Flag{boolFlag("a", true, 100)})), Fetch{})
			require.NoError(t, c.Close())
			assert.Equal(t, 1, strings.Count(logs.String(), "the cached data set is not used"), logs.String())
			assert.True(t, c.BoolVariation("a", anyUser, false))
		})
	}
}

type panicCache struct{}

func (panicCache) Load(context.Context) (*DataSet, error) { panic("cache bug") }
func (panicCache) Save(context.Context, *DataSet) error   { panic("cache bug") }

type nilCache struct{}

func (nilCache) Load(context.Context) (*DataSet, error) { return nil, nil }
func (nilCache) Save(context.Context, *DataSet) error   { return nil }

type patchCache struct{}

func (patchCache) Load(context.Context) (*DataSet, error) {
	return &DataSet{ds: patch([]wire.Flag{boolFlag("a", true, 1)})}, nil
}
func (patchCache) Save(context.Context, *DataSet) error { return nil }

// Offline mode takes no Cache.
func TestCacheNotOffline(t *testing.T) {
	_, err := New(Config{Offline: true, Cache: FileCache(filepath.Join(t.TempDir(), "x"))})
	assert.ErrorIs(t, err, ErrInvalidConfig)
	assert.ErrorContains(t, err, "Cache")
}

// FuzzFileCacheLoad: whatever the file holds, loading it gives a full data set or an error,
// never a panic.
func FuzzFileCacheLoad(f *testing.F) {
	ds := &DataSet{ds: full([]wire.Flag{boolFlag("a", true, 100)}, seg("s", 90, "u"))}
	data, err := ds.MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	good, err := json.Marshal(cacheFile{Format: fileCacheFormat, SavedAt: time.UnixMilli(1), Version: 100, Data: data})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"fbclientCacheFormat":1,"data":{"eventType":"patch","featureFlags":[],"segments":[]}}`))
	f.Add([]byte(`{"fbclientCacheFormat":1,"data":null}`))
	f.Add([]byte(`{"fbclientCacheFormat":"1"}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := decodeCacheFile(b)
		if err != nil {
			if ds != nil {
				t.Fatal("a data set with an error")
			}
			return
		}
		if !ds.Full() {
			t.Fatal("a patch was loaded")
		}
		var st store
		st.apply(ds.ds)
	})
}
