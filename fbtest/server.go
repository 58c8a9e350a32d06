// Package fbtest is an in-process fake FeatBit evaluation server for tests of fbclient and of
// services that use it.
//
// A Server listens on the loopback interface and speaks FeatBit's server-SDK protocol as a
// FeatBit evaluation server does: the /streaming WebSocket (token validation, ping/pong,
// data-sync full and patch replies, pushes of changed items), polling at
// /api/public/sdk/server/latest-all, and insight events at /api/public/insight/track. Tests
// describe flags and segments with Flag and Segment instead of writing FeatBit JSON, change
// them while clients are connected, inject faults (dropped connections, close codes, refused
// connections, a silent server, malformed messages, failing or hanging event requests), and
// observe what clients did (connections, data-sync timestamps, pings, events) without sleeping.
// Stop and Start restart it on the same address, as a FeatBit server that restarts, and
// DataFile exports its flags as a data file for fbclient's Offline mode.
//
//	srv := fbtest.NewTestServer(t)
//	srv.SetFlags(
//		fbtest.Flag("new-checkout").Target(0, "user-1").Fallthrough(1),
//		fbtest.Flag("banner").Strings("blue", "green").Rollout(50, 50),
//	)
//	// configure the client with srv.StreamingURL(), srv.EventsURL() and srv.Secret()
//
// For unit tests of code that evaluates flags, package fbtest/inmem gives a ready client
// whose flags live in memory, with no server to start and no network.
//
// All methods are safe for concurrent use. fbtest logs nothing itself, and no error text or
// response body contains the env secret.
package fbtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/featflags/fbclient/internal/token"
	"github.com/featflags/fbclient/internal/wire"
)

// Paths served, relative to URL().
const (
	StreamingPath = "/streaming"
	LatestAllPath = "/api/public/sdk/server/latest-all"
	TrackPath     = "/api/public/insight/track"
)

// CloseInvalidRequest is the close code a FeatBit server sends right after the handshake when
// it rejects a streaming connection (bad type, token, clock or secret).
const CloseInvalidRequest = 4003

// closeInvalidReason is the close reason FeatBit sends with CloseInvalidRequest.
const closeInvalidReason = "invalid request, close by server"

const (
	tokenWindow      = 30 * time.Second // FeatBit's default Streaming:TokenExpirySeconds
	writeWait        = 5 * time.Second  // deadline of every WebSocket write
	closeGrace       = 2 * time.Second  // how long a close handshake may take
	maxClientMessage = 8 << 10          // larger client messages are discarded
	maxInsightBody   = 30_000_000       // Kestrel's default request body limit
	sendQueue        = 1024             // messages queued per stream before it is dropped
)

// DataSyncRequest is a request for flag data that the server answered or is holding.
type DataSyncRequest struct {
	// Stream is the sequence number of the stream that sent the data-sync message (1 for the
	// first stream the server accepted), or 0 for a polling request.
	Stream int
	// Polling is true for a latest-all request.
	Polling bool
	// Timestamp is the version the client asked for; 0 asks for all data.
	Timestamp int64
	// Time is when the request arrived, by the server's clock.
	Time time.Time
}

// EventRequest is one request received at the track endpoint.
type EventRequest struct {
	// Status is the HTTP status answered, or 0 if the client gave up while the request was
	// held by HoldEvents.
	Status int
	// Items is the number of items in the body, Bytes the body size.
	Items, Bytes int
	// Header holds the request headers.
	Header http.Header
	// Events are the decoded items; nil when the body was not decoded (unauthorized, too
	// large, or not JSON of the right shape).
	Events []Event
	// Time is when the request arrived, by the server's clock.
	Time time.Time
}

// Stats counts what the server has seen since it started.
type Stats struct {
	// StreamAttempts counts WebSocket upgrade requests to /streaming, including refused and
	// rejected ones.
	StreamAttempts int
	// StreamsAccepted counts streams that passed validation.
	StreamsAccepted int
	// StreamsRejected counts streams closed with CloseInvalidRequest.
	StreamsRejected int
	// StreamsRefused counts upgrade requests answered with the RefuseConnections status.
	StreamsRefused int
	// Pings counts ping messages received on all streams.
	Pings int
	// PollRequests counts requests to latest-all, whatever their outcome.
	PollRequests int
	// HeldEventRequests is the number of event requests hanging in HoldEvents right now.
	HeldEventRequests int
}

// Option configures a Server.
type Option func(*options)

type options struct {
	secret string
	now    func() time.Time
	prefix string
}

// WithSecret makes the server use secret as its env secret instead of a random one, so that
// two servers stand for the same FeatBit environment (two evaluation servers of one
// environment, or one before and after a data change), with the same EnvID. It must be a
// valid 44-character FeatBit env secret, such as another server's Secret; NewServer panics
// otherwise.
func WithSecret(secret string) Option {
	return func(o *options) { o.secret = secret }
}

// WithClock sets the server's clock, used to check streaming tokens (±30 s window), to stamp
// item versions (updatedAt) and to time requests. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithPathPrefix serves everything under prefix (e.g. "/featbit"), as behind a reverse proxy.
// URL, StreamingURL and EventsURL include it.
func WithPathPrefix(prefix string) Option {
	return func(o *options) { o.prefix = "/" + strings.Trim(prefix, "/") }
}

// Server is a fake FeatBit evaluation server. Create it with NewServer or NewTestServer and
// stop it with Close. Stop and Start stop and restart it on the same address, as a FeatBit
// server that restarts, keeping its flags, segments and records.
type Server struct {
	secret   string
	envID    string
	prefix   string
	now      func() time.Time
	upgrader websocket.Upgrader

	life sync.Mutex     // serializes Start, Stop and Close
	wg   sync.WaitGroup // stream handlers: httptest does not wait for hijacked connections

	mu        sync.Mutex
	hs        *httptest.Server // the listener; nil while not listening
	addr      string           // host:port, kept across restarts; "" before the first Start
	final     bool             // Close was called
	closed    bool             // stopped: no new stream; held requests are answered 503
	closing   chan struct{}    // closed when the server stops
	notify    chan struct{}    // closed and replaced whenever observable state changes
	flags     map[string]wire.Flag
	segments  map[string]wire.Segment
	version   int64                        // highest version given out or loaded
	streams   map[*stream]struct{}         // validated streams that get pushes
	live      map[*stream]struct{}         // every stream whose handler is running
	rejecting map[*websocket.Conn]struct{} // connections being closed with 4003

	refuseStatus   int
	stopPongs      bool
	syncGate       chan struct{} // non-nil while data-sync replies are held
	eventsGate     chan struct{} // non-nil while event requests are held
	failEvents     int
	failStatus     int
	failRetryAfter time.Duration

	stats     Stats
	syncs     []DataSyncRequest
	events    []Event
	eventReqs []EventRequest
}

// NewServer starts a server on 127.0.0.1 with a random env secret and no flags. The caller
// must Close it. It panics if it cannot listen, as httptest.NewServer does.
func NewServer(opts ...Option) *Server {
	s := NewUnstartedServer(opts...)
	if err := s.Start(); err != nil {
		panic(err.Error())
	}
	return s
}

// NewUnstartedServer returns a server that does not listen until Start. It already serves
// requests in-process through ServeHTTP.
func NewUnstartedServer(opts ...Option) *Server {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.prefix == "/" {
		o.prefix = ""
	}
	var env uuid.UUID
	if o.secret == "" {
		env = uuid.New()
		o.secret = token.FormatSecret(uuid.New(), env)
	} else {
		id, err := token.EnvID(o.secret)
		if err != nil {
			panic("fbtest: WithSecret: not a valid 44-character FeatBit env secret")
		}
		env = id
	}
	return &Server{
		secret:    o.secret,
		envID:     env.String(),
		prefix:    o.prefix,
		now:       o.now,
		closing:   make(chan struct{}),
		notify:    make(chan struct{}),
		flags:     map[string]wire.Flag{},
		segments:  map[string]wire.Segment{},
		streams:   map[*stream]struct{}{},
		live:      map[*stream]struct{}{},
		rejecting: map[*websocket.Conn]struct{}{},
		upgrader: websocket.Upgrader{
			ReadBufferSize:  4096,
			WriteBufferSize: 4096,
			CheckOrigin:     func(*http.Request) bool { return true },
		},
	}
}

// NewTestServer is NewServer with Close registered as a cleanup of tb.
func NewTestServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := NewServer(opts...)
	tb.Cleanup(s.Close)
	return s
}

// URL returns the server's HTTP base URL (with the path prefix, if any), e.g.
// "http://127.0.0.1:41234"; "" before the server first listens. It stays the same across
// Stop and Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == "" {
		return ""
	}
	return "http://" + s.addr + s.prefix
}

// StreamingURL returns the base URL for streaming, the ws:// form of URL. Clients append
// "/streaming?type=server&token=...".
func (s *Server) StreamingURL() string {
	if u := s.URL(); u != "" {
		return "ws" + strings.TrimPrefix(u, "http")
	}
	return ""
}

// EventsURL returns the base URL for insight events; it is URL.
func (s *Server) EventsURL() string { return s.URL() }

// Secret returns the env secret the server accepts: 44 characters whose last 22 encode
// EnvID. Streaming tokens must carry it, and HTTP requests must send it, exactly, as the
// Authorization header (FeatBit itself currently checks only the shape of that header).
func (s *Server) Secret() string { return s.secret }

// EnvID returns the environment id encoded in the secret; flags and segments carry it as envId.
func (s *Server) EnvID() string { return s.envID }

// Start makes the server listen: on a new port of 127.0.0.1 the first time, on the same
// address after Stop, so that clients configured with its URLs reconnect to it. Flags,
// segments, counters and records are kept. Start returns an error if the address is taken,
// or after Close; it does nothing while the server listens.
func (s *Server) Start() error {
	s.life.Lock()
	defer s.life.Unlock()
	s.mu.Lock()
	final, running, addr := s.final, s.hs != nil, s.addr
	s.mu.Unlock()
	switch {
	case final:
		return errors.New("fbtest: Start after Close")
	case running:
		return nil
	case addr == "":
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("fbtest: cannot listen: %w", err)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: s}}
	s.mu.Lock()
	if s.closed {
		s.closed = false
		s.closing = make(chan struct{})
	}
	s.hs, s.addr = hs, ln.Addr().String()
	s.changedLocked()
	s.mu.Unlock()
	hs.Start()
	return nil
}

// Stop stops the server as a FeatBit server stops: it closes every connection abruptly,
// stops listening and waits for all of the server's goroutines. Held requests are answered
// 503. Unlike Close, it keeps the address for Start.
func (s *Server) Stop() {
	s.life.Lock()
	defer s.life.Unlock()
	s.stopLocked()
}

// Close stops the server for good; Start cannot start it again. Close is idempotent.
func (s *Server) Close() {
	s.life.Lock()
	defer s.life.Unlock()
	s.mu.Lock()
	s.final = true
	s.mu.Unlock()
	s.stopLocked()
}

// stopLocked stops the server; s.life must be held.
func (s *Server) stopLocked() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	for st := range s.live {
		st.ws.Close()
	}
	clear(s.streams)
	for ws := range s.rejecting {
		ws.Close()
	}
	hs := s.hs
	s.hs = nil
	s.changedLocked()
	s.mu.Unlock()
	if hs != nil {
		hs.Close()
	}
	s.wg.Wait()
}

// DataFile returns the server's flags and segments, archived ones included, as a data file
// for fbclient's Offline mode (Config.DataFile or Config.Data): the response of latest-all,
// {"messageType":"data-sync","data":{"eventType":"full","featureFlags":[...],
// "segments":[...]}}, indented. Saved to a file, it lets offline tests use the flags a test
// server was given.
func (s *Server) DataFile() []byte {
	s.mu.Lock()
	ds := s.payloadLocked(0)
	s.mu.Unlock()
	var b bytes.Buffer
	_ = json.Indent(&b, dataSyncMessage(ds), "", "  ") // dataSyncMessage is valid JSON
	b.WriteByte('\n')
	return b.Bytes()
}

// ServeHTTP answers a request as the server's listener does. It lets a test serve FeatBit's
// HTTP endpoints in-process, from an http.RoundTripper or a server of its own, whether or
// not the server listens (see NewUnstartedServer); streaming needs a connection that can be
// hijacked.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if s.prefix != "" {
		rest, ok := strings.CutPrefix(p, s.prefix)
		if !ok || (rest != "" && rest[0] != '/') {
			http.NotFound(w, r)
			return
		}
		p = rest
	}
	switch {
	case isStreamingPath(p):
		s.serveStream(w, r)
	case p == LatestAllPath:
		s.servePoll(w, r)
	case p == TrackPath:
		s.serveTrack(w, r)
	case p == "/health/liveness" || p == "/health/readiness":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("Healthy"))
	default:
		http.NotFound(w, r)
	}
}

// isStreamingPath reports whether p starts with the segment /streaming, as FeatBit matches
// (case-insensitively).
func isStreamingPath(p string) bool {
	if len(p) < len(StreamingPath) || !strings.EqualFold(p[:len(StreamingPath)], StreamingPath) {
		return false
	}
	return len(p) == len(StreamingPath) || p[len(StreamingPath)] == '/'
}

func (s *Server) authorized(r *http.Request) bool {
	return r.Header.Get("Authorization") == s.secret
}

// refuse answers a request refused by RefuseConnections.
func refuse(w http.ResponseWriter, status int) {
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":"Rate limit exceeded. Please try again later."}`))
		return
	}
	http.Error(w, http.StatusText(status), status)
}

// changedLocked wakes everyone waiting in WaitFor. s.mu must be held.
func (s *Server) changedLocked() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// ---- Items ----

// nextVersionLocked returns a version for a change: the server clock in ms, but always
// greater than any version given out before.
func (s *Server) nextVersionLocked() int64 {
	v := s.now().UnixMilli()
	if v <= s.version {
		v = s.version + 1
	}
	s.version = v
	return v
}

// SetFlags creates or replaces flags (by key). Each flag gets its own new version (updatedAt,
// strictly increasing) and is pushed to every connected stream as a one-flag patch, as FeatBit
// does for each change. It returns the version given to the last flag. It panics if a builder
// refers to a variation that does not exist.
func (s *Server) SetFlags(flags ...*FlagBuilder) int64 {
	built := make([]wire.Flag, len(flags))
	for i, b := range flags {
		built[i] = b.build(s.envID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var v int64
	for _, f := range built {
		v = s.nextVersionLocked()
		f.UpdatedAt = wire.FormatVersion(v)
		s.flags[f.Key] = f
		s.pushLocked(wire.DataSync{EventType: wire.EventPatch, FeatureFlags: []wire.Flag{f}, Segments: []wire.Segment{}})
	}
	s.changedLocked()
	return v
}

// SetSegments creates or replaces segments (by id). Each segment gets a new version and is
// pushed to every connected stream as a one-segment patch. As in FeatBit, every flag that
// refers to the segment then gets a newer version too, without a push: a client that
// reconnects receives those flags again in its patch. It returns the version given to the
// last segment.
func (s *Server) SetSegments(segments ...*SegmentBuilder) int64 {
	built := make([]wire.Segment, len(segments))
	for i, b := range segments {
		built[i] = b.build(s.envID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var v int64
	for _, seg := range built {
		v = s.setSegmentLocked(seg)
	}
	s.changedLocked()
	return v
}

// ArchiveFlag archives the flag with the given key (a new version, pushed like any change).
// It reports whether the flag exists.
func (s *Server) ArchiveFlag(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.flags[key]
	if !ok {
		return false
	}
	f.IsArchived = true
	f.UpdatedAt = wire.FormatVersion(s.nextVersionLocked())
	s.flags[key] = f
	s.pushLocked(wire.DataSync{EventType: wire.EventPatch, FeatureFlags: []wire.Flag{f}, Segments: []wire.Segment{}})
	s.changedLocked()
	return true
}

// ArchiveSegment archives the segment with the given id, as SetSegments would. It reports
// whether the segment exists.
func (s *Server) ArchiveSegment(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg, ok := s.segments[id]
	if !ok {
		return false
	}
	seg.IsArchived = true
	s.setSegmentLocked(seg)
	s.changedLocked()
	return true
}

func (s *Server) setSegmentLocked(seg wire.Segment) int64 {
	v := s.nextVersionLocked()
	seg.UpdatedAt = wire.FormatVersion(v)
	s.segments[seg.ID] = seg
	s.pushLocked(wire.DataSync{EventType: wire.EventPatch, FeatureFlags: []wire.Flag{}, Segments: []wire.Segment{seg}})
	keys := make([]string, 0, len(s.flags))
	for k, f := range s.flags {
		if usesSegment(f, seg.ID) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := s.flags[k]
		f.UpdatedAt = wire.FormatVersion(s.nextVersionLocked())
		s.flags[k] = f
	}
	return v
}

// usesSegment reports whether a rule of f has a segment condition listing id.
func usesSegment(f wire.Flag, id string) bool {
	for _, r := range f.Rules {
		for _, c := range r.Conditions {
			if c.Property != wire.SegmentIn && c.Property != wire.SegmentNotIn {
				continue
			}
			var ids []string
			if json.Unmarshal([]byte(c.Value), &ids) == nil && slices.Contains(ids, id) {
				return true
			}
		}
	}
	return false
}

// LoadJSON replaces all flags and segments with a data set in FeatBit's JSON, in any of the
// shapes FeatBit produces (the latest-all response, a data-sync message, or a bare
// {"featureFlags":[...],"segments":[...]} object). Items keep their updatedAt, which every
// item must have, and nothing is pushed: use it before clients connect.
func (s *Server) LoadJSON(data []byte) error {
	ds, err := wire.DecodeDataSet(data)
	if err != nil {
		return fmt.Errorf("fbtest: LoadJSON: %w", err)
	}
	flags := make(map[string]wire.Flag, len(ds.FeatureFlags))
	segments := make(map[string]wire.Segment, len(ds.Segments))
	var top int64
	for _, f := range ds.FeatureFlags {
		v, err := wire.Version(f.UpdatedAt)
		if err != nil {
			return fmt.Errorf("fbtest: LoadJSON: flag %q: %w", f.Key, err)
		}
		top = max(top, v)
		flags[f.Key] = f
	}
	for _, seg := range ds.Segments {
		v, err := wire.Version(seg.UpdatedAt)
		if err != nil {
			return fmt.Errorf("fbtest: LoadJSON: segment %q: %w", seg.ID, err)
		}
		top = max(top, v)
		segments[seg.ID] = seg
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flags, s.segments = flags, segments
	s.version = max(s.version, top)
	s.changedLocked()
	return nil
}

// DataVersion returns the highest version (updatedAt in Unix ms) of any flag or segment, the
// timestamp a client holding all data asks for when it reconnects. It is 0 without data.
func (s *Server) DataVersion() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v int64
	for _, f := range s.flags {
		n, _ := wire.Version(f.UpdatedAt)
		v = max(v, n)
	}
	for _, seg := range s.segments {
		n, _ := wire.Version(seg.UpdatedAt)
		v = max(v, n)
	}
	return v
}

// payloadLocked returns the data-sync payload for a request with timestamp ts: everything
// (archived items included) for 0, else the items whose version is greater than ts.
func (s *Server) payloadLocked(ts int64) wire.DataSync {
	ds := wire.DataSync{EventType: wire.EventFull, FeatureFlags: []wire.Flag{}, Segments: []wire.Segment{}}
	if ts != 0 {
		ds.EventType = wire.EventPatch
	}
	newer := func(updatedAt string) bool {
		v, err := wire.Version(updatedAt)
		return ts == 0 || (err == nil && v > ts)
	}
	for _, f := range s.flags {
		if newer(f.UpdatedAt) {
			ds.FeatureFlags = append(ds.FeatureFlags, f)
		}
	}
	for _, seg := range s.segments {
		if newer(seg.UpdatedAt) {
			ds.Segments = append(ds.Segments, seg)
		}
	}
	slices.SortFunc(ds.FeatureFlags, func(a, b wire.Flag) int {
		return cmpVersion(a.UpdatedAt, b.UpdatedAt, a.Key, b.Key)
	})
	slices.SortFunc(ds.Segments, func(a, b wire.Segment) int {
		return cmpVersion(a.UpdatedAt, b.UpdatedAt, a.ID, b.ID)
	})
	return ds
}

func cmpVersion(ua, ub, ka, kb string) int {
	va, _ := wire.Version(ua)
	vb, _ := wire.Version(ub)
	switch {
	case va < vb:
		return -1
	case va > vb:
		return 1
	}
	return strings.Compare(ka, kb)
}

// ---- Observation ----

// Connections returns the number of open streams that passed validation.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// DataSyncRequests returns every data-sync request received (streaming and polling) that the
// server answered or is holding, in arrival order.
func (s *Server) DataSyncRequests() []DataSyncRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.syncs)
}

// Events returns the items of every event request answered 200, in arrival order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// EventRequests returns every request received at the track endpoint, in arrival order.
func (s *Server) EventRequests() []EventRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.eventReqs)
}

// WaitFor calls cond until it returns true, each time the server's observable state changes
// (a stream opens or closes, a message or request arrives, data changes), and returns nil; or
// returns an error wrapping ctx's error when ctx ends first. cond may call Server methods.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.notify
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fbtest: condition not met: %w", ctx.Err())
		}
	}
}

// WaitConnections waits until exactly n validated streams are open.
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	return s.WaitFor(ctx, func() bool { return s.Connections() == n })
}

// WaitDataSyncRequests waits until at least n data-sync requests have arrived and returns them
// all. To wait for the next request, pass len(DataSyncRequests())+1.
func (s *Server) WaitDataSyncRequests(ctx context.Context, n int) ([]DataSyncRequest, error) {
	var out []DataSyncRequest
	err := s.WaitFor(ctx, func() bool {
		out = s.DataSyncRequests()
		return len(out) >= n
	})
	return out, err
}

// WaitEvents waits until at least n event items have been accepted and returns them all.
func (s *Server) WaitEvents(ctx context.Context, n int) ([]Event, error) {
	var out []Event
	err := s.WaitFor(ctx, func() bool {
		out = s.Events()
		return len(out) >= n
	})
	return out, err
}

// ---- Faults ----

// RefuseConnections makes new streaming upgrade requests and latest-all requests fail at the
// HTTP level with status (e.g. http.StatusServiceUnavailable, or http.StatusTooManyRequests,
// answered with Retry-After: 1 as FeatBit's rate limiter does); 0 accepts them again. Open
// streams are not affected.
func (s *Server) RefuseConnections(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseStatus = status
}

// FailEvents makes the next n authorized requests to the track endpoint fail with status
// (n < 0: all of them, until FailEvents(0, 0, 0)), whatever their body. If retryAfter > 0 the
// response carries Retry-After in whole seconds (rounded up). Failed requests are listed by
// EventRequests, with their items; the items are not added to Events.
func (s *Server) FailEvents(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failEvents, s.failStatus, s.failRetryAfter = n, status, retryAfter
}

// HoldEvents makes requests to the track endpoint hang until ReleaseEvents, the end of the
// request's context (the client gave up), or Close. Released requests are then answered as
// usual.
func (s *Server) HoldEvents() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eventsGate == nil {
		s.eventsGate = make(chan struct{})
	}
}

// ReleaseEvents lets held and new event requests through.
func (s *Server) ReleaseEvents() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eventsGate != nil {
		close(s.eventsGate)
		s.eventsGate = nil
	}
}

// HoldDataSync stops answering data-sync requests: streaming requests are recorded and
// queued, latest-all requests hang. Pings and pushes still flow. ReleaseDataSync answers
// them with the data as it is then.
func (s *Server) HoldDataSync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncGate == nil {
		s.syncGate = make(chan struct{})
	}
}

// ReleaseDataSync answers the held data-sync requests and stops holding new ones.
func (s *Server) ReleaseDataSync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncGate == nil {
		return
	}
	close(s.syncGate)
	s.syncGate = nil
	for st := range s.streams {
		for _, ts := range st.held {
			st.enqueue(outMsg{data: s.dataSyncMessageLocked(ts)})
		}
		st.held = nil
	}
}
