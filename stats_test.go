package fbclient

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/internal/token"
	"github.com/featflags/fbclient/internal/wire"
)

// The sync figures of a streaming client match what the server saw: connections, data-sync
// replies and pushes, refused upgrades, the dropped connection, and the reconnect.
func TestStatsStreaming(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a").On(true), fbtest.Flag("b").Strings("x", "y"), fbtest.Flag("gone").Archived())
	srv.SetSegments(fbtest.Segment("s").Included("u"), fbtest.Segment("old").Archived())
	zz := newSleeps(5 * time.Millisecond)
	c, w := start(t, srv, opts{tune: func(st *syncTimings) { st.sleep = zz.sleep }})

	s := c.Stats()
	assert.Equal(t, StateReady, s.Status.State)
	assert.Equal(t, 2, s.Data.Flags, "archived flags are not held")
	assert.Equal(t, 1, s.Data.Segments, "archived segments are not held")
	assert.Equal(t, srv.DataVersion(), s.Data.Version)
	assert.Zero(t, s.Data.Age, "a ready client's data is current")
	assert.False(t, s.Data.LastSync.IsZero())
	assert.False(t, s.Data.LastSync.After(s.Time))
	assert.Equal(t, SyncStats{Requests: 1, DataSyncs: 1, FullDataSyncs: 1}, s.Sync)

	srv.SetFlags(fbtest.Flag("c").On(true)) // one push
	w.find(t, "the push", changed("c"))
	s = c.Stats()
	assert.Equal(t, 3, s.Data.Flags)
	assert.Equal(t, uint64(2), s.Sync.DataSyncs)
	assert.Equal(t, uint64(1), s.Sync.FullDataSyncs)

	srv.RefuseConnections(http.StatusServiceUnavailable)
	srv.DropConnections()
	require.NoError(t, srv.WaitFor(testCtx(t), func() bool { return srv.Stats().StreamsRefused >= 3 }))
	s = c.Stats()
	assert.Equal(t, StateStale, s.Status.State)
	assert.Equal(t, 3, s.Data.Flags, "the data stays while stale")
	srv.RefuseConnections(0)
	w.until(t, "ready again", func() bool { return c.Status().State == StateReady })

	s = c.Stats()
	fs := srv.Stats()
	pushes := uint64(1)
	assert.Equal(t, uint64(fs.StreamsAccepted), s.Sync.Requests, "one data-sync request per connection")
	assert.Equal(t, uint64(len(srv.DataSyncRequests()))+pushes, s.Sync.DataSyncs, "a reply to each request, and the push")
	assert.Equal(t, uint64(1), s.Sync.FullDataSyncs, "the reconnect asks for the changes since the data version")
	assert.Equal(t, uint64(1), s.Sync.Reconnects)
	assert.Equal(t, SyncErrors{Lost: 1, Status: uint64(fs.StreamsRefused)}, s.Sync.Errors)
	assert.Equal(t, uint64(w.count(isType(EventNetworkFetchError))), s.Sync.Errors.Total())
	assert.Zero(t, s.Data.Age)
}

// Credentials rejected with close code 4003: the connection counts, the failure is Rejected.
func TestStatsStreamingRejected(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	env, err := uuid.Parse(srv.EnvID())
	require.NoError(t, err)
	c, _ := start(t, srv, opts{secret: token.FormatSecret(uuid.New(), env)})
	require.ErrorIs(t, c.WaitForInitialization(testCtx(t)), ErrInitializationFailed)

	s := c.Stats()
	fs := srv.Stats()
	assert.Equal(t, StateFailed, s.Status.State)
	assert.Equal(t, uint64(fs.StreamsAccepted+fs.StreamsRejected), s.Sync.Requests)
	assert.Equal(t, SyncErrors{Rejected: uint64(fs.StreamsRejected)}, s.Sync.Errors)
	assert.Equal(t, DataStats{}, s.Data, "no data")
}

// A server that cannot be reached: a network failure and no request.
func TestStatsStreamingNetworkError(t *testing.T) {
	checkLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	zz := newSleeps(0)             // the first backoff lasts until Close
	c, _ := startURL(t, "ws://"+addr, "http://"+addr, token.FormatSecret(uuid.New(), uuid.New()),
		opts{startWait: -1, tune: func(st *syncTimings) { st.sleep = zz.sleep }})
	<-zz.entered

	s := c.Stats()
	assert.Equal(t, StateNotReady, s.Status.State)
	assert.Equal(t, SyncStats{Errors: SyncErrors{Network: 1}}, s.Sync)
}

// A polling client: one request per poll, refused polls counted as Status errors, each
// poll after a failed one as a reconnect.
func TestStatsPolling(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").On(true))
	srv.RefuseConnections(http.StatusBadGateway)
	zz := newSleeps(time.Hour)
	c, w := start(t, srv, opts{mode: SyncPolling, startWait: -1, tune: func(st *syncTimings) {
		st.betweenPolls = time.Hour // only a backoff brings the next poll
		st.sleep = zz.sleep
	}})
	require.NoError(t, srv.WaitFor(testCtx(t), func() bool { return srv.Stats().PollRequests >= 3 }))
	srv.RefuseConnections(0)
	require.NoError(t, c.WaitForInitialization(testCtx(t)))
	w.until(t, "the poll interval after the success", func() bool {
		all := zz.all()
		return all[len(all)-1] == time.Hour
	})

	s := c.Stats()
	polls := uint64(srv.Stats().PollRequests)
	assert.Equal(t, polls, s.Sync.Requests)
	assert.Equal(t, polls-1, s.Sync.Reconnects)
	assert.Equal(t, SyncErrors{Status: polls - 1}, s.Sync.Errors)
	assert.Equal(t, uint64(1), s.Sync.DataSyncs)
	assert.Equal(t, 1, s.Data.Flags)
}

// Polling with a secret FeatBit refuses: Rejected, and sync stops.
func TestStatsPollingRejected(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c, _ := start(t, srv, opts{mode: SyncPolling, secret: token.FormatSecret(uuid.New(), uuid.New())})
	require.ErrorIs(t, c.WaitForInitialization(testCtx(t)), ErrInitializationFailed)
	s := c.Stats()
	assert.Equal(t, uint64(srv.Stats().PollRequests), s.Sync.Requests)
	assert.Equal(t, SyncErrors{Rejected: 1}, s.Sync.Errors)
}

// A custom data source: its reports are counted as they are made, its failures as Other;
// the data age follows the status.
func TestStatsDataSource(t *testing.T) {
	checkLeaks(t)
	c, sink := newWithSource(t, Config{})
	s := c.Stats()
	assert.Equal(t, Stats{Time: s.Time, Status: c.Status()}, s, "nothing yet")

	sink.Started(Fetch{})
	sink.Apply(dataSet(t, full([]wire.Flag{boolFlag("a", true, 100)}, seg("s", 100, "x"))), Fetch{})
	sink.Apply(nil, Fetch{}) // nothing changed
	sink.Failed(errors.New("lost"), Fetch{})
	stale := c.Status()
	require.Equal(t, StateStale, stale.State)
	s = c.Stats()
	assert.Equal(t, SyncStats{Requests: 1, DataSyncs: 2, FullDataSyncs: 1, Errors: SyncErrors{Other: 1}}, s.Sync)
	assert.Equal(t, s.Time.Sub(stale.Since), s.Data.Age, "stale since the failure")
	assert.Equal(t, DataStats{Flags: 1, Segments: 1, Version: 100, LastSync: s.Data.LastSync, Age: s.Data.Age}, s.Data)

	sink.Started(Fetch{})
	sink.Apply(dataSet(t, patch(nil, seg("s", 200, "y"), seg("t", 200, "z"))), Fetch{})
	sink.Stop(errors.New("gone"))
	s = c.Stats()
	assert.Equal(t, SyncStats{Requests: 2, Reconnects: 1, DataSyncs: 3, FullDataSyncs: 1, Errors: SyncErrors{Other: 2}}, s.Sync)
	assert.Equal(t, 2, s.Data.Segments, "counted again for the new data")
	assert.Equal(t, StateFailed, s.Status.State)
}

// Offline data counts as one full data set, received when it was loaded.
func TestStatsOffline(t *testing.T) {
	before := time.Now()
	c := newOffline(t, fixture)
	s := c.Stats()
	assert.Equal(t, SyncStats{DataSyncs: 1, FullDataSyncs: 1}, s.Sync)
	assert.Equal(t, c.AllVariations(anyUser).Len(), s.Data.Flags)
	assert.False(t, s.Data.LastSync.Before(before))
	assert.Equal(t, EventStats{}, s.Events, "no insight event exists offline")
}

// A nil client has stats too: closed, nothing counted.
func TestStatsNilClient(t *testing.T) {
	var c *Client
	s := c.Stats()
	assert.Equal(t, StateClosed, s.Status.State)
	assert.Equal(t, SyncStats{}, s.Sync)
}

// Listener misses: the total and each listener's own count match what the listener was told
// in its EventMissed notice.
func TestStatsListeners(t *testing.T) {
	checkLeaks(t)
	c, sink := newWithSource(t, Config{})
	inside := make(chan struct{})
	release := make(chan struct{})
	col := newCollector()
	c.On(EventNetworkFetch, func(e Event) {
		col.add(e)
		if len(col.snapshot()) == 1 {
			close(inside)
			<-release
		}
	}, ListenerName("slow"), ListenerQueueSize(1))
	c.On(EventNetworkFetch, func(Event) {}, ListenerName("fast"))

	sink.Started(Fetch{})
	<-inside // the first event is being handled
	for range 4 {
		sink.Started(Fetch{}) // one is queued, three are missed
	}
	s := c.Stats()
	assert.Equal(t, uint64(3), s.Listeners.Missed)
	require.Len(t, s.Listeners.Each, 2)
	assert.Equal(t, ListenerStat{Name: "slow", Missed: 3}, s.Listeners.Each[0])
	assert.Equal(t, ListenerStat{Name: "fast"}, s.Listeners.Each[1])
	close(release)
	col.wait(t, 2)        // the queued one
	sink.Started(Fetch{}) // brings the notice of the misses
	evs := col.wait(t, 4)
	require.Equal(t, EventMissed, evs[2].Type)
	assert.Equal(t, s.Listeners.Missed, evs[2].Missed.Total)
}

// Insight events: recorded, queued, dropped; Recorded matches what FeatBit received.
func TestStatsEvents(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a").On(true), fbtest.Flag("b").Strings("x", "y"))
	c, _ := start(t, srv, opts{cfg: func(cfg *Config) { cfg.DisableEvents = false }})
	u := NewUser("u1")
	c.BoolVariation("a", u, false)
	c.Variation("b", u, "")
	c.Variation("b", NewUser("u2"), "")
	require.NoError(t, c.Track(u, "clicked"))
	require.NoError(t, c.FlushAndWait(testCtx(t)))

	s := c.Stats()
	assert.Equal(t, uint64(len(srv.Events())), s.Events.Recorded)
	assert.Zero(t, s.Events.Queued)
	assert.Equal(t, EventDrops{}, s.Events.Dropped)
	assert.Equal(t, c.DroppedEvents(), s.Events.Dropped.Total())
}

// Each polling response is counted under its kind of failure. A server answering what
// FeatBit would not (a body that is no data set) needs a plain HTTP server.
func TestStatsPollingErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   SyncErrors
	}{
		{"malformed body", 200, `<html>login</html>`, SyncErrors{BadData: 1}},
		{"not found", 404, "", SyncErrors{Status: 1}},
		{"server error", 500, "", SyncErrors{Status: 1}},
		{"forbidden", 403, "", SyncErrors{Rejected: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer hs.Close()
			zz := newSleeps(0) // one poll
			c, _ := startURL(t, "ws"+strings.TrimPrefix(hs.URL, "http"), hs.URL, token.FormatSecret(uuid.New(), uuid.New()),
				opts{mode: SyncPolling, startWait: -1, tune: func(st *syncTimings) { st.sleep = zz.sleep }})
			if tc.want.Rejected > 0 {
				require.ErrorIs(t, c.WaitForInitialization(testCtx(t)), ErrInitializationFailed)
			} else {
				<-zz.entered
			}
			s := c.Stats()
			assert.Equal(t, SyncStats{Requests: 1, Errors: tc.want}, s.Sync)
		})
	}
}
