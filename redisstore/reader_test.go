package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sink records what a DataSource reports, keeping state as a client does: ready after an
// applied data set, stale (or not ready without data) after a failure.
type sink struct {
	mu       sync.Mutex
	versions []int64 // versions of the applied data sets, in order
	patches  int     // how many of them were patches
	failures int     // calls of Failed
	state    fbclient.State
	err      error
	warnings []string
	changed  chan struct{} // closed and replaced on every report
}

func newSink() *sink { return &sink{changed: make(chan struct{})} }

func (s *sink) report(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *sink) Apply(ds *fbclient.DataSet, _ fbclient.Fetch) {
	s.report(func() {
		if ds != nil { // nil: nothing changed
			s.versions = append(s.versions, ds.Version())
			if !ds.Full() {
				s.patches++
			}
		}
		s.state, s.err = fbclient.StateReady, nil
	})
}

func (s *sink) Version() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.versions) == 0 {
		return 0
	}
	return s.versions[len(s.versions)-1]
}

// forget makes the sink report version 0, as a client does while it serves a data set loaded
// from its Cache.
func (s *sink) forget() {
	s.report(func() { s.versions = append(s.versions, 0) })
}

func (s *sink) Started(fbclient.Fetch) {}

func (s *sink) Failed(err error, _ fbclient.Fetch) {
	s.report(func() {
		s.failures++
		s.err = err
		if len(s.versions) > 0 {
			s.state = fbclient.StateStale
		}
	})
}

func (s *sink) Stop(err error) {
	s.report(func() { s.state, s.err = fbclient.StateFailed, err })
}

func (s *sink) Logger() *slog.Logger { return slog.New(warnRecorder{s}) }

// warnRecorder is a slog handler that keeps the messages of warnings in the sink.
type warnRecorder struct{ s *sink }

func (h warnRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h warnRecorder) Handle(_ context.Context, r slog.Record) error {
	h.s.report(func() { h.s.warnings = append(h.s.warnings, r.Message) })
	return nil
}
func (h warnRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warnRecorder) WithGroup(string) slog.Handler      { return h }

// sinkState is what a sink holds at one moment.
type sinkState struct {
	state    fbclient.State
	err      error
	version  int64 // of the last applied data set, -1 before one
	applied  int   // how many data sets were applied
	patches  int   // how many of them were patches
	failures int   // calls of Failed
	warnings int
}

// waitUntil waits until cond holds for the sink's state and returns that state.
func (s *sink) waitUntil(t *testing.T, what string, cond func(sinkState) bool) sinkState {
	t.Helper()
	ctx := testCtx(t)
	for {
		s.mu.Lock()
		st := sinkState{state: s.state, err: s.err, version: -1, applied: len(s.versions), patches: s.patches, failures: s.failures, warnings: len(s.warnings)}
		if len(s.versions) > 0 {
			st.version = s.versions[len(s.versions)-1]
		}
		ch := s.changed
		s.mu.Unlock()
		if cond(st) {
			return st
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s; last state %+v", what, st)
		}
	}
}

// run runs a DataSource for sink until the end of the test.
func run(t *testing.T, rdb redis.UniversalClient, o Options, s *sink) {
	t.Helper()
	src, err := NewDataSource(rdb, o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx, s)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func readyAt(v int64) func(sinkState) bool {
	return func(st sinkState) bool { return st.state == fbclient.StateReady && st.version == v }
}

// Changes reach a reader through the notification, with no periodic check to help.
func TestReaderFollowsWriter(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a"), fbtest.Flag("b"), fbtest.Flag("c"))
	o := Options{EnvID: srv.EnvID(), CheckInterval: time.Hour}
	w := newWriter(t, rs.Client(), o)

	// With no data yet, the reader checks twice: at start, and once subscribed. After that
	// only notifications make it act.
	s := newSink()
	run(t, rs.Client(), o, s)
	s.waitUntil(t, "checked at start and once subscribed", func(st sinkState) bool { return st.failures == 2 })

	v1 := fullSet(t, srv)
	require.NoError(t, w.Save(testCtx(t), v1))
	s.waitUntil(t, "the stored data set is applied", readyAt(v1.Version()))
	for i := range 3 {
		srv.SetFlags(fbtest.Flag("a").On(i%2 == 0))
		ds := fullSet(t, srv)
		require.NoError(t, w.Save(testCtx(t), ds))
		s.waitUntil(t, "the new data set is applied", readyAt(ds.Version()))
	}
	st := s.waitUntil(t, "done", func(sinkState) bool { return true })
	assert.Equal(t, 4, st.applied, "each data set applied once")
	assert.Equal(t, 3, st.patches, "changes arrive as patches")
	assert.Equal(t, 2, st.failures)
}

// A client that holds no data set from the source (DataSink.Version 0: it serves a cached
// one) gets the full data set, not the patch the notification carries.
func TestReaderFullSetWhenClientHoldsNone(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(testFlags(10)...) // enough flags for a change to travel as a patch
	o := Options{EnvID: srv.EnvID(), CheckInterval: time.Hour}
	w := newWriter(t, rs.Client(), o)
	s := newSink()
	run(t, rs.Client(), o, s)
	// Once subscribed, the reader checks a second time; from then on it hears every change.
	s.waitUntil(t, "checked at start and once subscribed", func(st sinkState) bool { return st.failures == 2 })
	v1 := fullSet(t, srv)
	require.NoError(t, w.Save(testCtx(t), v1))
	s.waitUntil(t, "ready", readyAt(v1.Version()))

	srv.SetFlags(fbtest.Flag("f0").On(false))
	v2 := fullSet(t, srv)
	require.NoError(t, w.Save(testCtx(t), v2))
	st := s.waitUntil(t, "the change is applied", readyAt(v2.Version()))
	require.Equal(t, 1, st.patches, "a reader that holds the version the patch starts from applies it")

	s.forget()
	srv.SetFlags(fbtest.Flag("f0").On(true))
	v3 := fullSet(t, srv)
	require.NoError(t, w.Save(testCtx(t), v3))
	st = s.waitUntil(t, "the change is applied", readyAt(v3.Version()))
	assert.Equal(t, 1, st.patches, "the full set, not the patch, is applied")
}

// A notification that never arrives is made up for by the periodic check.
func TestReaderCheckRepairsMissedNotification(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a"))
	o := Options{EnvID: srv.EnvID(), CheckInterval: 20 * time.Millisecond}
	w := newWriter(t, rs.Client(), o)
	require.NoError(t, w.Save(testCtx(t), fullSet(t, srv)))
	s := newSink()
	run(t, rs.Client(), o, s)
	s.waitUntil(t, "ready", func(st sinkState) bool { return st.state == fbclient.StateReady })

	// Store a newer set without publishing it.
	srv.SetFlags(fbtest.Flag("b"))
	ds := fullSet(t, srv)
	b, err := ds.MarshalJSON()
	require.NoError(t, err)
	_, k, _ := o.resolve()
	require.NoError(t, rs.Client().HSet(testCtx(t), k.data, fieldVersion, ds.Version(), fieldData, b).Err())
	s.waitUntil(t, "the unannounced data set is applied", readyAt(ds.Version()))
}

// A reader started before any data exists says so, and becomes ready when a writer saves.
func TestReaderBeforeData(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a"))
	o := Options{EnvID: srv.EnvID(), CheckInterval: time.Hour}
	s := newSink()
	run(t, rs.Client(), o, s)
	st := s.waitUntil(t, "no data is reported", func(st sinkState) bool { return st.err != nil })
	assert.ErrorIs(t, st.err, ErrNoData)
	assert.Equal(t, fbclient.StateNotReady, st.state)
	assert.Contains(t, st.err.Error(), srv.EnvID(), "the error names the key")

	w := newWriter(t, rs.Client(), o)
	ds := fullSet(t, srv)
	require.NoError(t, w.Save(testCtx(t), ds))
	s.waitUntil(t, "ready", readyAt(ds.Version()))
}

// Data without a live writer is served, but stale; a writer coming back makes it ready.
func TestReaderWithoutWriter(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a"))
	ds := fullSet(t, srv)
	o := Options{EnvID: srv.EnvID(), CheckInterval: 20 * time.Millisecond}
	w, err := NewWriter(rs.Client(), o)
	require.NoError(t, err)
	require.NoError(t, w.Save(testCtx(t), ds))
	require.NoError(t, w.Close())

	s := newSink()
	run(t, rs.Client(), o, s)
	st := s.waitUntil(t, "stale", func(st sinkState) bool { return st.state == fbclient.StateStale })
	assert.ErrorIs(t, st.err, ErrNoWriter)
	assert.Equal(t, ds.Version(), st.version)

	w2 := newWriter(t, rs.Client(), o)
	require.NoError(t, w2.Save(testCtx(t), ds))
	s.waitUntil(t, "ready again", readyAt(ds.Version()))
}

// Values that are not a data set this package wrote are skipped with a warning; the last good
// data is kept, and the next good write is applied.
func TestReaderSkipsBadValues(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	rdb := rs.Client()
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a"))
	good := fullSet(t, srv)
	o := Options{EnvID: srv.EnvID(), CheckInterval: 20 * time.Millisecond}
	_, k, _ := o.resolve()
	w := newWriter(t, rdb, o)
	require.NoError(t, w.Save(testCtx(t), good))
	s := newSink()
	run(t, rdb, o, s)
	s.waitUntil(t, "ready", readyAt(good.Version()))

	next := good.Version() + 1000
	for _, tc := range []struct {
		name  string
		store func(p redis.Pipeliner)
	}{
		{"a string", func(p redis.Pipeliner) { p.Set(testCtx(t), k.data, "garbage", 0) }},
		{"not a number", func(p redis.Pipeliner) { p.HSet(testCtx(t), k.data, fieldVersion, "x", fieldData, "{}") }},
		{"not JSON", func(p redis.Pipeliner) { p.HSet(testCtx(t), k.data, fieldVersion, next, fieldData, "{not json") }},
		{"a foreign object", func(p redis.Pipeliner) {
			p.HSet(testCtx(t), k.data, fieldVersion, next, fieldData, `{"hello":"world"}`)
		}},
		{"a patch", func(p redis.Pipeliner) {
			p.HSet(testCtx(t), k.data, fieldVersion, next, fieldData, `{"eventType":"patch","featureFlags":[],"segments":[]}`)
		}},
		{"a version that does not match the data", func(p redis.Pipeliner) {
			b, _ := good.MarshalJSON()
			p.HSet(testCtx(t), k.data, fieldVersion, next, fieldData, b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.waitUntil(t, "now", func(sinkState) bool { return true })
			_, err := rdb.TxPipelined(testCtx(t), func(p redis.Pipeliner) error {
				p.Del(testCtx(t), k.data)
				tc.store(p)
				return nil
			})
			require.NoError(t, err)
			st := s.waitUntil(t, "a warning", func(st sinkState) bool {
				return st.warnings > before.warnings && errors.Is(st.err, ErrBadData)
			})
			assert.ErrorIs(t, st.err, ErrBadData)
			assert.Equal(t, fbclient.StateStale, st.state)
			assert.Equal(t, good.Version(), st.version, "the last good data set is kept")
			assert.Equal(t, before.applied, st.applied)
		})
	}

	// A writer replaces the bad value; the reader applies the new set.
	srv.SetFlags(fbtest.Flag("b"))
	require.NoError(t, rdb.Set(testCtx(t), k.data, "garbage", 0).Err())
	newer := fullSet(t, srv)
	require.NoError(t, w.Save(testCtx(t), newer))
	s.waitUntil(t, "the good set is applied", readyAt(newer.Version()))
}

// When Redis goes away the reader keeps its data, stale; when Redis comes back empty, the
// writer stores its data again and the reader is ready, and follows changes again.
func TestReaderRedisRestart(t *testing.T) {
	leakCheck(t)
	rs := startRedis(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a"))
	v1 := fullSet(t, srv)
	o := Options{EnvID: srv.EnvID(), CheckInterval: 20 * time.Millisecond, LeaseTTL: 150 * time.Millisecond}
	w := newWriter(t, rs.Client(), o)
	require.NoError(t, w.Save(testCtx(t), v1))
	s := newSink()
	run(t, rs.Client(), Options{EnvID: o.EnvID, CheckInterval: time.Hour}, s) // notified only
	s.waitUntil(t, "ready", readyAt(v1.Version()))
	r2 := newSink()
	run(t, rs.Client(), o, r2) // checks often
	r2.waitUntil(t, "ready", readyAt(v1.Version()))

	rs.Stop()
	st := r2.waitUntil(t, "stale", func(st sinkState) bool { return st.state == fbclient.StateStale })
	assert.Equal(t, v1.Version(), st.version)
	assert.False(t, errors.Is(st.err, ErrNoData) || errors.Is(st.err, ErrBadData), "%v", st.err)
	assert.NotContains(t, fmt.Sprint(st.err), srv.Secret())

	rs.Start()
	// Both readers see the writer's data again: the first through its new subscription.
	r2.waitUntil(t, "ready again", func(st sinkState) bool { return st.state == fbclient.StateReady })
	srv.SetFlags(fbtest.Flag("b"))
	v2 := fullSet(t, srv)
	require.NoError(t, w.Save(testCtx(t), v2))
	s.waitUntil(t, "the first reader follows changes", readyAt(v2.Version()))
	r2.waitUntil(t, "the second reader follows changes", readyAt(v2.Version()))
}
