package fbclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/featflags/fbclient/internal/backoff"
	"github.com/featflags/fbclient/internal/token"
	"github.com/featflags/fbclient/internal/wire"
)

// Streaming keeps one WebSocket open to FeatBit's /streaming endpoint. Each
// connection attempt gets a fresh token; once connected the client asks for the changes since
// the data it holds (everything the first time) and then applies what the server pushes. A
// connection that fails in any way that can pass is replaced after a backoff, for ever; only
// close code 4003 (credentials rejected) and Close stop it.
//
// Per connection there is one reader goroutine, which decodes and commits every message as
// it arrives, and one writer: the goroutine running serve, which sends the data-sync request
// and the pings and watches the timers. Every read and every write has a deadline.

// Timings and limits of both synchronizers.
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
	// defaultReadLimit is the largest message or polling response accepted. A full data set
	// arrives as one message, so the limit is generous: an environment's flags and segments
	// would have to reach 64 MiB of JSON to hit it.
	defaultReadLimit = 64 << 20
	// defaultMaxRetryAfter caps the wait a server can ask for with Retry-After.
	defaultMaxRetryAfter = 5 * time.Minute
	// defaultPollTimeout bounds one polling request when Config.HTTPClient has no timeout
	// of its own, so that a hung request cannot stop polling.
	defaultPollTimeout = time.Minute
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

// syncTimings are the timings and limits of a synchronizer. Production code uses the
// defaults; this package's tests shorten them (see newClient).
type syncTimings struct {
	pingInterval     time.Duration // between two pings
	deadAfter        time.Duration // a connection without any message for this long is dead
	syncTimeout      time.Duration // wait for the reply to a data-sync request
	writeWait        time.Duration // deadline of a write
	handshakeTimeout time.Duration // WebSocket dial and upgrade
	pollInterval     time.Duration // between two successful polls
	pollTimeout      time.Duration // one polling request
	backoffFirst     time.Duration // first delay after a failure
	backoffMax       time.Duration // longest delay
	backoffReset     time.Duration // a connection healthy this long resets the backoff
	maxRetryAfter    time.Duration // cap of a server's Retry-After
	readLimit        int64         // largest message or response body

	rand  func() float64
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) bool // waits d; false if ctx ended first

	// idle runs no sync at all, for tests that feed commit themselves.
	idle bool
}

func (c *Client) syncTimings() syncTimings {
	t := syncTimings{
		pingInterval:     defaultPingInterval,
		deadAfter:        deadPings * defaultPingInterval,
		syncTimeout:      defaultSyncTimeout,
		writeWait:        defaultWriteWait,
		handshakeTimeout: defaultHandshakeTimeout,
		pollInterval:     c.cfg.PollInterval,
		pollTimeout:      defaultPollTimeout,
		backoffFirst:     backoff.DefaultFirst,
		backoffMax:       backoff.DefaultMax,
		backoffReset:     backoff.DefaultResetAfter,
		maxRetryAfter:    defaultMaxRetryAfter,
		readLimit:        defaultReadLimit,
		rand:             rand.Float64,
		now:              time.Now,
		sleep:            sleep,
	}
	if c.tune != nil {
		c.tune(&t)
	}
	return t
}

// sleep waits d, or less if ctx ends first, and reports whether it waited the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

const (
	modeStreaming = "streaming"
	modePolling   = "polling"
)

// streaming is the WebSocket synchronizer.
type streaming struct {
	c       *Client
	t       syncTimings
	dialer  *websocket.Dialer
	backoff *backoff.Backoff

	failures int // consecutive failed connections; used by the run goroutine only
}

// idleSync is the synchronizer of a client whose test feeds commit itself.
type idleSync struct{}

func (idleSync) run(ctx context.Context) { <-ctx.Done() }

func (c *Client) newStreaming() synchronizer {
	t := c.syncTimings()
	if t.idle {
		return idleSync{}
	}
	return &streaming{
		c:       c,
		t:       t,
		dialer:  newDialer(c.cfg.HTTPClient, t.handshakeTimeout),
		backoff: backoff.New(t.backoffFirst, t.backoffMax, t.backoffReset, t.rand),
	}
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

func (s *streaming) run(ctx context.Context) {
	for {
		o := s.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		f := Fetch{Mode: modeStreaming, Timestamp: s.c.dataVersion()}
		s.c.fetchFailed(o.err, f)
		if o.permanent {
			s.c.failPermanently(o.err)
			return
		}
		s.failures++
		delay := max(s.backoff.Next(), o.retryAfter)
		msg := "fbclient: streaming connection failed; retrying"
		if o.synced {
			msg = "fbclient: streaming connection lost; reconnecting"
		}
		s.c.log.Warn(msg, "error", o.err, "retryIn", delay.Round(time.Millisecond), "failures", s.failures)
		if !s.t.sleep(ctx, delay) {
			return
		}
	}
}

// connect makes one connection attempt and serves the connection until it ends.
func (s *streaming) connect(ctx context.Context) outcome {
	cfg := s.c.cfg
	tok := token.Build(cfg.EnvSecret, s.t.now(), s.t.rand())
	u := *cfg.streamingURL
	u.RawQuery = url.Values{"token": {tok}, "type": {"server"}, "version": {streamingVersion}}.Encode()
	red := &redactor{secret: cfg.EnvSecret, token: tok, url: u.String(), safeURL: cfg.streamingURL.String()}

	conn, resp, err := dial(ctx, s.dialer, u.String(), http.Header{"User-Agent": {userAgent}})
	if err != nil {
		if ctx.Err() != nil {
			return outcome{}
		}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return outcome{
				err:        fmt.Errorf("fbclient: streaming: the server refused the WebSocket upgrade with HTTP %d", resp.StatusCode),
				retryAfter: backoff.RetryAfter(resp.Header, s.t.now(), s.t.maxRetryAfter),
			}
		}
		return outcome{err: red.errorf("fbclient: streaming: cannot connect", err)}
	}
	s.c.log.Debug("fbclient: streaming connected", "url", red.safeURL)
	o := s.serve(ctx, conn, red)
	s.backoff.Disconnected(s.t.now())
	return o
}

// serve runs one connection: it starts the reader, asks for data, pings, and watches for
// silence, a missing data-sync reply and Close. It returns once the reader has stopped.
func (s *streaming) serve(ctx context.Context, conn *websocket.Conn, red *redactor) outcome {
	conn.SetReadLimit(s.t.readLimit)
	ts := s.c.dataVersion()
	synced := make(chan struct{}, 1)
	readDone := make(chan error, 1)
	var receiving atomic.Bool
	go func() { readDone <- s.read(conn, ts == 0, synced, &receiving) }()

	s.c.fetchStarted(Fetch{Mode: modeStreaming, Timestamp: ts})
	var wasSynced bool
	markSynced := func() {
		if !wasSynced {
			wasSynced = true
			s.backoff.Connected(s.t.now())
			if s.failures > 0 {
				s.c.log.Info("fbclient: streaming sync restored", "failures", s.failures)
				s.failures = 0
			}
		}
	}
	// ended completes an outcome once the reader has stopped: data it delivered last
	// still counts.
	ended := func(o outcome) outcome {
		select {
		case <-synced:
			markSynced()
		default:
		}
		o.synced = wasSynced
		return o
	}
	if err := s.write(conn, dataSyncRequest(ts)); err != nil {
		return ended(s.writeFailed(conn, readDone, red, err))
	}
	syncTimer := time.NewTimer(s.t.syncTimeout)
	defer syncTimer.Stop()
	ping := time.NewTicker(s.t.pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			s.finish(conn, readDone, websocket.CloseNormalClosure, "client closed")
			return outcome{}
		case err := <-readDone:
			return ended(s.readFailed(conn, red, err))
		case <-synced:
			markSynced()
			syncTimer.Stop()
		case <-syncTimer.C:
			if receiving.Load() {
				// A message is still arriving, slowly but surely (the reader's deadline
				// bounds the silence): a large data set on a slow link.
				syncTimer.Reset(s.t.syncTimeout)
				continue
			}
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
func (s *streaming) write(conn *websocket.Conn, msg []byte) error {
	if err := conn.SetWriteDeadline(time.Now().Add(s.t.writeWait)); err != nil {
		return err
	}
	return conn.WriteMessage(websocket.TextMessage, msg)
}

// finish sends a close frame (best effort), closes the socket and waits for the reader.
func (s *streaming) finish(conn *websocket.Conn, readDone <-chan error, code int, reason string) error {
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeWait))
	conn.Close()
	return <-readDone
}

// writeFailed ends a connection after a failed write. The reader usually knows better why
// the connection broke (a close frame from the server, 4003 included), so its error is
// preferred if it comes soon.
func (s *streaming) writeFailed(conn *websocket.Conn, readDone <-chan error, red *redactor, werr error) outcome {
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
func (s *streaming) readFailed(conn *websocket.Conn, red *redactor, err error) outcome {
	defer conn.Close()
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce) && ce.Code == closeInvalidRequest:
		return outcome{permanent: true, err: fmt.Errorf("%w: FeatBit rejected the streaming connection (close code 4003): "+
			"the env secret is wrong or not a server-side secret, or this machine's clock is more than 30 s off the server's", ErrInitializationFailed)}
	case errors.As(err, &ce):
		return outcome{err: fmt.Errorf("fbclient: streaming: the server closed the connection (%s)", red.redact(closeText(ce)))}
	case errors.Is(err, websocket.ErrReadLimit):
		s.c.log.Error("fbclient: streaming: a message exceeds the read limit; the connection is dropped", "limit", s.t.readLimit)
		return outcome{err: fmt.Errorf("fbclient: streaming: a message exceeds the read limit of %d bytes", s.t.readLimit)}
	case errors.As(err, &ne) && ne.Timeout():
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
// everything: then only a full data set answers it.
func (s *streaming) read(conn *websocket.Conn, wantFull bool, synced chan<- struct{}, receiving *atomic.Bool) error {
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
			s.c.log.Warn("fbclient: skipped a binary streaming message", "bytes", len(msg))
			continue
		}
		if s.handle(msg, wantFull) {
			select {
			case synced <- struct{}{}:
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
// that cannot be decoded is logged and skipped: the data and the connection stay.
func (s *streaming) handle(msg []byte, wantFull bool) bool {
	typ, ds, err := wire.DecodeMessage(msg)
	if err != nil {
		s.c.log.Warn("fbclient: skipped a malformed streaming message", "error", err, "start", preview(msg))
		return false
	}
	switch typ {
	case wire.MessageDataSync:
		res := s.c.commit(ds, Fetch{Mode: modeStreaming, Timestamp: s.c.dataVersion()})
		return res.full || !wantFull
	case wire.MessagePong, wire.MessageEcho:
	default:
		s.c.log.Warn("fbclient: skipped a streaming message of an unknown type", "messageType", preview([]byte(typ)))
	}
	return false
}

// preview returns the start of a message for a log record.
func preview(b []byte) string {
	const n = 64
	if len(b) > n {
		b = b[:n]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
		return strings.ToValidUTF8(string(b), "?") + "..."
	}
	return strings.ToValidUTF8(string(b), "?")
}

// redactor removes the secret, the token and the URL carrying it from error texts: network
// and WebSocket errors may quote the URL they were dialing.
type redactor struct {
	secret, token string
	url, safeURL  string
}

func (r *redactor) redact(s string) string {
	if r.url != "" {
		s = strings.ReplaceAll(s, r.url, r.safeURL)
	}
	if r.token != "" {
		s = strings.ReplaceAll(s, r.token, "[token]")
	}
	if r.secret != "" {
		s = strings.ReplaceAll(s, r.secret, "[secret]")
	}
	// Any query naming a token that is still there (e.g. in another encoding) goes too.
	for {
		i := strings.Index(s, "token=")
		if i < 0 {
			return s
		}
		j := i + strings.IndexAny(s[i:], "&\"' )\n")
		if j < i {
			j = len(s)
		}
		s = s[:i] + s[j:]
	}
}

// errorf returns a new error "prefix: <err redacted>". It does not wrap err, whose text may
// hold the token, except for context errors, which carry nothing.
func (r *redactor) errorf(prefix string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: timed out: %w", prefix, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", prefix, context.Canceled)
	}
	return fmt.Errorf("%s: %s", prefix, r.redact(err.Error()))
}
