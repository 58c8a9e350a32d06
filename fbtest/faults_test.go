package fbtest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestDropConnections(t *testing.T) {
	srv := NewTestServer(t)
	c1, c2 := dial(t, srv), dial(t, srv)
	srv.DropConnections()
	if n := srv.Connections(); n != 0 {
		t.Fatalf("Connections = %d right after DropConnections", n)
	}
	for _, c := range []*websocket.Conn{c1, c2} {
		// No close frame: gorilla reports an abnormal closure (1006) it made up itself.
		if ce := readClose(t, c); ce.Code != websocket.CloseAbnormalClosure {
			t.Errorf("close code %d, want 1006 (no close frame)", ce.Code)
		}
	}
	// New connections work.
	expectPong(t, dial(t, srv))
}

func TestCloseStreams(t *testing.T) {
	for _, code := range []int{websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseInternalServerErr, CloseInvalidRequest} {
		srv := NewTestServer(t)
		c := dial(t, srv)
		srv.SetFlags(Flag("queued")) // queued before the close: delivered first
		srv.CloseStreams(code, "bye")
		if n := srv.Connections(); n != 0 {
			t.Fatalf("Connections = %d right after CloseStreams", n)
		}
		if ds := readDataSync(t, c); ds.FeatureFlags[0].Key != "queued" {
			t.Fatalf("push before close = %+v", ds)
		}
		ce := readClose(t, c)
		if ce.Code != code || ce.Text != "bye" {
			t.Errorf("close %d %q, want %d bye", ce.Code, ce.Text, code)
		}
		// The client answered the close (gorilla does), so the server side ends well before
		// the grace period.
		if err := srv.WaitFor(testContext(t), func() bool { return srv.Stats().StreamsAccepted == 1 }); err != nil {
			t.Fatal(err)
		}
		srv.Close()
	}
}

func TestCloseStreamsSilentClient(t *testing.T) {
	// A client that never answers the close frame is cut off after the grace period; Close
	// does not wait for it.
	srv := NewServer()
	c := dial(t, srv)
	srv.CloseStreams(websocket.CloseGoingAway, "")
	start := time.Now()
	srv.Close()
	if d := time.Since(start); d > closeGrace {
		t.Errorf("Close took %v", d)
	}
	_ = c
}

func TestRefuseConnections(t *testing.T) {
	srv := NewTestServer(t)
	open := dial(t, srv)
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		srv.RefuseConnections(status)
		_, resp, err := dialQuery(t, srv, StreamingPath, streamQuery(srv.Secret(), time.Now()))
		if !errors.Is(err, websocket.ErrBadHandshake) || resp.StatusCode != status {
			t.Fatalf("dial while refusing: %v, status %v", err, resp)
		}
		if status == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "1" {
			t.Errorf("429 without Retry-After")
		}
		if code, _ := poll(t, srv, "", srv.Secret()); code != status {
			t.Errorf("latest-all while refusing: %d, want %d", code, status)
		}
	}
	expectPong(t, open) // open streams are not affected
	st := srv.Stats()
	if st.StreamsRefused != 2 || st.StreamAttempts != 3 {
		t.Errorf("stats %+v", st)
	}
	srv.RefuseConnections(0)
	expectPong(t, dial(t, srv))
	if code, _ := poll(t, srv, "", srv.Secret()); code != 200 {
		t.Errorf("latest-all after refusing: %d", code)
	}
}

func TestStopPongs(t *testing.T) {
	srv := NewTestServer(t)
	c := dial(t, srv)
	srv.StopPongs(true)
	send(t, c, `{"messageType":"ping","data":{}}`)
	got := make(chan string, 1)
	c.SetPongHandler(func(d string) error { got <- d; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitFor(testContext(t), func() bool { return srv.Stats().Pings == 1 }); err != nil {
		t.Fatal(err)
	}
	// Pushes still flow, and are the next message: the ping got no pong.
	srv.SetFlags(Flag("f"))
	if ds := readDataSync(t, c); ds.FeatureFlags[0].Key != "f" {
		t.Fatalf("push = %+v", ds)
	}
	select {
	case <-got:
		t.Fatal("pong frame while pongs are stopped")
	default:
	}
	srv.StopPongs(false)
	expectPong(t, c)
}

func TestSendRaw(t *testing.T) {
	srv := NewTestServer(t)
	c1, c2 := dial(t, srv), dial(t, srv)
	raw := []byte(`{"messageType":"data-sync","data":{"eventType":"bogus"`)
	srv.SendRaw(raw)
	raw[0] = 'X' // SendRaw copied it
	for _, c := range []*websocket.Conn{c1, c2} {
		if got := string(read(t, c)); got != `{"messageType":"data-sync","data":{"eventType":"bogus"` {
			t.Errorf("got %s", got)
		}
		expectPong(t, c)
	}
}

func TestFailEvents(t *testing.T) {
	srv := NewTestServer(t)
	srv.FailEvents(2, http.StatusServiceUnavailable, 1500*time.Millisecond)
	for i, want := range []int{503, 503, 200} {
		code, h := track(t, srv, insightBody, srv.Secret())
		if code != want {
			t.Fatalf("request %d: status %d, want %d", i, code, want)
		}
		if ra := h.Get("Retry-After"); (want == 503) != (ra == "2") {
			t.Errorf("request %d: Retry-After %q", i, ra)
		}
	}
	reqs := srv.EventRequests()
	if len(reqs) != 3 || reqs[0].Status != 503 || reqs[0].Items != 3 || len(reqs[0].Events) != 3 {
		t.Errorf("requests %+v", reqs)
	}
	if n := len(srv.Events()); n != 3 {
		t.Errorf("%d events, want 3 (only the accepted request)", n)
	}
	srv.FailEvents(-1, http.StatusBadGateway, 0)
	for range 3 {
		if code, h := track(t, srv, `[]`, srv.Secret()); code != 502 || h.Get("Retry-After") != "" {
			t.Fatalf("status %d, Retry-After %q", code, h.Get("Retry-After"))
		}
	}
	srv.FailEvents(0, 0, 0)
	if code, _ := track(t, srv, `[]`, srv.Secret()); code != 200 {
		t.Fatalf("status %d after FailEvents(0)", code)
	}
}

func TestHoldEvents(t *testing.T) {
	srv := NewTestServer(t)
	srv.HoldEvents()
	hc := httpClient(t)
	done := make(chan int, 1)
	go func() {
		code, _, _ := trackRaw(context.Background(), hc, srv, insightBody, srv.Secret())
		done <- code
	}()
	ctx := testContext(t)
	if err := srv.WaitFor(ctx, func() bool { return srv.Stats().HeldEventRequests == 1 }); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		t.Fatalf("held request answered %d", code)
	default:
	}
	if n := len(srv.Events()); n != 0 {
		t.Fatalf("%d events while held", n)
	}
	srv.ReleaseEvents()
	if code := <-done; code != 200 {
		t.Fatalf("released request: %d", code)
	}
	if _, err := srv.WaitEvents(ctx, 3); err != nil {
		t.Fatal(err)
	}

	// A client that gives up while held.
	srv.HoldEvents()
	reqCtx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := trackRaw(reqCtx, hc, srv, `[]`, srv.Secret())
		errc <- err
	}()
	if err := srv.WaitFor(ctx, func() bool { return srv.Stats().HeldEventRequests == 1 }); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v", err)
	}
	if err := srv.WaitFor(ctx, func() bool { return len(srv.EventRequests()) == 2 }); err != nil {
		t.Fatal(err)
	}
	if r := srv.EventRequests()[1]; r.Status != 0 {
		t.Errorf("abandoned request status %d, want 0", r.Status)
	}
	srv.ReleaseEvents()
}

func TestHoldEventsUntilClose(t *testing.T) {
	srv := NewServer()
	srv.HoldEvents()
	hc := httpClient(t)
	done := make(chan int, 1)
	go func() {
		code, _, _ := trackRaw(context.Background(), hc, srv, `[]`, srv.Secret())
		done <- code
	}()
	if err := srv.WaitFor(testContext(t), func() bool { return srv.Stats().HeldEventRequests == 1 }); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if code := <-done; code != 503 {
		t.Errorf("held request answered %d at Close, want 503", code)
	}
}

func TestHoldDataSync(t *testing.T) {
	srv := NewTestServer(t)
	srv.SetFlags(Flag("a"))
	c := dial(t, srv)
	srv.HoldDataSync()
	send(t, c, `{"messageType":"data-sync","data":{"timestamp":0}}`)
	ctx := testContext(t)
	if _, err := srv.WaitDataSyncRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	expectPong(t, c) // pings are answered; the data-sync reply is not sent yet

	hc := httpClient(t)
	polled := make(chan int, 1)
	go func() {
		code, _, _ := pollRaw(hc, srv, "", srv.Secret())
		polled <- code
	}()
	if _, err := srv.WaitDataSyncRequests(ctx, 2); err != nil {
		t.Fatal(err)
	}
	srv.SetFlags(Flag("b")) // data as of the release is sent
	if ds := readDataSync(t, c); ds.EventType != "patch" {
		t.Fatalf("push while held = %s", ds.EventType)
	}
	srv.ReleaseDataSync()
	if ds := readDataSync(t, c); ds.EventType != "full" || len(ds.FeatureFlags) != 2 {
		t.Fatalf("released reply = %s with %d flags", ds.EventType, len(ds.FeatureFlags))
	}
	if code := <-polled; code != 200 {
		t.Errorf("held poll answered %d", code)
	}
	// No longer held.
	send(t, c, `{"messageType":"data-sync","data":{"timestamp":0}}`)
	if ds := readDataSync(t, c); ds.EventType != "full" {
		t.Fatalf("reply = %s", ds.EventType)
	}
}

func TestCloseWithOpenStreams(t *testing.T) {
	srv := NewServer()
	c := dial(t, srv)
	rejected, _, err := dialQuery(t, srv, StreamingPath, streamQuery(srv.Secret(), time.Now().Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	srv.HoldDataSync()
	hc := httpClient(t)
	polled := make(chan int, 1)
	go func() {
		code, _, _ := pollRaw(hc, srv, "", srv.Secret())
		polled <- code
	}()
	if _, err := srv.WaitDataSyncRequests(testContext(t), 1); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	srv.Close() // idempotent
	if code := <-polled; code != 503 {
		t.Errorf("held poll answered %d at Close, want 503", code)
	}
	if ce := readClose(t, c); ce.Code != websocket.CloseAbnormalClosure {
		t.Errorf("stream close %d, want 1006", ce.Code)
	}
	_ = rejected
	if n := srv.Connections(); n != 0 {
		t.Errorf("Connections = %d after Close", n)
	}
	// goleak in TestMain checks that no goroutine is left.
}
