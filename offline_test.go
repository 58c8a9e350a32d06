package fbclient

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

//go:embed testdata/featbit_test_data.json
var embedded embed.FS

// offlineFlag is a minimal hand-written data set: one boolean flag that serves value to
// everyone, with no updatedAt, as a developer would write it.
func offlineFlag(value string) string {
	return `{"featureFlags":[{"key":"f","variationType":"boolean",
		"variations":[{"id":"t","value":"true"},{"id":"f","value":"false"}],
		"isEnabled":true,"disabledVariationId":"f",
		"fallthrough":{"variations":[{"id":"` + value[:1] + `","rollout":[0,1]}]}}],"segments":[]}`
}

func TestOfflineErrorsMatchInvalidConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	cases := []struct {
		name     string
		cfg      Config
		notExist bool
		msg      string
	}{
		{"missing file", Config{DataFile: filepath.Join(dir, "nope.json")}, true, "nope.json"},
		{"a directory", Config{DataFile: dir}, false, "cannot read DataFile"},
		{"not JSON", Config{DataFile: write("bad.json", "{oops")}, false, "bad.json"},
		{"unusable item", Config{DataFile: write("item.json", `{"featureFlags":[{"key":"f","updatedAt":"later"}],"segments":[]}`)}, false, `flag "f"`},
		{"item without key", Config{DataFile: write("nokey.json", `{"featureFlags":[{"updatedAt":"2024-01-01T00:00:00Z"}],"segments":[]}`)}, false, "no key"},
		{"missing in DataFS", Config{DataFS: fstest.MapFS{}, DataFile: "flags.json"}, true, "flags.json"},
		{"bad Data", Config{Data: []byte(`[]`)}, false, "Data"},
		{"empty Data", Config{Data: []byte{}}, false, "Data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			cfg := tc.cfg
			cfg.Offline = true
			c, err := New(cfg)
			assert.Nil(t, c)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			assert.Equal(t, tc.notExist, errors.Is(err, fs.ErrNotExist), "fs.ErrNotExist")
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestOfflineConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"Data online", Config{Data: []byte(`{}`)}, "Data is only used in Offline mode"},
		{"DataFS online", Config{DataFS: fstest.MapFS{}}, "DataFS is only used in Offline mode"},
		{"reload online", Config{ReloadDataFile: true}, "ReloadDataFile is only used in Offline mode"},
		{"Data and DataFile", Config{Offline: true, Data: []byte(`{}`), DataFile: "x.json"}, "Data cannot be combined"},
		{"DataFS without a name", Config{Offline: true, DataFS: fstest.MapFS{}}, "DataFS needs DataFile"},
		{"DataFS with a path", Config{Offline: true, DataFS: fstest.MapFS{}, DataFile: "/etc/flags.json"}, "not a valid name inside DataFS"},
		{"reload without a file", Config{Offline: true, ReloadDataFile: true}, "ReloadDataFile needs a DataFile"},
		{"reload of Data", Config{Offline: true, ReloadDataFile: true, Data: []byte(`{}`)}, "ReloadDataFile needs a DataFile"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			cfg := tc.cfg
			if !cfg.Offline {
				cfg.EnvSecret, cfg.StreamingURL, cfg.StartWait = testSecret, "wss://featbit.example", -1
			}
			c, err := New(cfg)
			assert.Nil(t, c)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

// Offline data comes from bytes, from an fs.FS (an embedded file here), or from a path; all
// three give the same flags.
func TestOfflineDataSources(t *testing.T) {
	fromFile := newOffline(t, fixture)
	raw, err := os.ReadFile(fixture)
	require.NoError(t, err)
	for name, cfg := range map[string]Config{
		"Data":         {Offline: true, Data: raw},
		"embed.FS":     {Offline: true, DataFS: embedded, DataFile: fixture},
		"os.DirFS":     {Offline: true, DataFS: os.DirFS("testdata"), DataFile: filepath.Base(fixture)},
		"fstest.MapFS": {Offline: true, DataFS: fstest.MapFS{"x/flags.json": {Data: raw}}, DataFile: "x/flags.json"},
	} {
		t.Run(name, func(t *testing.T) {
			checkLeaks(t)
			c, err := New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			assert.Equal(t, StateReady, c.Status().State)
			for _, key := range []string{"test-user-1", "test-user-2", "u"} {
				u := NewUser(key).WithCustom("country", "us")
				assert.Equal(t, fromFile.AllVariations(u), c.AllVariations(u), key)
			}
			assert.Positive(t, c.AllVariations(NewUser("u")).Len())
		})
	}
}

// A hand-written data set may leave updatedAt out: the items are given the time they were
// read, so they load and are newer than anything older.
func TestOfflineWithoutUpdatedAt(t *testing.T) {
	checkLeaks(t)
	before := time.Now().UnixMilli()
	c, err := New(Config{Offline: true, Data: []byte(offlineFlag("true"))})
	require.NoError(t, err)
	defer c.Close()
	v, d := c.BoolVariationDetail("f", NewUser("u"), false)
	assert.True(t, v)
	assert.Equal(t, ReasonFallthrough, d.Reason)
	assert.GreaterOrEqual(t, c.dataVersion(), before)
	assert.LessOrEqual(t, c.dataVersion(), time.Now().UnixMilli())
}

// reloadClock replaces the file source's wait between two checks: tick makes it check once
// and returns when the check is over. The intervals it was asked to wait are recorded.
type reloadClock struct {
	ticks, idle chan struct{}
	asked       []time.Duration // written by the source's goroutine, read after Close
}

func newReloadClock() *reloadClock {
	return &reloadClock{ticks: make(chan struct{}), idle: make(chan struct{})}
}

func (rc *reloadClock) tune(st *syncTimings) {
	st.sleep = func(ctx context.Context, d time.Duration) bool {
		rc.asked = append(rc.asked, d)
		for _, ch := range []chan struct{}{rc.idle, rc.ticks} {
			select {
			case <-ctx.Done():
				return false
			case ch <- struct{}{}:
			}
		}
		return true
	}
}

// tick lets the source check the file once and waits until it is done.
func (rc *reloadClock) tick(t *testing.T) {
	t.Helper()
	for _, ch := range []chan struct{}{rc.ticks, rc.idle} {
		select {
		case <-ch:
		case <-testCtx(t).Done():
			t.Fatal("the file source does not check")
		}
	}
}

func TestReloadDataFile(t *testing.T) {
	checkLeaks(t)
	path := filepath.Join(t.TempDir(), "flags.json")
	mod := time.Now().Add(-time.Hour)
	// write writes the file and gives it the next modification time, so the change shows
	// whatever the file system's clock resolution.
	write := func(content string) {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		mod = mod.Add(time.Second)
		require.NoError(t, os.Chtimes(path, mod, mod))
	}
	write(offlineFlag("true"))

	clock := newReloadClock()
	events := make(chan Event, 100)
	c, err := newClient(Config{Offline: true, DataFile: path, ReloadDataFile: true, Listeners: []Listener{{
		Events: []EventType{EventNetworkFetchFull, EventNetworkFetchError, EventFlagChanged, EventStatusChanged},
		Func:   func(e Event) { events <- e },
	}}}, clock.tune)
	require.NoError(t, err)
	<-clock.idle // the source waits for its first check
	user := NewUser("u")
	require.True(t, c.BoolVariation("f", user, false))
	next := func() Event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-testCtx(t).Done():
			t.Fatal("no event")
			return Event{}
		}
	}
	// The ready status of New comes first.
	require.Equal(t, EventStatusChanged, next().Type)

	// An unchanged file is not loaded again; a changed one is, with a change event.
	clock.tick(t)
	write(offlineFlag("false"))
	clock.tick(t)
	e := next()
	require.Equal(t, EventNetworkFetchFull, e.Type, "one load, for the change: %v", e)
	assert.Equal(t, SyncCustom, e.Fetch.Mode)
	e = next()
	require.Equal(t, EventFlagChanged, e.Type)
	assert.Equal(t, []string{"f"}, e.FlagKeys)
	assert.False(t, c.BoolVariation("f", user, true))

	// A broken file is reported once; the client keeps the last good data.
	write(`{"featureFlags":[{"key":"f",`)
	clock.tick(t)
	e = next()
	require.Equal(t, EventNetworkFetchError, e.Type)
	assert.Contains(t, e.Err.Error(), "flags.json")
	require.Equal(t, EventStatusChanged, next().Type)
	assert.Equal(t, StateStale, c.Status().State)
	assert.False(t, c.BoolVariation("f", user, true))
	clock.tick(t) // the same broken file: nothing new to report

	// A removed file too.
	require.NoError(t, os.Remove(path))
	clock.tick(t)
	e = next()
	require.Equal(t, EventNetworkFetchError, e.Type)
	assert.ErrorIs(t, e.Err, fs.ErrNotExist)

	// Fixed: the data is reloaded and the client ready again.
	write(offlineFlag("true"))
	clock.tick(t)
	assert.Equal(t, EventNetworkFetchFull, next().Type)
	assert.Equal(t, EventStatusChanged, next().Type)
	assert.Equal(t, EventFlagChanged, next().Type)
	assert.Equal(t, StateReady, c.Status().State)
	assert.True(t, c.BoolVariation("f", user, false))

	require.NoError(t, c.Close())
	e = next()
	assert.Equal(t, StateClosed, e.StatusChange.Status.State)
	assert.Empty(t, events, "nothing more")
	for _, d := range clock.asked {
		assert.Equal(t, reloadCheckInterval, d)
	}
}

// Without ReloadDataFile the file is read once: no goroutine watches it.
func TestDataFileReadOnce(t *testing.T) {
	checkLeaks(t)
	path := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.WriteFile(path, []byte(offlineFlag("true")), 0o600))
	c, err := New(Config{Offline: true, DataFile: path})
	require.NoError(t, err)
	defer c.Close()
	assert.Nil(t, c.cancelSync, "no source runs")
	assert.True(t, c.BoolVariation("f", NewUser("u"), false))
}
