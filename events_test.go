package fbclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/internal/wire"
)

// startEventsClient starts a client that sends its events to srv, closed when the test
// ends, with the event timings tune sets (default quickEvents). The client gets its flags
// from the test (commit), never from the synchronizer: srv holds every data-sync request.
// Tests call checkLeaks before creating srv.
func startEventsClient(t *testing.T, srv *fbtest.Server, cfg Config, tune ...func(*eventTimings)) *Client {
	t.Helper()
	srv.HoldDataSync()
	cfg.EnvSecret = srv.Secret()
	cfg.StreamingURL = srv.StreamingURL()
	cfg.EventsURL = srv.EventsURL()
	cfg.StartWait = -1
	if tune == nil {
		tune = []func(*eventTimings){quickEvents}
	}
	c, err := newClient(cfg, nil, tune...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// newEventsClient is startEventsClient with the given flags loaded.
func newEventsClient(t *testing.T, srv *fbtest.Server, cfg Config, flags ...wire.Flag) *Client {
	t.Helper()
	c := startEventsClient(t, srv, cfg)
	c.commit(full(flags), Fetch{})
	require.True(t, c.Initialized())
	return c
}

// itemsPerRequest lists the number of items of every request, sorted.
func itemsPerRequest(reqs []fbtest.EventRequest) []int {
	n := make([]int, len(reqs))
	for i, r := range reqs {
		n[i] = r.Items
	}
	slices.Sort(n)
	return n
}

func statuses(reqs []fbtest.EventRequest) []int {
	s := make([]int, len(reqs))
	for i, r := range reqs {
		s[i] = r.Status
	}
	return s
}

// targetedFlag is a boolean flag that serves true to the user "u1" (counted for
// experiments) and false to everyone else.
func targetedFlag() wire.Flag {
	f := boolFlag("ff-bool", false, 1)
	f.TargetUsers = []wire.TargetUser{{KeyIDs: []string{"u1"}, VariationID: "v-true"}}
	f.ExptIncludeAllTargets = true
	return f
}

func TestEventWireFormat(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c := newEventsClient(t, srv, Config{FlushInterval: time.Minute}, targetedFlag())
	ctx := testCtx(t)

	u1 := NewUser("u1").WithName(`Jane "J" Doe`).WithCustom("country", "us").WithCustom("note", "a\\b\n<c>\u2028\x01")
	before := time.Now().UnixMilli()
	require.True(t, c.BoolVariation("ff-bool", u1, false))
	require.NoError(t, c.Track(u1, "checkout"))
	require.NoError(t, c.TrackMetric(NewUser("u2"), "spend", 12.5))
	require.NoError(t, c.FlushAndWait(ctx))
	after := time.Now().UnixMilli()

	reqs := srv.EventRequests()
	require.Len(t, reqs, 1, "three events, one batch")
	r := reqs[0]
	assert.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, srv.Secret(), r.Header.Get("Authorization"), "the raw secret, no scheme")
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, userAgent, r.Header.Get("User-Agent"))
	require.Len(t, r.Events, 3)

	eval := r.Events[0]
	assert.Equal(t, fbtest.EventUser{KeyID: "u1", Name: `Jane "J" Doe`, CustomizedProperties: []fbtest.CustomProperty{
		{Name: "country", Value: "us"}, {Name: "note", Value: "a\\b\n<c>\u2028\x01"},
	}}, eval.User)
	assert.Nil(t, eval.Metrics, "no metrics key in an evaluation item")
	require.Len(t, eval.Variations, 1)
	v := eval.Variations[0]
	assert.Equal(t, "ff-bool", v.FeatureFlagKey)
	assert.True(t, v.SendToExperiment)
	assert.GreaterOrEqual(t, v.Timestamp, before)
	assert.LessOrEqual(t, v.Timestamp, after)
	assert.Equal(t, fbtest.ServedVariation{ID: "v-true", Value: "true", Reason: "target match"}, v.Variation)

	track := r.Events[1]
	assert.Equal(t, "u1", track.User.KeyID)
	assert.Nil(t, track.Variations, "no variations key in a metric item")
	require.Len(t, track.Metrics, 1)
	m := track.Metrics[0]
	assert.Equal(t, wire.MetricRoute, m.Route)
	assert.Equal(t, "index/metric", m.Route)
	assert.Equal(t, "CustomEvent", m.Type)
	assert.Equal(t, "checkout", m.EventName)
	assert.Equal(t, 1.0, m.NumericValue)
	assert.Equal(t, "goserverside", m.AppType)
	assert.GreaterOrEqual(t, m.Timestamp, before)
	assert.LessOrEqual(t, m.Timestamp, after)

	metric := r.Events[2]
	assert.Equal(t, "u2", metric.User.KeyID)
	assert.Equal(t, "u2", metric.User.Name, "the name defaults to the key")
	assert.NotNil(t, metric.User.CustomizedProperties, "an empty list, not null")
	assert.Empty(t, metric.User.CustomizedProperties)
	require.Len(t, metric.Metrics, 1)
	assert.Equal(t, "spend", metric.Metrics[0].EventName)
	assert.Equal(t, 12.5, metric.Metrics[0].NumericValue)
	assert.Zero(t, c.DroppedEvents())
}

// The listeners of EventEvaluation get the facts that are sent.
func TestEvaluationListenerWithEventsOn(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c := newEventsClient(t, srv, Config{FlushInterval: time.Hour}, targetedFlag())
	col := newCollector()
	c.On(EventEvaluation, col.add)
	c.BoolVariation("ff-bool", NewUser("u1"), false)
	c.BoolVariation("ff-bool", NewUser("u2"), true)
	require.NoError(t, c.FlushAndWait(testCtx(t)))
	got := col.wait(t, 2)
	sent := srv.Events()
	require.Len(t, sent, 2)
	for i, e := range got {
		v := sent[i].Variations[0]
		assert.Equal(t, v.FeatureFlagKey, e.Evaluation.FlagKey)
		assert.Equal(t, sent[i].User.KeyID, e.Evaluation.User.Key())
		assert.Equal(t, v.Variation.ID, e.Evaluation.VariationID)
		assert.Equal(t, v.Variation.Value, e.Evaluation.Value)
		assert.Equal(t, v.Variation.Reason, e.Evaluation.Reason.String())
		assert.Equal(t, v.SendToExperiment, e.Evaluation.InExperiment)
		assert.Equal(t, v.Timestamp, e.Time.UnixMilli(), "the same record, stamped once")
	}
}

// A batch goes out without waiting for the flush interval once it holds EventBatchSize
// events; while every request slot is busy, it grows instead.
func TestEventBatchingByCount(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c := newEventsClient(t, srv, Config{EventBatchSize: 10, FlushInterval: time.Hour})
	ctx := testCtx(t)
	u := NewUser("u")
	for i := range 10 {
		require.NoError(t, c.Track(u, "e"+strconv.Itoa(i)))
	}
	_, err := srv.WaitEvents(ctx, 10)
	require.NoError(t, err)

	// Every slot busy: the next events wait in one batch.
	srv.HoldEvents()
	for k := 1; k <= senders; k++ {
		for i := range 10 {
			require.NoError(t, c.Track(u, "held"+strconv.Itoa(k)+"-"+strconv.Itoa(i)))
		}
		require.NoError(t, srv.WaitFor(ctx, func() bool { return srv.Stats().HeldEventRequests == k }))
	}
	for i := range 200 {
		require.NoError(t, c.Track(u, "more"+strconv.Itoa(i)))
	}
	require.NoError(t, waitUntil(ctx, func() bool { return c.events.queue.Len() == 0 }))
	srv.ReleaseEvents()
	require.NoError(t, c.FlushAndWait(ctx))
	assert.Len(t, srv.Events(), 10+senders*10+200)
	items := itemsPerRequest(srv.EventRequests())
	assert.Equal(t, 200, items[len(items)-1], "one request for what waited")
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

func TestEventBatchingByBytes(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c := newEventsClient(t, srv, Config{EventBatchBytes: 1024, FlushInterval: time.Minute})
	u := NewUser("u").WithCustom("padding", strings.Repeat("x", 200))
	item := len(new(itemEncoder).appendItem(nil, &record{kind: recordMetric, user: u, metric: "e00", value: 1}, time.Now()))
	for i := range 40 {
		require.NoError(t, c.Track(u, "e"+strconv.Itoa(10+i)))
	}
	require.NoError(t, c.FlushAndWait(testCtx(t)))
	reqs := srv.EventRequests()
	total := 0
	for _, r := range reqs {
		assert.Equal(t, http.StatusOK, r.Status)
		assert.LessOrEqual(t, r.Bytes, 1024)
		total += r.Items
	}
	assert.Equal(t, 40, total)
	// '[' + k items + (k-1) commas + ']' <= 1024: every batch but the last one is full.
	full := 1023 / (item + 1)
	items := itemsPerRequest(reqs)
	assert.Equal(t, (40+full-1)/full, len(items))
	for _, n := range items[1:] {
		assert.Equal(t, full, n, "a batch is sealed only when the next item does not fit")
	}
}

func TestFlushAndWaitDeliversEverything(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c := newEventsClient(t, srv, Config{FlushInterval: time.Minute}, targetedFlag())
	const goroutines, each = 4, 1234 / 4
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				u := NewUser("user-" + strconv.Itoa(g) + "-" + strconv.Itoa(i))
				if i%2 == 0 {
					c.BoolVariation("ff-bool", u, false)
				} else {
					assert.NoError(t, c.Track(u, "e"))
				}
			}
		}()
	}
	wg.Wait()
	for i := range 1234 - goroutines*each {
		c.BoolVariation("ff-bool", NewUser("extra-"+strconv.Itoa(i)), false)
	}
	require.NoError(t, c.FlushAndWait(testCtx(t)))
	got := srv.Events()
	assert.Len(t, got, 1234)
	keys := map[string]bool{}
	for _, e := range got {
		keys[e.User.KeyID] = true
	}
	assert.Len(t, keys, 1234, "each event once")
	assert.Zero(t, c.DroppedEvents())
}

func TestCloseDeliversBufferedEvents(t *testing.T) {
	for _, n := range []int{30, 530} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			checkLeaks(t)
			srv := fbtest.NewTestServer(t)
			c := newEventsClient(t, srv, Config{FlushInterval: time.Minute}, targetedFlag())
			for i := range n {
				c.BoolVariation("ff-bool", NewUser("u"+strconv.Itoa(i)), false)
			}
			require.NoError(t, c.Close())
			assert.Len(t, srv.Events(), n)
			assert.Zero(t, c.DroppedEvents())
			require.NoError(t, c.Close(), "harmless twice")
		})
	}
}

// Tracks racing Close: every one that returned nil is sent or counted as dropped.
func TestTrackRacingClose(t *testing.T) {
	checkLeaks(t)
	for range 20 {
		srv := fbtest.NewTestServer(t)
		c := newEventsClient(t, srv, Config{FlushInterval: time.Minute, EventCapacity: 256})
		const producers = 4
		var accepted atomic.Int64
		var started sync.WaitGroup
		var wg sync.WaitGroup
		started.Add(producers)
		for range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := NewUser("u")
				for i := 0; ; i++ {
					if i == 100 {
						started.Done()
					}
					// Yield, so that the other producers and Close get a core at once
					// instead of at the next preemption (10 ms) on a 2-core machine.
					runtime.Gosched()
					err := c.Track(u, "e")
					if errors.Is(err, ErrClosed) {
						if i < 100 {
							started.Done()
						}
						return
					}
					assert.NoError(t, err)
					accepted.Add(1)
				}
			}()
		}
		started.Wait()
		require.NoError(t, c.Close())
		wg.Wait()
		assert.Equal(t, accepted.Load(), int64(len(srv.Events()))+int64(c.DroppedEvents()))
	}
}

func TestFlushAndIntervalSend(t *testing.T) {
	checkLeaks(t)
	ctx := testCtx(t)
	t.Run("Flush", func(t *testing.T) {
		srv := fbtest.NewTestServer(t)
		c := newEventsClient(t, srv, Config{FlushInterval: time.Hour})
		require.NoError(t, c.Track(NewUser("u"), "e"))
		c.Flush()
		_, err := srv.WaitEvents(ctx, 1)
		require.NoError(t, err)
	})
	t.Run("interval", func(t *testing.T) {
		srv := fbtest.NewTestServer(t)
		c := newEventsClient(t, srv, Config{FlushInterval: 20 * time.Millisecond})
		require.NoError(t, c.Track(NewUser("u"), "e"))
		_, err := srv.WaitEvents(ctx, 1)
		require.NoError(t, err)
	})
	t.Run("path prefix", func(t *testing.T) {
		srv := fbtest.NewTestServer(t, fbtest.WithPathPrefix("/featbit"))
		c := newEventsClient(t, srv, Config{})
		require.NoError(t, c.Track(NewUser("u"), "e"))
		require.NoError(t, c.FlushAndWait(ctx))
		assert.Len(t, srv.Events(), 1)
	})
}

func TestRetryServerErrors(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusRequestTimeout} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			checkLeaks(t)
			srv := fbtest.NewTestServer(t)
			c := newEventsClient(t, srv, Config{FlushInterval: time.Hour})
			srv.FailEvents(3, status, 0)
			for i := range 5 {
				require.NoError(t, c.Track(NewUser("u"), "e"+strconv.Itoa(i)))
			}
			require.NoError(t, c.FlushAndWait(testCtx(t)))
			assert.Len(t, srv.Events(), 5, "nothing lost")
			assert.Equal(t, []int{status, status, status, http.StatusOK}, statuses(srv.EventRequests()))
			assert.Zero(t, c.DroppedEvents())
		})
	}
}

// The default HTTP client keeps a connection for each concurrent events request, so
// steady sending opens a handful of connections, not one per request; Close closes them.
func TestEventsReuseConnections(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	var mu sync.Mutex
	requests, opened, open := 0, 0, 0
	events := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		requests++
		mu.Unlock()
	}))
	events.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch st {
		case http.StateNew:
			opened++
			open++
		case http.StateClosed, http.StateHijacked:
			open--
		}
	}
	events.Start()
	t.Cleanup(events.Close)
	srv.HoldDataSync()
	c, err := New(Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL(), EventsURL: events.URL,
		StartWait: -1, FlushInterval: time.Hour, EventBatchSize: 5})
	require.NoError(t, err)
	u := NewUser("u")
	for i := range 2000 {
		require.NoError(t, c.Track(u, "e"))
		if i%500 == 499 {
			require.NoError(t, c.FlushAndWait(testCtx(t)))
		}
	}
	mu.Lock()
	assert.Positive(t, requests)
	assert.LessOrEqual(t, opened, 3*senders, "connections opened for %d requests", requests)
	mu.Unlock()
	require.NoError(t, c.Close())
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return open == 0
	}, 10*time.Second, time.Millisecond, "Close leaves idle connections open")
}

// A connection that breaks before the response is a network error: retried.
func TestRetryNetworkError(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	var mu sync.Mutex
	requests := 0
	var got [][]byte
	events := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		requests++
		first := requests == 1
		if !first {
			got = append(got, body)
		}
		mu.Unlock()
		if first {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(events.Close)
	srv.HoldDataSync()
	c, err := newClient(Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL(), EventsURL: events.URL,
		StartWait: -1, FlushInterval: time.Hour}, nil, quickRetries)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	require.NoError(t, c.Track(NewUser("u"), "e"))
	require.NoError(t, c.FlushAndWait(testCtx(t)))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 2, requests)
	require.Len(t, got, 1)
	var items []wire.InsightItem
	require.NoError(t, json.Unmarshal(got[0], &items))
	assert.Len(t, items, 1)
	assert.Zero(t, c.DroppedEvents())
}

// An outage of the events endpoint far longer than a few retries: the events are kept, the
// endpoint is probed one request at a time, and on recovery everything is delivered, oldest
// first, exactly once.
func TestOutageKeepsEvents(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	var logs syncBuffer
	c := newEventsClient(t, srv, Config{EventBatchSize: 10, FlushInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	ctx := testCtx(t)
	srv.FailEvents(-1, http.StatusServiceUnavailable, 0)
	u := NewUser("u")
	const n = 300
	for i := range n {
		require.NoError(t, c.Track(u, fmt.Sprintf("e%03d", i)))
		if i%50 == 49 {
			c.Flush()
		}
	}
	// Many more failed attempts than a batch used to get before it was dropped.
	require.NoError(t, srv.WaitFor(ctx, func() bool { return len(srv.EventRequests()) >= 20 }))
	assert.Empty(t, srv.Events())
	assert.Zero(t, c.DroppedEvents())
	assert.Equal(t, n, c.events.stats().Queued, "every event is kept")
	srv.FailEvents(0, 0, 0)
	require.NoError(t, c.FlushAndWait(ctx))

	got := srv.Events()
	require.Len(t, got, n)
	names := make([]string, len(got))
	for i, e := range got {
		names[i] = e.Metrics[0].EventName
	}
	assert.Equal(t, "e000", names[0], "the oldest first")
	slices.Sort(names)
	for i, name := range names {
		assert.Equal(t, fmt.Sprintf("e%03d", i), name, "each event exactly once")
	}
	assert.Zero(t, c.DroppedEvents())
	for _, r := range srv.EventRequests() {
		assert.Contains(t, []int{http.StatusServiceUnavailable, http.StatusOK}, r.Status)
	}
	st := c.events.stats()
	assert.Equal(t, uint64(n), st.Sent)
	assert.Equal(t, uint64(n), st.Recorded)
	assert.Positive(t, st.Retried)
	assert.Zero(t, st.Queued)
	assert.Equal(t, 1, strings.Count(logs.String(), "events endpoint fails"), "rate-limited")
	assert.Contains(t, logs.String(), "works again")
}

// While the endpoint fails, EventCapacity bounds what is kept: the oldest events are kept
// and delivered, the new ones that do not fit are dropped and counted.
func TestOutageBeyondCapacity(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	const capacity, n = 100, 300
	c := newEventsClient(t, srv, Config{EventCapacity: capacity, FlushInterval: time.Hour})
	ctx := testCtx(t)
	srv.FailEvents(-1, http.StatusBadGateway, 0)
	u := NewUser("u")
	for i := range n {
		require.NoError(t, c.Track(u, fmt.Sprintf("e%03d", i)))
	}
	c.Flush()
	require.NoError(t, srv.WaitFor(ctx, func() bool { return len(srv.EventRequests()) >= 5 }))
	srv.FailEvents(0, 0, 0)
	require.NoError(t, c.FlushAndWait(ctx))
	got := srv.Events()
	require.Len(t, got, capacity)
	for i, e := range got {
		assert.Equal(t, fmt.Sprintf("e%03d", i), e.Metrics[0].EventName)
	}
	assert.Equal(t, uint64(n-capacity), c.DroppedEvents())
	st := c.events.stats()
	assert.Equal(t, uint64(n-capacity), st.Dropped[dropBufferFull])
	assert.Equal(t, uint64(capacity), st.Sent)
}

// A Retry-After is honoured: the next request waits at least that long.
func TestRetryAfterIsHonoured(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	var mu sync.Mutex
	var waits []time.Duration
	srv.HoldDataSync()
	c, err := newClient(Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL(), StartWait: -1, FlushInterval: time.Hour},
		nil, func(t *eventTimings) {
			t.wait = func(d time.Duration) time.Duration {
				mu.Lock()
				waits = append(waits, d)
				mu.Unlock()
				return d / 1000
			}
		})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	srv.FailEvents(1, http.StatusTooManyRequests, 3*time.Second)
	require.NoError(t, c.Track(NewUser("u"), "e"))
	require.NoError(t, c.FlushAndWait(testCtx(t)))
	assert.Equal(t, []int{http.StatusTooManyRequests, http.StatusOK}, statuses(srv.EventRequests()))
	assert.Len(t, srv.Events(), 1)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, waits)
	assert.Equal(t, 3*time.Second, slices.Max(waits), "Retry-After: 3, longer than the first backoff")
}

// Close gives up what a failing endpoint does not take, and says how many.
func TestCloseReportsUndelivered(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	// The first retry comes at once, the next one never: the requests counted below are
	// those of Close, however slowly the test runs.
	var retries atomic.Int32
	c := startEventsClient(t, srv, Config{FlushInterval: time.Hour}, func(t *eventTimings) {
		t.linger = time.Millisecond
		t.wait = func(time.Duration) time.Duration {
			if retries.Add(1) == 1 {
				return 0
			}
			return time.Hour
		}
	})
	srv.FailEvents(-1, http.StatusServiceUnavailable, 0)
	for i := range 7 {
		require.NoError(t, c.Track(NewUser("u"), "e"+strconv.Itoa(i)))
	}
	c.Flush()
	require.NoError(t, srv.WaitFor(testCtx(t), func() bool { return len(srv.EventRequests()) >= 2 }))
	before := len(srv.EventRequests())
	err := c.Close()
	require.ErrorIs(t, err, ErrEventsUndelivered)
	assert.Contains(t, err.Error(), "7 events")
	assert.Equal(t, uint64(7), c.DroppedEvents())
	assert.Equal(t, uint64(7), c.events.stats().Dropped[dropClosing])
	assert.LessOrEqual(t, len(srv.EventRequests()), before+2, "one last try, no backoff loop")
	assert.Empty(t, srv.Events())
	require.NoError(t, c.Close(), "a second Close does nothing")
}

func TestRefusedBatchIsDropped(t *testing.T) {
	cases := []struct {
		status int
		why    string
	}{
		{http.StatusBadRequest, "(400)"},
		{http.StatusRequestEntityTooLarge, "(413)"},
		{http.StatusNotFound, "unexpected HTTP status"},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			checkLeaks(t)
			srv := fbtest.NewTestServer(t)
			var logs syncBuffer
			c := newEventsClient(t, srv, Config{EventBatchSize: 5, FlushInterval: time.Hour,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			dropped := newCollector()
			c.On(EventEventsDropped, dropped.add)
			ctx := testCtx(t)
			srv.FailEvents(1, tc.status, 0)
			for i := range 5 {
				require.NoError(t, c.Track(NewUser("u"), "e"+strconv.Itoa(i)))
			}
			require.NoError(t, srv.WaitFor(ctx, func() bool { return len(srv.EventRequests()) == 1 }))
			for i := range 3 {
				require.NoError(t, c.Track(NewUser("u"), "next"+strconv.Itoa(i)))
			}
			require.NoError(t, c.FlushAndWait(ctx))
			assert.Equal(t, []int{tc.status, http.StatusOK}, statuses(srv.EventRequests()), "not retried")
			assert.Len(t, srv.Events(), 3, "the next batch goes through")
			assert.Equal(t, uint64(5), c.DroppedEvents())
			require.NoError(t, c.Close()) // reports what it has not reported yet
			e := dropped.wait(t, 1)[0]
			assert.Equal(t, uint64(5), e.Dropped.Count)
			assert.Equal(t, uint64(5), e.Dropped.Total)
			assert.Contains(t, e.Dropped.Why, tc.why)
			assert.Contains(t, logs.String(), "FeatBit refused a batch of insight events")
			assert.Contains(t, logs.String(), "status="+strconv.Itoa(tc.status))
			assert.NotContains(t, logs.String(), srv.Secret())
		})
	}
}

func TestUnauthorizedStopsSending(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			checkLeaks(t)
			srv := fbtest.NewTestServer(t)
			var logs syncBuffer
			c := newEventsClient(t, srv, Config{FlushInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, targetedFlag())
			ctx := testCtx(t)
			srv.FailEvents(-1, status, 0)
			for i := range 3 {
				require.NoError(t, c.Track(NewUser("u"), "e"+strconv.Itoa(i)))
			}
			require.NoError(t, c.FlushAndWait(ctx))
			require.Equal(t, []int{status}, statuses(srv.EventRequests()))
			assert.Equal(t, uint64(3), c.DroppedEvents())

			// Nothing is sent any more; everything is counted.
			for i := range 10 {
				require.NoError(t, c.Track(NewUser("u"), "later"+strconv.Itoa(i)))
				c.BoolVariation("ff-bool", NewUser("u"), false)
			}
			require.NoError(t, c.FlushAndWait(ctx))
			assert.Len(t, srv.EventRequests(), 1, "no request after the refusal")
			assert.Equal(t, uint64(23), c.DroppedEvents())
			require.NoError(t, c.Close())
			assert.Len(t, srv.EventRequests(), 1)
			assert.Equal(t, 1, strings.Count(logs.String(), "refused the env secret"), "one clear error")
			assert.Contains(t, logs.String(), "level=ERROR")
			assert.NotContains(t, logs.String(), srv.Secret())
		})
	}
}

// An endpoint that never answers: evaluations neither block nor allocate, the memory of
// unsent events stays within EventCapacity (the rest is dropped and counted), and Close
// returns within CloseTimeout.
func TestHangingEndpoint(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.HoldEvents()
	const capacity = 100
	c := newEventsClient(t, srv, Config{EventCapacity: capacity, EventBatchSize: 10, FlushInterval: 10 * time.Millisecond,
		CloseTimeout: 10 * time.Millisecond}, targetedFlag())
	ctx := testCtx(t)
	u := NewUser("u1")

	const n = 10000
	for range n {
		require.True(t, c.BoolVariation("ff-bool", u, false))
	}
	require.NoError(t, srv.WaitFor(ctx, func() bool { return srv.Stats().HeldEventRequests > 0 }))
	assert.Equal(t, capacity, c.events.stats().Queued)
	assert.Equal(t, uint64(n-capacity), c.DroppedEvents())
	assert.Zero(t, testing.AllocsPerRun(100, func() { c.BoolVariation("ff-bool", u, false) }))

	// FlushAndWait gives up with its context.
	short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, c.FlushAndWait(short), context.DeadlineExceeded)

	err := closeErr(t, c)
	require.ErrorIs(t, err, ErrEventsUndelivered)
	assert.Contains(t, err.Error(), strconv.Itoa(capacity)+" events")
	assert.Empty(t, srv.Events())
	assert.Equal(t, uint64(n+101), c.DroppedEvents(), "every event is accounted for")
	assert.Zero(t, c.events.stats().Queued)
}

// closeErr closes c and returns Close's error; it fails t if Close hangs.
func closeErr(t *testing.T, c *Client) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- c.Close() }()
	select {
	case err := <-errc:
		return err
	case <-testCtx(t).Done():
		t.Fatal("Close hangs")
		return nil
	}
}

// A flood beyond the capacity: what is not delivered is dropped and counted, never lost
// silently, and reported once.
func TestFloodDropsAndCounts(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.HoldEvents()
	var logs syncBuffer
	const capacity = 64
	c := newEventsClient(t, srv, Config{EventCapacity: capacity, EventBatchSize: 8, FlushInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	dropped := newCollector()
	c.On(EventEventsDropped, dropped.add)
	ctx := testCtx(t)

	const goroutines, each = 8, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := NewUser("u" + strconv.Itoa(g))
			for i := range each {
				assert.NoError(t, c.Track(u, "e"+strconv.Itoa(i)))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, capacity, c.events.stats().Queued, "full")
	e := dropped.wait(t, 1)[0]
	assert.Equal(t, "buffer full", e.Dropped.Why)
	assert.Positive(t, e.Dropped.Count)
	assert.GreaterOrEqual(t, c.DroppedEvents(), uint64(goroutines*each-capacity))

	srv.ReleaseEvents()
	require.NoError(t, c.FlushAndWait(ctx))
	delivered := uint64(len(srv.Events()))
	assert.Equal(t, uint64(goroutines*each), delivered+c.DroppedEvents(), "delivered + dropped = recorded")
	assert.LessOrEqual(t, delivered, uint64(capacity))
	assert.Equal(t, 1, strings.Count(logs.String(), "insight events dropped"), "the log is rate-limited")

	// The listener events add up, once the last drops are reported.
	deadline := time.After(10 * time.Second)
	for {
		var total uint64
		for _, e := range dropped.snapshot() {
			total += e.Dropped.Count
		}
		if total == c.DroppedEvents() {
			break
		}
		select {
		case <-dropped.signal:
		case <-deadline:
			t.Fatalf("listeners were told of %d dropped events, not %d", total, c.DroppedEvents())
		}
	}
}

func TestNoEventsWhenOfflineOrDisabled(t *testing.T) {
	ctx := testCtx(t)
	t.Run("offline", func(t *testing.T) {
		c := newOffline(t, fixture)
		c.BoolVariation("ff-test-bool", NewUser("test-user-1"), false)
		assert.NoError(t, c.Track(NewUser("u"), "e"))
		assert.NoError(t, c.TrackMetric(NewUser("u"), "e", 2))
		c.Flush()
		assert.NoError(t, c.FlushAndWait(ctx))
		assert.Zero(t, c.events.stats().Queued)
		assert.Zero(t, c.DroppedEvents())
		assert.ErrorIs(t, c.Track(NewUser("u"), ""), ErrInvalidEvent, "arguments are still checked")
	})
	t.Run("disabled", func(t *testing.T) {
		checkLeaks(t)
		srv := fbtest.NewTestServer(t)
		c := newEventsClient(t, srv, Config{DisableEvents: true, FlushInterval: 10 * time.Millisecond}, targetedFlag())
		col := newCollector()
		c.On(EventEvaluation, col.add)
		c.BoolVariation("ff-bool", NewUser("u1"), false)
		assert.NoError(t, c.Track(NewUser("u"), "e"))
		c.Flush()
		assert.NoError(t, c.FlushAndWait(ctx))
		col.wait(t, 1) // listeners are still told
		require.NoError(t, c.Close())
		assert.Empty(t, srv.EventRequests())
		assert.Zero(t, c.DroppedEvents())
	})
}

func TestFallbacksSendNoEvents(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c := startEventsClient(t, srv, Config{})
	u := NewUser("u1")
	assert.False(t, c.BoolVariation("ff-bool", u, false), "not ready")
	c.commit(full([]wire.Flag{targetedFlag(), boolFlag("sentinel", true, 1)}), Fetch{})
	c.Variation("missing", u, "")
	c.IntVariation("ff-bool", u, 0)
	c.Float64VariationDetail("ff-bool", u, 0)
	JSONVariation(c, "ff-bool", u, "a string cannot hold a bool")
	c.BoolVariation("ff-bool", NewUser(" "), false)
	c.AllVariations(u)
	require.True(t, c.BoolVariation("sentinel", u, false))
	require.NoError(t, c.FlushAndWait(testCtx(t)))
	got := srv.Events()
	require.Len(t, got, 1)
	assert.Equal(t, "sentinel", got[0].Variations[0].FeatureFlagKey)
}

// FeatBit rejects a whole batch when a variation's value or id is empty, so such an
// evaluation is counted as dropped and never sent; listeners still hear of it.
func TestEmptyVariationIsNotSent(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	f := wire.Flag{ID: "id-s", Key: "s", Name: "s", VariationType: "string", IsEnabled: true,
		Variations:          []wire.Variation{{ID: "v-empty", Value: ""}, {ID: "v-x", Value: "x"}},
		TargetUsers:         []wire.TargetUser{{KeyIDs: []string{"a"}, VariationID: "v-x"}},
		DisabledVariationID: "v-x",
		Fallthrough:         wire.Fallthrough{Variations: []wire.RolloutVariation{{ID: "v-empty", Rollout: []float64{0, 1}}}},
		UpdatedAt:           wire.FormatVersion(1)}
	var logs syncBuffer
	c := newEventsClient(t, srv, Config{FlushInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, f)
	col := newCollector()
	c.On(EventEvaluation, col.add)
	assert.Equal(t, "", c.Variation("s", NewUser("b"), "default"))
	assert.Equal(t, "x", c.Variation("s", NewUser("a"), "default"))
	require.NoError(t, c.FlushAndWait(testCtx(t)))
	assert.Equal(t, []int{http.StatusOK}, statuses(srv.EventRequests()))
	got := srv.Events()
	require.Len(t, got, 1)
	assert.Equal(t, "a", got[0].User.KeyID)
	assert.Equal(t, uint64(1), c.DroppedEvents())
	assert.Len(t, col.wait(t, 2), 2)
	assert.Contains(t, logs.String(), "flag=s")
}

func TestOversizeEventIsNotSent(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c := newEventsClient(t, srv, Config{EventBatchBytes: 1024})
	require.NoError(t, c.Track(NewUser("big").WithCustom("blob", strings.Repeat("x", 2000)), "e"))
	require.NoError(t, c.Track(NewUser("small"), "e"))
	require.NoError(t, c.FlushAndWait(testCtx(t)))
	got := srv.Events()
	require.Len(t, got, 1)
	assert.Equal(t, "small", got[0].User.KeyID)
	assert.Equal(t, uint64(1), c.DroppedEvents())
}

func TestTrackErrors(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c := newEventsClient(t, srv, Config{})
	ctx := testCtx(t)
	u := NewUser("u")
	cases := []struct {
		user  User
		name  string
		value float64
		want  error
	}{
		{u, "", 1, ErrInvalidEvent},
		{u, " \t", 1, ErrInvalidEvent},
		{NewUser(""), "e", 1, ErrInvalidUser},
		{NewUser("  "), "e", 1, ErrInvalidUser},
		{u, "e", math.NaN(), ErrInvalidMetricValue},
		{u, "e", math.Inf(1), ErrInvalidMetricValue},
		{u, "e", math.Inf(-1), ErrInvalidMetricValue},
		{u, "e", 1e39, ErrInvalidMetricValue},
		{u, "e", -1e39, ErrInvalidMetricValue},
	}
	for _, tc := range cases {
		err := c.TrackMetric(tc.user, tc.name, tc.value)
		assert.ErrorIs(t, err, tc.want)
		assert.True(t, strings.HasPrefix(err.Error(), "fbclient: "), err.Error())
	}
	assert.ErrorIs(t, c.Track(u, ""), ErrInvalidEvent)
	assert.Zero(t, c.events.stats().Queued, "nothing recorded")
	require.NoError(t, c.FlushAndWait(ctx))
	assert.Empty(t, srv.EventRequests())

	require.NoError(t, c.Close())
	assert.ErrorIs(t, c.Track(u, "e"), ErrClosed)
	assert.ErrorIs(t, c.FlushAndWait(ctx), ErrClosed)
	c.Flush()
	assert.Zero(t, c.DroppedEvents())

	var nilClient *Client
	assert.ErrorIs(t, nilClient.Track(u, "e"), ErrClosed)
	assert.ErrorIs(t, nilClient.FlushAndWait(ctx), ErrClosed)
	nilClient.Flush()
	assert.Zero(t, nilClient.DroppedEvents())
}

// A client whose events endpoint refuses connections still closes at once: it tries once
// more and reports what it could not send.
func TestUnreachableEndpoint(t *testing.T) {
	checkLeaks(t)
	c, err := newClient(Config{EnvSecret: testSecret, StreamingURL: "ws://127.0.0.1:1", StartWait: -1}, nil, quickRetries)
	require.NoError(t, err)
	for i := range 20 {
		require.NoError(t, c.Track(NewUser("u"), "e"+strconv.Itoa(i)))
	}
	c.Flush()
	err = closeErr(t, c)
	require.ErrorIs(t, err, ErrEventsUndelivered)
	assert.Contains(t, err.Error(), "20 events")
	assert.Equal(t, uint64(20), c.DroppedEvents())
}

func TestClassifyAttempt(t *testing.T) {
	netErr := errors.New("connection refused")
	cases := []struct {
		status int
		err    error
		want   int
	}{
		{200, nil, attemptSent},
		{202, nil, attemptSent},
		{0, netErr, attemptRetry},
		{408, nil, attemptRetry},
		{429, nil, attemptRetry},
		{500, nil, attemptRetry},
		{502, nil, attemptRetry},
		{503, nil, attemptRetry},
		{401, nil, attemptRefused},
		{403, nil, attemptRefused},
		{400, nil, attemptRejected},
		{404, nil, attemptRejected},
		{413, nil, attemptRejected},
		{302, nil, attemptRejected},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, classifyAttempt(tc.status, tc.err), "status %d err %v", tc.status, tc.err)
	}
}

// jsonText is what encoding/json writes for v, without HTML escaping.
func jsonText(t testing.TB, v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return strings.TrimSuffix(buf.String(), "\n")
}

var trickyStrings = []string{
	"", "plain", `quote " and backslash \`, "new\nline\r\ttab", "\b\f\x00\x01\x1f\x7f",
	"<html> & 'amp'", "line\u2028para\u2029end", "héllo wörld 日本 🎉", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate",
	"trunc \xe6\x97", "\ufffd replacement", "/slash/",
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range trickyStrings {
		assert.Equal(t, jsonText(t, s), string(appendString(nil, s)), "%q", s)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString([]byte("prefix"), s)
		require.Equal(t, "prefix"+jsonText(t, s), string(got))
	})
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 12.5, 0.1, 1e-6, 9.99e-7, 1e-7, 123456789, 1e20, 1e21, -1e21,
		1.5e300, math.MaxFloat64, math.SmallestNonzeroFloat64, 3.4028234663852886e38, 0.000123} {
		assert.Equal(t, jsonText(t, f), string(appendFloat(nil, f)), "%v", f)
	}
}

// The item written by hand is byte for byte what encoding/json writes for wire.InsightItem.
func TestAppendItemMatchesEncodingJSON(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	f := &flag{key: "flag \"k\""}
	v := &variation{id: "18b369f8-0000", value: `{"a":"<b>"}`}
	users := []User{
		NewUser("k"),
		NewUser("k\u2028").WithName("Jane\t\"J\"").WithCustom("country", "us").WithCustom("", "").WithCustom("bad\xff", "x\\y"),
	}
	for _, u := range users {
		props := []wire.NameValue{}
		for _, a := range u.attrs {
			props = append(props, wire.NameValue{Name: a.name, Value: a.value})
		}
		wu := wire.InsightUser{KeyID: u.Key(), Name: u.Name(), CustomizedProperties: props}

		r := record{kind: recordEvaluation, flag: f, v: v, reason: ReasonRuleMatch, inExpt: true, user: u}
		want := jsonText(t, wire.InsightItem{User: wu, Variations: []wire.InsightVariation{{
			FeatureFlagKey: f.key, SendToExperiment: true, Timestamp: at.UnixMilli(),
			Variation: wire.VariationRecord{ID: v.id, Value: v.value, Reason: "rule match"},
		}}})
		assert.Equal(t, want, string(new(itemEncoder).appendItem(nil, &r, at)))

		m := record{kind: recordMetric, user: u, metric: "pay \"now\"", value: 0.25}
		want = jsonText(t, wire.InsightItem{User: wu, Metrics: []wire.InsightMetric{{
			Route: wire.MetricRoute, Type: wire.MetricTypeCustom, EventName: m.metric, NumericValue: 0.25,
			AppType: wire.AppTypeGoServer, Timestamp: at.UnixMilli(),
		}}})
		assert.Equal(t, want, string(new(itemEncoder).appendItem(nil, &m, at)))
	}
}

// The pipeline's counters agree with what FeatBit received: delivered, refused, retried,
// never sent.
func TestEventStatsMatchServer(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	f := targetedFlag()
	empty := boolFlag("empty", true, 1)
	empty.Variations[0].Value = ""
	c := newEventsClient(t, srv, Config{FlushInterval: time.Hour}, f, empty)
	ctx := testCtx(t)
	u := NewUser("u1")
	track := func(n int) {
		for i := range n {
			require.NoError(t, c.Track(u, "e"+strconv.Itoa(i)))
		}
	}
	track(4)
	c.BoolVariation("ff-bool", u, false)
	c.Variation("empty", u, "x") // never sent: FeatBit rejects an empty value
	require.NoError(t, c.FlushAndWait(ctx))
	srv.FailEvents(1, http.StatusBadRequest, 0)
	track(3)
	require.NoError(t, c.FlushAndWait(ctx))
	srv.FailEvents(2, http.StatusInternalServerError, 0)
	track(6)
	require.NoError(t, c.FlushAndWait(ctx))

	var delivered, refused, failed int
	for _, r := range srv.EventRequests() {
		switch r.Status {
		case http.StatusOK:
			delivered += r.Items
		case http.StatusBadRequest:
			refused += r.Items
		case http.StatusInternalServerError:
			failed += r.Items
		}
	}
	require.Equal(t, delivered, len(srv.Events()))
	st := c.events.stats()
	assert.Equal(t, uint64(4+1+1+3+6), st.Recorded)
	assert.Equal(t, uint64(delivered), st.Sent)
	assert.Equal(t, uint64(4+1+6), st.Sent)
	assert.Equal(t, uint64(refused), st.Dropped[dropBadRequest])
	assert.Equal(t, uint64(1), st.Dropped[dropEmptyVariation])
	assert.Equal(t, uint64(failed), st.Retried, "each failed attempt was sent again")
	assert.Equal(t, uint64(12), st.Retried)
	assert.Zero(t, st.Queued)
	var drops uint64
	for _, n := range st.Dropped {
		drops += n
	}
	assert.Equal(t, st.Recorded, st.Sent+drops+uint64(st.Queued))
	assert.Equal(t, drops, c.DroppedEvents())
}

// With DisableEvents, records made for EventEvaluation listeners are not insight events:
// when the buffer overflows, nothing is reported as dropped events.
func TestDisabledEventsReportNoDrops(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	var logs syncBuffer
	c := newEventsClient(t, srv, Config{DisableEvents: true, EventCapacity: 16,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, targetedFlag())
	col := newCollector()
	c.On(EventEvaluation, col.add)
	dropped := newCollector()
	c.On(EventEventsDropped, dropped.add)
	for range 10000 {
		c.BoolVariation("ff-bool", NewUser("u1"), false)
	}
	col.wait(t, 1)
	require.Positive(t, c.events.stats().Unrecorded, "the buffer overflowed")
	require.NoError(t, c.Close())
	assert.Zero(t, c.DroppedEvents())
	assert.NotContains(t, logs.String(), "insight events dropped")
	assert.Empty(t, dropped.snapshot())
}

func TestRequestTimeoutFitsTheBody(t *testing.T) {
	// A 12 KB batch over a 1 KB/s link takes 12 s: its request must not time out first.
	assert.Greater(t, requestTimeout(12<<10), 12*time.Second+responseTimeout/2)
	assert.Greater(t, requestTimeout(1<<20), requestTimeout(12<<10))
	assert.GreaterOrEqual(t, requestTimeout(0), responseTimeout)
}
