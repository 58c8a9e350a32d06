// Package inmem gives unit tests a ready fbclient.Client whose flags live in memory: no
// network, no server to start, and no goroutine left once the client is closed. A test
// writes flags with fbtest's builders, changes them while the client runs (the client
// applies the change before SetFlags returns, and tells EventFlagChanged listeners), and
// reads back the insight events the client sent.
//
//	td := inmem.NewTestData(fbtest.Flag("new-checkout").Target(0, "alice").Fallthrough(1))
//	client := td.NewClient(t)
//	// ... exercise code that calls client.BoolVariation("new-checkout", user, false)
//	td.SetFlags(fbtest.Flag("new-checkout").Fallthrough(0))
//	// ... every user now gets true
//	client.FlushAndWait(ctx)
//	events := td.Events()
//
// Underneath, a TestData is an fbtest.Server that does not listen. The client gets its data
// through fbclient's DataSource boundary (Config.DataSource), in FeatBit's data-sync format,
// and sends its insight events through an http.RoundTripper (Config.HTTPClient) that hands
// each request to the server's track endpoint in-process, so events are in FeatBit's wire
// format and checked as FeatBit checks them. Use fbtest.Server itself to test what crosses
// the network: streaming, polling, reconnects and faults.
package inmem

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
)

// EventsURL is the base URL of the insight events a TestData client sends. It names no host
// that exists: the requests never leave the process.
const EventsURL = "http://fbtest.invalid"

// TestData holds the flags and segments of in-memory clients and the insight events they
// sent. Create it with NewTestData; its methods are safe for concurrent use, and several
// clients may share one TestData.
type TestData struct {
	srv *fbtest.Server

	mu    sync.Mutex // serializes changes and the data sets sent to the clients
	sinks map[fbclient.DataSink]struct{}
}

// NewTestData returns a TestData holding flags, each with its own version, as
// fbtest.Server.SetFlags gives them.
func NewTestData(flags ...*fbtest.FlagBuilder) *TestData {
	td := &TestData{srv: fbtest.NewUnstartedServer(), sinks: map[fbclient.DataSink]struct{}{}}
	if len(flags) > 0 {
		td.srv.SetFlags(flags...)
	}
	return td
}

// SetFlags creates or replaces flags (by key), as fbtest.Server.SetFlags does. Every client
// of td has applied the change when SetFlags returns; EventFlagChanged listeners are told
// on their own goroutines, as always. It panics if a builder refers to a variation that
// does not exist.
func (td *TestData) SetFlags(flags ...*fbtest.FlagBuilder) {
	td.mu.Lock()
	defer td.mu.Unlock()
	td.srv.SetFlags(flags...)
	td.pushLocked()
}

// SetSegments creates or replaces segments (by id), as fbtest.Server.SetSegments does: the
// flags that use a segment change with it. Every client has applied the change when
// SetSegments returns.
func (td *TestData) SetSegments(segments ...*fbtest.SegmentBuilder) {
	td.mu.Lock()
	defer td.mu.Unlock()
	td.srv.SetSegments(segments...)
	td.pushLocked()
}

// ArchiveFlag archives the flag with the given key, which clients then treat as deleted. It
// reports whether the flag exists.
func (td *TestData) ArchiveFlag(key string) bool {
	td.mu.Lock()
	defer td.mu.Unlock()
	ok := td.srv.ArchiveFlag(key)
	td.pushLocked()
	return ok
}

// ArchiveSegment archives the segment with the given id. It reports whether the segment
// exists.
func (td *TestData) ArchiveSegment(id string) bool {
	td.mu.Lock()
	defer td.mu.Unlock()
	ok := td.srv.ArchiveSegment(id)
	td.pushLocked()
	return ok
}

// Events returns the insight events the clients sent, in the order they arrived. A client
// sends its events every Config.FlushInterval (1 s by default): call its FlushAndWait, or
// Close it, before reading them.
func (td *TestData) Events() []fbtest.Event { return td.srv.Events() }

// DataFile returns the flags and segments as a data file for fbclient's Offline mode
// (Config.Data, or Config.DataFile once saved), as fbtest.Server.DataFile does.
func (td *TestData) DataFile() []byte { return td.srv.DataFile() }

// Config returns cfg set up to take its data from td and send its insight events to td:
// DataSource, SyncMode (SyncCustom), EnvSecret, EventsURL (EventsURL) and HTTPClient are
// set, StreamingURL and PollingURL cleared; everything else, such as Listeners, Logger or
// DisableEvents, is kept. Use it to create the client with fbclient.New yourself.
func (td *TestData) Config(cfg fbclient.Config) fbclient.Config {
	cfg.DataSource = source{td}
	cfg.SyncMode = fbclient.SyncCustom
	cfg.EnvSecret = td.srv.Secret()
	cfg.StreamingURL, cfg.PollingURL = "", ""
	cfg.EventsURL = EventsURL
	cfg.HTTPClient = &http.Client{Transport: transport{td}}
	return cfg
}

// NewClient returns a ready client of td, created from cfg as Config sets it up (at most
// one cfg; none means the defaults), and closed when the test ends. It fails the test if
// New fails or the client is not ready within 5 s.
func (td *TestData) NewClient(tb testing.TB, cfg ...fbclient.Config) *fbclient.Client {
	tb.Helper()
	var base fbclient.Config
	switch len(cfg) {
	case 0:
	case 1:
		base = cfg[0]
	default:
		tb.Fatalf("inmem: NewClient takes at most one Config, got %d", len(cfg))
	}
	client, err := fbclient.New(td.Config(base))
	if err != nil {
		tb.Fatalf("inmem: %v", err)
	}
	tb.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.WaitForInitialization(ctx); err != nil {
		tb.Fatalf("inmem: %v", err)
	}
	return client
}

// pushLocked sends every client what changed since the version it holds. td.mu must be
// held.
func (td *TestData) pushLocked() {
	for sink := range td.sinks {
		td.syncLocked(sink, sink.Version())
	}
}

// syncLocked sends sink the data changed since version since (all of it for 0) as FeatBit's
// latest-all endpoint gives it. td.mu must be held.
func (td *TestData) syncLocked(sink fbclient.DataSink, since int64) {
	f := fbclient.Fetch{Timestamp: since}
	req := httptest.NewRequest(http.MethodGet, fbtest.LatestAllPath+"?timestamp="+strconv.FormatInt(since, 10), nil)
	req.Header.Set("Authorization", td.srv.Secret())
	rec := httptest.NewRecorder()
	td.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		sink.Failed(fmt.Errorf("inmem: latest-all answered %d", rec.Code), f)
		return
	}
	if rec.Body.Len() == 0 {
		sink.Apply(nil, f) // nothing changed
		return
	}
	ds, err := fbclient.ParseDataSet(rec.Body.Bytes())
	if err != nil {
		sink.Failed(fmt.Errorf("inmem: %w", err), f)
		return
	}
	sink.Apply(ds, f)
}

// source is the DataSource of td's clients: the whole data set when the client starts, then
// every change as SetFlags and the others make it.
type source struct{ td *TestData }

// Run sends the data set and registers sink for the changes until ctx ends.
func (s source) Run(ctx context.Context, sink fbclient.DataSink) {
	td := s.td
	td.mu.Lock()
	td.sinks[sink] = struct{}{}
	td.syncLocked(sink, 0)
	td.mu.Unlock()
	<-ctx.Done()
	td.mu.Lock()
	delete(td.sinks, sink)
	td.mu.Unlock()
}

// transport hands the client's HTTP requests, its insight events, to td's server in-process.
type transport struct{ td *TestData }

// RoundTrip answers req as FeatBit's server would, without a connection.
func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	rec := httptest.NewRecorder()
	t.td.srv.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
