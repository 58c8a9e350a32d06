package fbtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/featflags/fbclient/internal/token"
	"github.com/featflags/fbclient/internal/wire"
)

// pongMessage is the exact reply FeatBit sends to a ping.
const pongMessage = `{"messageType":"pong","data":{}}`

// stream is one validated streaming connection. The handler goroutine reads; one writer
// goroutine does every data write, fed by send, so messages keep their order.
type stream struct {
	s    *Server
	id   int
	ws   *websocket.Conn
	send chan outMsg
	quit chan struct{} // closed when the reader has stopped

	closeSent atomic.Bool // a close frame was sent (by us, or as the echo of the client's)

	held []int64 // data-sync timestamps waiting for ReleaseDataSync; guarded by s.mu
}

// outMsg is a text message to send, or a close frame when close is set.
type outMsg struct {
	data   []byte
	close  bool
	code   int
	reason string
}

// enqueue queues m without blocking. A stream whose client does not read fast enough to keep
// the queue from filling up is dropped.
func (st *stream) enqueue(m outMsg) {
	select {
	case st.send <- m:
	default:
		st.ws.Close()
	}
}

// pushLocked sends a data-sync patch to every stream. s.mu must be held.
func (s *Server) pushLocked(ds wire.DataSync) {
	if len(s.streams) == 0 {
		return
	}
	msg := dataSyncMessage(ds)
	for st := range s.streams {
		st.enqueue(outMsg{data: msg})
	}
}

func dataSyncMessage(ds wire.DataSync) []byte {
	b, err := json.Marshal(struct {
		MessageType string        `json:"messageType"`
		Data        wire.DataSync `json:"data"`
	}{wire.MessageDataSync, ds})
	if err != nil {
		panic("fbtest: encoding a data-sync message: " + err.Error()) // wire types always encode
	}
	return b
}

func (s *Server) dataSyncMessageLocked(ts int64) []byte {
	return dataSyncMessage(s.payloadLocked(ts))
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	s.stats.StreamAttempts++
	status := s.refuseStatus
	if status != 0 {
		s.stats.StreamsRefused++
	}
	s.changedLocked()
	s.mu.Unlock()

	if status != 0 {
		refuse(w, status)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	if !s.validStreamRequest(r) {
		s.reject(ws)
		return
	}
	st := &stream{s: s, ws: ws, send: make(chan outMsg, sendQueue), quit: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.stats.StreamsAccepted++
	st.id = s.stats.StreamsAccepted
	s.streams[st] = struct{}{}
	s.live[st] = struct{}{}
	s.changedLocked()
	s.mu.Unlock()
	st.run()
}

// validStreamRequest checks the query as FeatBit does: type, version, the token and its
// clock window, then that the secret is this environment's server secret.
func (s *Server) validStreamRequest(r *http.Request) bool {
	q := r.URL.Query()
	typ := q.Get("type")
	switch typ {
	case "server", "client", "relay-proxy":
	default:
		return false
	}
	switch q.Get("version") {
	case "", "1", "2":
	default:
		return false
	}
	tok := q.Get("token")
	if strings.TrimSpace(tok) == "" {
		return false
	}
	secret, ts, err := token.Parse(tok)
	if err != nil {
		return false
	}
	if _, err := token.EnvID(secret); err != nil {
		return false
	}
	now := s.now().UnixMilli()
	d := now - ts
	if ts > now {
		d = ts - now
	}
	if d > tokenWindow.Milliseconds() {
		return false
	}
	// The only secret this environment has is a server secret.
	return secret == s.secret && typ == "server"
}

// reject closes a freshly upgraded connection with 4003, as FeatBit does for an invalid
// request, and waits (bounded) for the client's side of the close handshake.
func (s *Server) reject(ws *websocket.Conn) {
	s.mu.Lock()
	s.stats.StreamsRejected++
	s.changedLocked()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.rejecting[ws] = struct{}{}
	s.mu.Unlock()

	msg := websocket.FormatCloseMessage(CloseInvalidRequest, closeInvalidReason)
	if err := ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait)); err == nil {
		ws.SetCloseHandler(func(int, string) error { return nil }) // we started the handshake
		_ = ws.SetReadDeadline(time.Now().Add(closeGrace))
		for {
			if _, _, err := ws.NextReader(); err != nil {
				break
			}
		}
	}
	s.mu.Lock()
	delete(s.rejecting, ws)
	s.mu.Unlock()
	ws.Close()
}

// run serves the stream until the connection ends, then unregisters it.
func (st *stream) run() {
	ws := st.ws
	ws.SetCloseHandler(func(code int, _ string) error {
		// Echo the client's close code, as FeatBit does, unless we sent a close first.
		if !st.closeSent.Swap(true) {
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(writeWait))
		}
		return nil
	})
	ws.SetPingHandler(func(data string) error {
		if st.s.pongsStopped() {
			return nil
		}
		_ = ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		return nil
	})

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		st.writeLoop()
	}()
	st.readLoop()

	st.s.mu.Lock()
	delete(st.s.streams, st)
	delete(st.s.live, st)
	st.s.changedLocked()
	st.s.mu.Unlock()
	ws.Close()
	close(st.quit)
	<-writerDone
}

func (st *stream) writeLoop() {
	for {
		select {
		case <-st.quit:
			return
		case m := <-st.send:
			if m.close {
				if st.closeSent.Swap(true) {
					continue
				}
				msg := websocket.FormatCloseMessage(m.code, m.reason)
				_ = st.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
				// The reader ends when the client answers; do not wait for ever.
				t := time.NewTimer(closeGrace)
				select {
				case <-t.C:
					st.ws.Close()
				case <-st.quit:
				}
				t.Stop()
				return
			}
			if st.closeSent.Load() {
				continue
			}
			_ = st.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := st.ws.WriteMessage(websocket.TextMessage, m.data); err != nil {
				st.ws.Close()
				return
			}
		}
	}
}

func (st *stream) readLoop() {
	for {
		_, r, err := st.ws.NextReader()
		if err != nil {
			return
		}
		data, err := io.ReadAll(io.LimitReader(r, maxClientMessage+1))
		if err != nil {
			return
		}
		if len(data) > maxClientMessage {
			// FeatBit gives up on messages this large without closing the connection.
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			continue
		}
		st.handle(data)
	}
}

// handle dispatches one client message the way FeatBit does: both messageType and data must
// be present, the type is matched case-insensitively, anything else is ignored.
func (st *stream) handle(msg []byte) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(msg, &root); err != nil || root == nil {
		return
	}
	rawType, ok := root["messageType"]
	if !ok {
		return
	}
	data, ok := root["data"]
	if !ok {
		return
	}
	var typ *string
	if err := json.Unmarshal(rawType, &typ); err != nil || typ == nil {
		return
	}
	s := st.s
	switch {
	case strings.EqualFold(*typ, wire.MessagePing):
		s.mu.Lock()
		s.stats.Pings++
		stopped := s.stopPongs
		s.changedLocked()
		s.mu.Unlock()
		if !stopped {
			st.enqueue(outMsg{data: []byte(pongMessage)})
		}
	case strings.EqualFold(*typ, wire.MessageEcho):
		var b bytes.Buffer
		b.WriteString(`{"messageType":"echo","data":`)
		if err := json.Compact(&b, data); err != nil {
			return
		}
		b.WriteString(`}`)
		st.enqueue(outMsg{data: b.Bytes()})
	case strings.EqualFold(*typ, wire.MessageDataSync):
		ts, ok := syncTimestamp(data)
		if !ok {
			return // FeatBit's handler fails: no reply, the connection stays open
		}
		s.mu.Lock()
		s.syncs = append(s.syncs, DataSyncRequest{Stream: st.id, Timestamp: ts, Time: s.now()})
		if s.syncGate != nil {
			st.held = append(st.held, ts)
		} else {
			st.enqueue(outMsg{data: s.dataSyncMessageLocked(ts)})
		}
		s.changedLocked()
		s.mu.Unlock()
	}
}

// syncTimestamp reads the timestamp of a data-sync request as FeatBit does: data must be an
// object; a missing timestamp, or a number that is not an integer literal, is 0; a string,
// null or any other value makes the request fail (ok false).
func syncTimestamp(data json.RawMessage) (ts int64, ok bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return 0, false
	}
	var raw json.RawMessage
	for k, v := range obj {
		if strings.EqualFold(k, "timestamp") {
			raw = v
		}
	}
	if raw == nil {
		return 0, true
	}
	lit := string(bytes.TrimSpace(raw))
	if lit == "" || (lit[0] != '-' && (lit[0] < '0' || lit[0] > '9')) {
		return 0, false
	}
	if strings.ContainsAny(lit, ".eE") {
		return 0, true
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		return 0, true
	}
	return n, true
}

func (s *Server) pongsStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopPongs
}

// DropConnections closes every open stream's TCP connection at once, without a close frame,
// as a network failure or a crashed server would. The streams are unregistered before it
// returns.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		st.ws.Close()
	}
	clear(s.streams)
	s.changedLocked()
}

// CloseStreams sends every open stream a close frame with code and reason (e.g. 1000, 1001,
// 1011, or 4003), after the messages already queued for it, then closes the connection when
// the client answers or after a short grace period. The streams are unregistered (no more
// pushes) before it returns. code must be a code that may be sent in a close frame.
func (s *Server) CloseStreams(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		st.enqueue(outMsg{close: true, code: code, reason: reason})
	}
	clear(s.streams)
	s.changedLocked()
}

// StopPongs makes the server stop (true) or resume (false) answering pings, both the
// application's ping messages and WebSocket ping frames, while keeping streams open and
// pushes flowing: a silent server, to exercise a client's liveness timeout. Pings are still
// counted in Stats.
func (s *Server) StopPongs(stop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopPongs = stop
}

// SendRaw sends msg as a text message, unchanged (it may be malformed), to every open stream.
func (s *Server) SendRaw(msg []byte) {
	m := outMsg{data: bytes.Clone(msg)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		st.enqueue(m)
	}
}
