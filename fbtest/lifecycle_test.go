package fbtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A stopped server refuses connections; started again, it serves on the same address with
// the same secret, flags and records, and a new stream gets the data.
func TestStopStart(t *testing.T) {
	srv := NewTestServer(t, WithClock(fixedClock(t0)))
	srv.SetFlags(Flag("a"))
	url, streaming := srv.URL(), srv.StreamingURL()
	c := dial(t, srv)
	send(t, c, `{"messageType":"data-sync","data":{"timestamp":0}}`)
	readDataSync(t, c)

	srv.Stop()
	srv.Stop() // idempotent
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseAbnormalClosure) {
		t.Errorf("read from a stopped server: %v, want the connection dropped without a close frame", err)
	}
	if _, _, err := dialQuery(t, srv, StreamingPath, streamQuery(srv.Secret(), srv.now())); err == nil {
		t.Fatal("a stopped server accepts streams")
	}
	if _, _, err := pollRaw(httpClient(t), srv, "", srv.Secret()); err == nil {
		t.Fatal("a stopped server answers polls")
	}
	srv.SetFlags(Flag("b")) // changes made while stopped are served after the restart

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start while listening: %v", err)
	}
	if srv.URL() != url || srv.StreamingURL() != streaming {
		t.Fatalf("address changed: %s, %s", srv.URL(), srv.StreamingURL())
	}
	c = dial(t, srv)
	send(t, c, `{"messageType":"data-sync","data":{"timestamp":0}}`)
	flags, _ := keys(readDataSync(t, c))
	if strings.Join(flags, ",") != "a,b" {
		t.Errorf("flags after the restart: %v", flags)
	}
	if st := srv.Stats(); st.StreamsAccepted != 2 {
		t.Errorf("streams accepted across the restart: %d, want 2", st.StreamsAccepted)
	}
	if code, _ := poll(t, srv, "", srv.Secret()); code != http.StatusOK {
		t.Errorf("poll after the restart: %d", code)
	}

	srv.Close()
	if err := srv.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
}

// Stop answers a held request 503 and lets it go; Start holds requests again as before.
func TestStopReleasesHeldRequests(t *testing.T) {
	srv := NewTestServer(t)
	srv.HoldEvents()
	done := make(chan int, 1)
	go func() {
		code, _, _ := trackRaw(testContext(t), httpClient(t), srv, insightBody, srv.Secret())
		done <- code
	}()
	if err := srv.WaitFor(testContext(t), func() bool { return srv.Stats().HeldEventRequests == 1 }); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if code := <-done; code != http.StatusServiceUnavailable {
		t.Errorf("held request answered %d, want 503", code)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	srv.ReleaseEvents()
	if code, _ := track(t, srv, insightBody, srv.Secret()); code != http.StatusOK {
		t.Errorf("after the restart: %d", code)
	}
}

// An unstarted server has no URL and serves in-process through ServeHTTP.
func TestUnstartedServeHTTP(t *testing.T) {
	srv := NewUnstartedServer(WithClock(fixedClock(t0)))
	defer srv.Close()
	if srv.URL() != "" || srv.StreamingURL() != "" || srv.EventsURL() != "" {
		t.Errorf("URLs before Start: %q %q %q", srv.URL(), srv.StreamingURL(), srv.EventsURL())
	}
	srv.SetFlags(Flag("a"))

	req := httptest.NewRequest(http.MethodPost, TrackPath, strings.NewReader(insightBody))
	req.Header.Set("Authorization", srv.Secret())
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || len(srv.Events()) != 3 {
		t.Errorf("track: %d, %d events", rec.Code, len(srv.Events()))
	}

	req = httptest.NewRequest(http.MethodGet, LatestAllPath, nil)
	req.Header.Set("Authorization", srv.Secret())
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !bytes.Equal(bytes.TrimSpace(indent(t, rec.Body.Bytes())), bytes.TrimSpace(srv.DataFile())) {
		t.Errorf("latest-all: %d %s, want the data file %s", rec.Code, rec.Body.Bytes(), srv.DataFile())
	}

	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/public/unknown", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("unknown path: %d", rec.Code)
	}
}

func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// DataFile is what LoadJSON reads back: every item with its version, archived ones too.
func TestDataFileRoundTrip(t *testing.T) {
	srv := NewTestServer(t, WithClock(fixedClock(t0)))
	srv.SetSegments(Segment("beta").Included("u1"))
	srv.SetFlags(Flag("a").Rule("beta", 1, InSegment("beta")), Flag("b").Strings("x", "y").Rollout(1, 1))
	srv.ArchiveFlag("b")
	file := srv.DataFile()
	var env struct {
		MessageType string
		Data        struct{ EventType string }
	}
	if err := json.Unmarshal(file, &env); err != nil || env.MessageType != "data-sync" || env.Data.EventType != "full" {
		t.Fatalf("data file envelope %+v, %v:\n%s", env, err, file)
	}

	other := NewTestServer(t)
	if err := other.LoadJSON(file); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(other.DataFile(), file) {
		t.Errorf("loaded back:\n%s\nwant\n%s", other.DataFile(), file)
	}
	if other.DataVersion() != srv.DataVersion() {
		t.Errorf("version %d, want %d", other.DataVersion(), srv.DataVersion())
	}
}

// WithSecret makes a second server of the same environment: a client of one is accepted by
// the other, and a malformed secret is refused at once.
func TestWithSecret(t *testing.T) {
	a := NewTestServer(t)
	b := NewTestServer(t, WithSecret(a.Secret()))
	if b.Secret() != a.Secret() || b.EnvID() != a.EnvID() {
		t.Fatalf("b: %s %s, want a's", b.Secret(), b.EnvID())
	}
	if code, _ := poll(t, b, "", a.Secret()); code != http.StatusOK {
		t.Errorf("a's secret at b: %d", code)
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("a malformed secret was accepted")
		}
	}()
	NewUnstartedServer(WithSecret("short"))
}
