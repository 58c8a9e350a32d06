package fbclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/featflags/fbclient/internal/backoff"
	"github.com/featflags/fbclient/internal/token"
	"github.com/featflags/fbclient/internal/wire"
)

// Streaming keeps one WebSocket open to FeatBit's /streaming endpoint. Each
// connection attempt gets a fresh token; once connected the client asks for the changes since
// the data it holds (everything the first time) and then applies what the server pushes. A
// connection that fails in any way that can pass is replaced after a backoff, for ever; only
// close code 4003 (credentials rejected) and Close stop it (see the failure policy in
// sync.go). It reports everything through the DataSink it runs with.
//
// Per connection there is one reader goroutine, which decodes and commits every message as
// it arrives, and one writer: the goroutine running serve, which sends the data-sync request
// and the pings and watches the timers. Every read and every write has a deadline.

// Timings of the streaming source.
const (
	// defaultPingInterval is how often the client pings, as FeatBit's SDKs do.
	defaultPingInterval = 10 * time.Second
	// deadPings is how many ping intervals without any message make a connection dead.
	deadPings = 3
	// defaultSyncTimeout bounds the wait for the reply to a data-sync request: FeatBit sends
	// nothing at all when it fails to build one.
	defaultSyncTimeout = 15 * time.Second
	// defaultWriteWait is the deadline of every write on the WebSocket.
	defaultWriteWait = 10 * time.Second
	// defaultHandshakeTimeout bounds the TCP, TLS and HTTP upgrade handshakes.
	defaultHandshakeTimeout = 10 * time.Second
	// closeWait is the deadline of a close frame, and how long a failed write waits for the
	// reader to report why the connection ended.
	closeWait = time.Second
)

// FeatBit close codes.
const (
	closeInvalidRequest = 4003
)

// streamingVersion is sent as the version query parameter. FeatBit's evaluation server and
// relay agent accept "", "1" and "2" (an absent version counts as 1) and only use it as a
// log tag today; the client names the current protocol explicitly.
const streamingVersion = "2"

// Static messages the client sends.
var pingMessage = []byte(`{"messageType":"ping","data":{"timestamp":0}}`)

func dataSyncRequest(ts int64) []byte {
	b := make([]byte, 0, 64)
	b = append(b, `{"messageType":"data-sync","data":{"timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	return append(b, "}}"...)
}

// streamingSource is the WebSocket data source. It knows the client only through the
// DataSink its Run is given.
type streamingSource struct {
	url    *url.URL          // <StreamingURL>/streaming, without a query
	secret string            // the env secret, from which each connection's token is built
	dialer *websocket.Dialer // see newDialer
	t      syncTimings
}

// Run connects, serves the connection and reconnects after failures until ctx ends or
// FeatBit rejects the credentials.
func (src *streamingSource) Run(ctx context.Context, sink DataSink) {
	s := &streamer{streamingSource: src, sink: sink, log: sink.Logger(), backoff: src.t.newBackoff()}
	s.run(ctx)
}

// streamer is one run of the streaming source.
type streamer struct {
	*streamingSource
	sink DataSink
	log  *slog.Logger

	// Used by the run goroutine only.
	backoff  *backoff.Backoff
	failures int // consecutive failed connections
}

// newDialer returns the client's own WebSocket dialer. It uses the proxy, dial function and
// TLS settings of the HTTP client's transport when that is an *http.Transport (the default
// transport when none is set), so one proxy configuration serves polling, events and
// streaming.
func newDialer(hc *http.Client, handshake time.Duration) *websocket.Dialer {
	d := &websocket.Dialer{HandshakeTimeout: handshake, Proxy: http.ProxyFromEnvironment}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if tr, ok := rt.(*http.Transport); ok {
		d.Proxy = tr.Proxy
		d.NetDialContext = tr.DialContext
		if tr.TLSClientConfig != nil {
			cfg := tr.TLSClientConfig.Clone()
			cfg.NextProtos = nil // the upgrade is HTTP/1.1; an h2 entry would break it
			d.TLSClientConfig = cfg
		}
	}
	return d
}

// dial opens a WebSocket connection. gorilla/websocket bounds the upgrade exchange only by
// the dialer's handshake timeout, so dial closes the network connection when ctx ends: Close
// does not wait for a server that accepts the connection and never answers.
func dial(ctx context.Context, d *websocket.Dialer, url string, h http.Header) (*websocket.Conn, *http.Response, error) {
	var mu sync.Mutex
	var raw net.Conn
	netDial := d.NetDialContext
	if netDial == nil {
		netDial = (&net.Dialer{}).DialContext
	}
	dd := *d
	dd.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := netDial(ctx, network, addr)
		mu.Lock()
		raw = c
		mu.Unlock()
		return c, err
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if raw != nil {
			raw.Close()
		}
	})
	defer stop()
	return dd.DialContext(ctx, url, h)
}

// outcome is how a connection attempt ended. err never contains the secret or the token.
type outcome struct {
	err        error         // why the connection ended; nil if ctx ended
	permanent  bool          // the server rejected the credentials: stop for good
	retryAfter time.Duration // the server asked to wait this long
	synced     bool          // the connection delivered data before it ended
}

func (s *streamer) run(ctx context.Context) {
	for {
		o := s.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if o.permanent { // policy F3
			s.sink.Stop(o.err)
			return
		}
		s.sink.Failed(o.err, Fetch{Timestamp: s.sink.Version()})
		s.failures++
		delay := max(s.backoff.Next(), o.retryAfter)
		msg := "fbclient: streaming connection failed; retrying"
		if o.synced {
			msg = "fbclient: streaming connection lost; reconnecting"
		}
		s.log.Warn(msg, "error", o.err, "retryIn", delay.Round(time.Millisecond), "failures", s.failures)
		if !s.t.sleep(ctx, delay) {
			return
		}
	}
}

// connect makes one connection attempt and serves the connection until it ends.
func (s *streamer) connect(ctx context.Context) outcome {
	tok := token.Build(s.secret, s.t.now(), s.t.rand())
	u := *s.url
	u.RawQuery = url.Values{"token": {tok}, "type": {"server"}, "version": {streamingVersion}}.Encode()
	red := &redactor{secret: s.secret, token: tok, url: u.String(), safeURL: s.url.String()}

	conn, resp, err := dial(ctx, s.dialer, u.String(), http.Header{"User-Agent": {userAgent}})
	if err != nil {
		if ctx.Err() != nil {
			return outcome{}
		}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols { // policy F2
			return outcome{
				err:        withKind(syncStatus, fmt.Errorf("fbclient: streaming: the server refused the WebSocket upgrade with HTTP %d", resp.StatusCode)),
				retryAfter: backoff.RetryAfter(resp.Header, s.t.now(), backoff.MaxRetryAfter),
			}
		}
		return outcome{err: withKind(syncNetwork, red.errorf("fbclient: streaming: cannot connect", err))} // policy F1
	}
	s.log.Debug("fbclient: streaming connected", "url", red.safeURL)
	o := s.serve(ctx, conn, red)
	switch {
	case o.err == nil:
	case o.permanent:
		o.err = withKind(syncRejected, o.err)
	default:
		o.err = withKind(syncLost, o.err)
	}
	s.backoff.Disconnected(s.t.now()) // policy F4: a healthy connection starts the backoff again
	return o
}

// serve runs one connection: it starts the reader, asks for data, pings, and watches for
// silence, a missing data-sync reply and Close. It returns once the reader has stopped.
func (s *streamer) serve(ctx context.Context, conn *websocket.Conn, red *redactor) outcome {
	conn.SetReadLimit(s.t.readLimit)
	ts := s.sink.Version()
	synced := make(chan time.Time, 1) // when the reply was received
	readDone := make(chan error, 1)
	var receiving atomic.Bool
	go func() { readDone <- s.read(conn, ts == 0, synced, &receiving) }()

	s.sink.Started(Fetch{Timestamp: ts})
	var wasSynced bool
	markSynced := func(at time.Time) {
		if !wasSynced {
			wasSynced = true
			s.backoff.Connected(at)
			if s.failures > 0 {
				s.log.Info("fbclient: streaming sync restored", "failures", s.failures)
				s.failures = 0
			}
		}
	}
	// ended completes an outcome once the reader has stopped: data it delivered last
	// still counts.
	ended := func(o outcome) outcome {
		select {
		case at := <-synced:
			markSynced(at)
		default:
		}
		o.synced = wasSynced
		return o
	}
	if err := s.write(conn, dataSyncRequest(ts)); err != nil {
		return ended(s.writeFailed(conn, readDone, red, err))
	}
	syncTimer := s.t.after(s.t.syncTimeout)
	ping := time.NewTicker(s.t.pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			s.finish(conn, readDone, websocket.CloseNormalClosure, "client closed")
			return outcome{}
		case err := <-readDone: // policy F4, F5, F7
			return ended(s.readFailed(conn, red, err))
		case at := <-synced:
			markSynced(at)
			syncTimer = nil
		case <-syncTimer:
			if receiving.Load() {
				// A message is still arriving, slowly but surely (the reader's deadline
				// bounds the silence): a large data set on a slow link.
				syncTimer = s.t.after(s.t.syncTimeout)
				continue
			}
			// policy F6
			s.finish(conn, readDone, websocket.CloseGoingAway, "data-sync timeout")
			return ended(outcome{err: fmt.Errorf("fbclient: streaming: no reply to the data-sync request within %v", s.t.syncTimeout)})
		case <-ping.C:
			if err := s.write(conn, pingMessage); err != nil {
				return ended(s.writeFailed(conn, readDone, red, err))
			}
		}
	}
}

// write sends one text message with a deadline. Only serve's goroutine writes data frames.
func (s *streamer) write(conn *websocket.Conn, msg []byte) error {
	if err := conn.SetWriteDeadline(time.Now().Add(s.t.writeWait)); err != nil {
		return err
	}
	return conn.WriteMessage(websocket.TextMessage, msg)
}

// finish sends a close frame (best effort), closes the socket and waits for the reader.
// The reader's error is the close's own doing and is not needed.
func (s *streamer) finish(conn *websocket.Conn, readDone <-chan error, code int, reason string) {
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeWait))
	conn.Close()
	<-readDone
}

// writeFailed ends a connection after a failed write (policy F4). The reader usually knows better why
// the connection broke (a close frame from the server, 4003 included), so its error is
// preferred if it comes soon.
func (s *streamer) writeFailed(conn *websocket.Conn, readDone <-chan error, red *redactor, werr error) outcome {
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case err := <-readDone:
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return s.readFailed(conn, red, err)
		}
	case <-t.C:
		conn.Close()
		<-readDone
	}
	conn.Close()
	return outcome{err: red.errorf("fbclient: streaming: write failed", werr)}
}

// readFailed classifies the reader's error; the reader has stopped.
func (s *streamer) readFailed(conn *websocket.Conn, red *redactor, err error) outcome {
	defer conn.Close()
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce) && ce.Code == closeInvalidRequest: // policy F3
		return outcome{permanent: true, err: fmt.Errorf("%w: FeatBit rejected the streaming connection (close code 4003): "+
			"the env secret is wrong or not a server-side secret, or this machine's clock is more than 30 s off the server's", ErrInitializationFailed)}
	case errors.As(err, &ce):
		return outcome{err: fmt.Errorf("fbclient: streaming: the server closed the connection (%s)", red.redact(closeText(ce)))}
	case errors.Is(err, websocket.ErrReadLimit):
		s.log.Error("fbclient: streaming: a message exceeds the read limit; the connection is dropped", "limit", s.t.readLimit) // policy F7
		return outcome{err: fmt.Errorf("fbclient: streaming: a message exceeds the read limit of %d bytes", s.t.readLimit)}
	case errors.As(err, &ne) && ne.Timeout(): // policy F5
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "no message"), time.Now().Add(closeWait))
		return outcome{err: fmt.Errorf("fbclient: streaming: no message from the server for %v", s.t.deadAfter)}
	}
	return outcome{err: red.errorf("fbclient: streaming: connection lost", err)}
}

func closeText(ce *websocket.CloseError) string {
	if ce.Text == "" {
		return "code " + strconv.Itoa(ce.Code)
	}
	return "code " + strconv.Itoa(ce.Code) + ": " + ce.Text
}

// read is the connection's reader: it applies every message as it arrives and keeps the read
// deadline one liveness bound ahead of the last sign of life, every chunk of a message
// included, so a large message on a slow link is not taken for silence; receiving is set
// while a message is arriving and being applied. wantFull is set when the data-sync request asked for
// everything: then only a full data set answers it, and synced is told when it came.
func (s *streamer) read(conn *websocket.Conn, wantFull bool, synced chan<- time.Time, receiving *atomic.Bool) error {
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(s.t.deadAfter)) }
	alive()
	conn.SetPongHandler(func(string) error { alive(); return nil })
	conn.SetPingHandler(func(data string) error {
		alive()
		_ = conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(s.t.writeWait))
		return nil
	})
	for {
		typ, r, err := conn.NextReader()
		if err != nil {
			return err
		}
		receiving.Store(true)
		msg, err := io.ReadAll(progressReader{r, alive})
		if err != nil {
			return err
		}
		alive()
		if typ != websocket.TextMessage {
			receiving.Store(false)
			s.log.Warn("fbclient: skipped a binary streaming message", "bytes", len(msg)) // policy F8
			continue
		}
		at := s.t.now() // before the data is applied, so that whoever sees it sees a later time
		if s.handle(msg, wantFull) {
			select {
			case synced <- at:
			default:
			}
		}
		receiving.Store(false)
	}
}

// progressReader calls alive after every read that returned data.
type progressReader struct {
	r     io.Reader
	alive func()
}

func (p progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.alive()
	}
	return n, err
}

// handle applies one message and reports whether it answers the data-sync request. A message
// that cannot be decoded is logged and skipped: the data and the connection stay (policy F8).
func (s *streamer) handle(msg []byte, wantFull bool) bool {
	typ, ds, err := wire.DecodeMessage(msg)
	if err != nil {
		s.log.Warn("fbclient: skipped a malformed streaming message", "error", err, "start", preview(msg))
		return false
	}
	switch typ {
	case wire.MessageDataSync:
		d := &DataSet{ds: ds}
		s.sink.Apply(d, Fetch{Timestamp: s.sink.Version()})
		return d.Full() || !wantFull
	case wire.MessagePong, wire.MessageEcho:
	default:
		s.log.Warn("fbclient: skipped a streaming message of an unknown type", "messageType", preview([]byte(typ)))
	}
	return false
}
