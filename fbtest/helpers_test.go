package fbtest

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/featflags/fbclient/internal/token"
	"github.com/featflags/fbclient/internal/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait in these tests; nothing sleeps.
const waitTimeout = 5 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// streamQuery returns the query of a valid server-SDK connection made at now.
func streamQuery(secret string, now time.Time) url.Values {
	return url.Values{"type": {"server"}, "token": {token.Build(secret, now, rand.Float64())}}
}

// dialQuery opens a raw WebSocket to srv's /streaming with query q.
func dialQuery(t *testing.T, srv *Server, path string, q url.Values) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	u := srv.StreamingURL() + path + "?" + q.Encode()
	c, resp, err := d.Dial(u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// dial opens a validated stream and waits until the server has registered it.
func dial(t *testing.T, srv *Server) *websocket.Conn {
	t.Helper()
	before := srv.Stats().StreamsAccepted
	c, _, err := dialQuery(t, srv, StreamingPath, streamQuery(srv.Secret(), srv.now()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if err := srv.WaitFor(testContext(t), func() bool { return srv.Stats().StreamsAccepted > before }); err != nil {
		t.Fatalf("stream not accepted: %v", err)
	}
	return c
}

func send(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(waitTimeout))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// read returns the next text message.
func read(t *testing.T, c *websocket.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	typ, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("message type %d, want text", typ)
	}
	return b
}

// readDataSync reads the next message and decodes it as a data-sync message.
func readDataSync(t *testing.T, c *websocket.Conn) *wire.DataSync {
	t.Helper()
	b := read(t, c)
	typ, ds, err := wire.DecodeMessage(b)
	if err != nil || typ != wire.MessageDataSync {
		t.Fatalf("want a data-sync message, got %s (%v)", b, err)
	}
	return ds
}

// expectPong sends a ping and checks that the next message is the exact pong. Because the
// server answers in order, this also proves that nothing was sent before it.
func expectPong(t *testing.T, c *websocket.Conn) {
	t.Helper()
	send(t, c, `{"messageType":"ping","data":{}}`)
	if got := string(read(t, c)); got != `{"messageType":"pong","data":{}}` {
		t.Fatalf("want pong, got %s", got)
	}
}

// readClose reads until the connection ends and returns the close error.
func readClose(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read ended with %v, want a close", err)
		}
		return ce
	}
}

func keys(ds *wire.DataSync) (flags, segments []string) {
	flags, segments = []string{}, []string{}
	for _, f := range ds.FeatureFlags {
		flags = append(flags, f.Key)
	}
	for _, s := range ds.Segments {
		segments = append(segments, s.ID)
	}
	return flags, segments
}

// httpClient returns a client whose idle connections are closed when the test ends.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{DialContext: (&net.Dialer{}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitTimeout}
}

func do(t *testing.T, c *http.Client, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, b
}

// fixedClock returns a clock that stays at t; versions then grow by 1 ms per change.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
