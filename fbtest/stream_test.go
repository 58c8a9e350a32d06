package fbtest

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/featflags/fbclient/internal/token"
	"github.com/featflags/fbclient/internal/wire"
)

func TestStreamValidation(t *testing.T) {
	srv := NewTestServer(t, WithClock(fixedClock(t0)))
	other := token.FormatSecret(uuid.New(), uuid.New())
	tok := func(secret string, offset time.Duration) string {
		return token.Build(secret, t0.Add(offset), 0.5)
	}
	for _, tc := range []struct {
		name  string
		q     url.Values
		valid bool
	}{
		{"valid", url.Values{"type": {"server"}, "token": {tok(srv.Secret(), 0)}}, true},
		{"version 1", url.Values{"type": {"server"}, "version": {"1"}, "token": {tok(srv.Secret(), 0)}}, true},
		{"version 2", url.Values{"type": {"server"}, "version": {"2"}, "token": {tok(srv.Secret(), 0)}}, true},
		{"29 s old", url.Values{"type": {"server"}, "token": {tok(srv.Secret(), -29*time.Second)}}, true},
		{"30 s ahead", url.Values{"type": {"server"}, "token": {tok(srv.Secret(), 30*time.Second)}}, true},
		{"31 s old", url.Values{"type": {"server"}, "token": {tok(srv.Secret(), -31*time.Second)}}, false},
		{"31 s ahead", url.Values{"type": {"server"}, "token": {tok(srv.Secret(), 31*time.Second)}}, false},
		{"client type", url.Values{"type": {"client"}, "token": {tok(srv.Secret(), 0)}}, false},
		{"relay-proxy type", url.Values{"type": {"relay-proxy"}, "token": {tok(srv.Secret(), 0)}}, false},
		{"type case", url.Values{"type": {"Server"}, "token": {tok(srv.Secret(), 0)}}, false},
		{"no type", url.Values{"token": {tok(srv.Secret(), 0)}}, false},
		{"version 3", url.Values{"type": {"server"}, "version": {"3"}, "token": {tok(srv.Secret(), 0)}}, false},
		{"no token", url.Values{"type": {"server"}}, false},
		{"blank token", url.Values{"type": {"server"}, "token": {"   "}}, false},
		{"malformed token", url.Values{"type": {"server"}, "token": {"QBPBS" + srv.Secret()}}, false},
		{"raw secret as token", url.Values{"type": {"server"}, "token": {srv.Secret()}}, false},
		{"other secret", url.Values{"type": {"server"}, "token": {tok(other, 0)}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Stats()
			c, resp, err := dialQuery(t, srv, StreamingPath, tc.q)
			if err != nil {
				t.Fatalf("handshake failed: %v", err)
			}
			if resp.StatusCode != 101 {
				t.Fatalf("status %d, want 101", resp.StatusCode)
			}
			if tc.valid {
				expectPong(t, c)
				if got := srv.Stats().StreamsAccepted; got != before.StreamsAccepted+1 {
					t.Errorf("StreamsAccepted = %d, want %d", got, before.StreamsAccepted+1)
				}
				c.Close()
				return
			}
			ce := readClose(t, c)
			if ce.Code != CloseInvalidRequest || ce.Text != "invalid request, close by server" {
				t.Errorf("close = %d %q, want 4003 %q", ce.Code, ce.Text, "invalid request, close by server")
			}
			st := srv.Stats()
			if st.StreamsRejected != before.StreamsRejected+1 || st.StreamsAccepted != before.StreamsAccepted {
				t.Errorf("stats = %+v, before %+v", st, before)
			}
		})
	}
	if err := srv.WaitConnections(testContext(t), 0); err != nil {
		t.Fatal(err)
	}
}

func TestStreamingPathVariants(t *testing.T) {
	srv := NewTestServer(t)
	for _, p := range []string{"/streaming", "/streaming/", "/streaming/v1", "/Streaming"} {
		c, _, err := dialQuery(t, srv, p, streamQuery(srv.Secret(), time.Now()))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		expectPong(t, c)
	}
	if _, resp, err := dialQuery(t, srv, "/streamingx", streamQuery(srv.Secret(), time.Now())); err == nil || resp.StatusCode != 404 {
		t.Errorf("/streamingx: err %v, want 404", err)
	}
	code, _, _ := do(t, httpClient(t), mustRequest(t, "GET", srv.URL()+"/streaming", nil))
	if code != 404 {
		t.Errorf("plain GET /streaming: %d, want 404", code)
	}
}

func TestPingPong(t *testing.T) {
	srv := NewTestServer(t)
	c := dial(t, srv)
	for _, ping := range []string{
		`{"messageType":"ping","data":{"timestamp":0}}`,
		`{"messageType":"ping","data":null}`,
		`{"messageType":"PING","data":{}}`,
		`{"data":1,"messageType":"Ping"}`,
	} {
		send(t, c, ping)
		if got := string(read(t, c)); got != `{"messageType":"pong","data":{}}` {
			t.Fatalf("%s: got %s", ping, got)
		}
	}
	// Ignored: no data, no type, wrong case of the property name, not JSON, unknown type,
	// messageType not a string. None of this closes the connection.
	for _, msg := range []string{
		`{"messageType":"ping"}`,
		`{"data":{}}`,
		`{"MessageType":"ping","data":{}}`,
		`not json`,
		`[1,2]`,
		`null`,
		`{"messageType":"rp-agent-status","data":{}}`,
		`{"messageType":"hello","data":{}}`,
		`{"messageType":5,"data":{}}`,
		`{"messageType":null,"data":{}}`,
	} {
		send(t, c, msg)
	}
	expectPong(t, c) // the first message back is this pong: nothing above was answered
	if got := srv.Stats().Pings; got != 5 {
		t.Errorf("Pings = %d, want 5", got)
	}
}

func TestControlPingIsAnswered(t *testing.T) {
	srv := NewTestServer(t)
	c := dial(t, srv)
	got := make(chan string, 1)
	c.SetPongHandler(func(data string) error { got <- data; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("x"), time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	expectPong(t, c) // the reader processes the control pong while reading
	select {
	case d := <-got:
		if d != "x" {
			t.Errorf("pong data %q", d)
		}
	default:
		t.Fatal("no pong frame before the pong message")
	}
}

func TestEcho(t *testing.T) {
	srv := NewTestServer(t)
	c := dial(t, srv)
	send(t, c, `{"messageType":"echo","data":{"a": [1, 2], "b":"x"}}`)
	if got := string(read(t, c)); got != `{"messageType":"echo","data":{"a":[1,2],"b":"x"}}` {
		t.Fatalf("echo: %s", got)
	}
}

func TestLargeMessageDiscarded(t *testing.T) {
	srv := NewTestServer(t)
	c := dial(t, srv)
	big := `{"messageType":"ping","data":{"pad":"` + strings.Repeat("x", 9<<10) + `"}}`
	send(t, c, big)
	expectPong(t, c) // the big ping got no pong, and the connection is still open
	if got := srv.Stats().Pings; got != 1 {
		t.Errorf("Pings = %d, want 1", got)
	}
}

// dataSet sets up a flag a, a segment s, an archived flag x and a flag b, with consecutive
// versions v..v+3 (fixed clock).
func dataSet(srv *Server) (va, vs, vx, vb int64) {
	va = srv.SetFlags(Flag("a"))
	vs = srv.SetSegments(Segment("s").Included("u1"))
	vx = srv.SetFlags(Flag("x").Archived())
	vb = srv.SetFlags(Flag("b").Strings("p", "q"))
	return
}

func TestDataSyncFullAndPatch(t *testing.T) {
	srv := NewTestServer(t, WithClock(fixedClock(t0)))
	va, vs, vx, vb := dataSet(srv)
	if va != t0.UnixMilli() || vs != va+1 || vx != va+2 || vb != va+3 {
		t.Fatalf("versions %d %d %d %d, want consecutive from %d", va, vs, vx, vb, t0.UnixMilli())
	}
	if got := srv.DataVersion(); got != vb {
		t.Fatalf("DataVersion = %d, want %d", got, vb)
	}
	c := dial(t, srv)
	for _, tc := range []struct {
		name      string
		msg       string
		eventType string
		flags     []string
		segments  []string
		ts        int64
	}{
		{"zero", `{"messageType":"data-sync","data":{"timestamp":0}}`, "full", []string{"a", "x", "b"}, []string{"s"}, 0},
		{"missing", `{"messageType":"data-sync","data":{}}`, "full", []string{"a", "x", "b"}, []string{"s"}, 0},
		{"not an integer literal", `{"messageType":"data-sync","data":{"timestamp":1.0}}`, "full", []string{"a", "x", "b"}, []string{"s"}, 0},
		{"exponent", `{"messageType":"data-sync","data":{"timestamp":1e12}}`, "full", []string{"a", "x", "b"}, []string{"s"}, 0},
		{"type case", `{"messageType":"DATA-SYNC","data":{"Timestamp":0}}`, "full", []string{"a", "x", "b"}, []string{"s"}, 0},
		{"old", `{"messageType":"data-sync","data":{"timestamp":1}}`, "patch", []string{"a", "x", "b"}, []string{"s"}, 1},
		{"strictly greater", `{"messageType":"data-sync","data":{"timestamp":` + itoa(va) + `}}`, "patch", []string{"x", "b"}, []string{"s"}, va},
		{"after segment", `{"messageType":"data-sync","data":{"timestamp":` + itoa(vs) + `}}`, "patch", []string{"x", "b"}, []string{}, vs},
		{"one before last", `{"messageType":"data-sync","data":{"timestamp":` + itoa(vb-1) + `}}`, "patch", []string{"b"}, []string{}, vb - 1},
		{"current", `{"messageType":"data-sync","data":{"timestamp":` + itoa(vb) + `}}`, "patch", []string{}, []string{}, vb},
		{"future", `{"messageType":"data-sync","data":{"timestamp":` + itoa(vb+1000) + `}}`, "patch", []string{}, []string{}, vb + 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(srv.DataSyncRequests())
			send(t, c, tc.msg)
			ds := readDataSync(t, c)
			flags, segs := keys(ds)
			if ds.EventType != tc.eventType || !slices.Equal(flags, tc.flags) || !slices.Equal(segs, tc.segments) {
				t.Errorf("got %s %v %v, want %s %v %v", ds.EventType, flags, segs, tc.eventType, tc.flags, tc.segments)
			}
			reqs := srv.DataSyncRequests()
			if len(reqs) != n+1 || reqs[n].Timestamp != tc.ts || reqs[n].Polling || reqs[n].Stream != 1 {
				t.Errorf("requests %+v, want one more with timestamp %d", reqs, tc.ts)
			}
		})
	}
	// The archived flag is in the full data, as an archived flag.
	send(t, c, `{"messageType":"data-sync","data":{"timestamp":0}}`)
	for _, f := range readDataSync(t, c).FeatureFlags {
		if f.IsArchived != (f.Key == "x") {
			t.Errorf("flag %s archived = %v", f.Key, f.IsArchived)
		}
	}
}

func TestDataSyncWithoutReply(t *testing.T) {
	srv := NewTestServer(t)
	srv.SetFlags(Flag("a"))
	c := dial(t, srv)
	for _, msg := range []string{
		`{"messageType":"data-sync","data":{"timestamp":"123"}}`,
		`{"messageType":"data-sync","data":{"timestamp":null}}`,
		`{"messageType":"data-sync","data":{"timestamp":true}}`,
		`{"messageType":"data-sync","data":null}`,
		`{"messageType":"data-sync","data":[]}`,
		`{"messageType":"data-sync"}`,
	} {
		send(t, c, msg)
	}
	expectPong(t, c)
	if n := len(srv.DataSyncRequests()); n != 0 {
		t.Errorf("%d requests recorded, want 0", n)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestPushes(t *testing.T) {
	srv := NewTestServer(t)
	srv.SetSegments(Segment("seg"))
	c1 := dial(t, srv)
	c2 := dial(t, srv)
	v := srv.SetFlags(Flag("f").Rule("r", 1, InSegment("seg")))
	for _, c := range []*websocket.Conn{c1, c2} {
		ds := readDataSync(t, c)
		flags, segs := keys(ds)
		if ds.EventType != "patch" || !slices.Equal(flags, []string{"f"}) || len(segs) != 0 {
			t.Fatalf("push = %s %v %v", ds.EventType, flags, segs)
		}
		if got, _ := wire.Version(ds.FeatureFlags[0].UpdatedAt); got != v {
			t.Errorf("pushed version %d, want %d", got, v)
		}
	}
	vs := srv.SetSegments(Segment("seg").Excluded("u"))
	ds := readDataSync(t, c1)
	flags, segs := keys(ds)
	if ds.EventType != "patch" || len(flags) != 0 || !slices.Equal(segs, []string{"seg"}) {
		t.Fatalf("segment push = %s %v %v", ds.EventType, flags, segs)
	}
	// The flag using the segment got a newer version without a push.
	if dv := srv.DataVersion(); dv <= vs {
		t.Errorf("DataVersion %d, want > segment version %d", dv, vs)
	}
	send(t, c1, `{"messageType":"data-sync","data":{"timestamp":`+itoa(vs)+`}}`)
	ds = readDataSync(t, c1)
	if flags, segs := keys(ds); !slices.Equal(flags, []string{"f"}) || len(segs) != 0 {
		t.Errorf("patch after segment change = %v %v, want [f] []", flags, segs)
	}

	if !srv.ArchiveFlag("f") || srv.ArchiveFlag("nope") {
		t.Fatal("ArchiveFlag result")
	}
	ds = readDataSync(t, c1)
	if len(ds.FeatureFlags) != 1 || !ds.FeatureFlags[0].IsArchived {
		t.Fatalf("archive push = %+v", ds)
	}
	if !srv.ArchiveSegment("seg") || srv.ArchiveSegment("nope") {
		t.Fatal("ArchiveSegment result")
	}
	ds = readDataSync(t, c1)
	if len(ds.Segments) != 1 || !ds.Segments[0].IsArchived {
		t.Fatalf("segment archive push = %+v", ds)
	}
	// c2 saw the same sequence.
	for range 3 {
		readDataSync(t, c2)
	}
	expectPong(t, c2)
}

func TestPushBeforeFirstDataSync(t *testing.T) {
	// A stream gets pushes as soon as it is validated, before it asks for data.
	srv := NewTestServer(t)
	c := dial(t, srv)
	srv.SetFlags(Flag("early"))
	send(t, c, `{"messageType":"data-sync","data":{"timestamp":0}}`)
	if ds := readDataSync(t, c); ds.EventType != "patch" {
		t.Fatalf("first message %s, want the patch", ds.EventType)
	}
	if ds := readDataSync(t, c); ds.EventType != "full" {
		t.Fatalf("second message %s, want full", ds.EventType)
	}
}

func TestClientClose(t *testing.T) {
	srv := NewTestServer(t)
	c := dial(t, srv)
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye")
	if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	if ce := readClose(t, c); ce.Code != websocket.CloseGoingAway {
		t.Errorf("echoed close %d, want 1001", ce.Code)
	}
	if err := srv.WaitConnections(testContext(t), 0); err != nil {
		t.Fatal(err)
	}
}

func TestPathPrefix(t *testing.T) {
	srv := NewTestServer(t, WithPathPrefix("/featbit/"))
	if !strings.HasSuffix(srv.URL(), "/featbit") || !strings.HasPrefix(srv.StreamingURL(), "ws://127.0.0.1:") ||
		!strings.HasSuffix(srv.StreamingURL(), "/featbit") || srv.EventsURL() != srv.URL() {
		t.Fatalf("URLs %s %s %s", srv.URL(), srv.StreamingURL(), srv.EventsURL())
	}
	c := dial(t, srv)
	expectPong(t, c)
	hc := httpClient(t)
	req := mustRequest(t, "GET", srv.URL()+LatestAllPath, nil)
	req.Header.Set("Authorization", srv.Secret())
	if code, _, _ := do(t, hc, req); code != 200 {
		t.Errorf("latest-all under prefix: %d", code)
	}
	base := strings.TrimSuffix(srv.URL(), "/featbit")
	req = mustRequest(t, "GET", base+LatestAllPath, nil)
	req.Header.Set("Authorization", srv.Secret())
	if code, _, _ := do(t, hc, req); code != 404 {
		t.Errorf("latest-all without prefix: %d, want 404", code)
	}
}
