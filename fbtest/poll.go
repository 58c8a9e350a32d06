package fbtest

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/featflags/fbclient/internal/wire"
)

// servePoll answers GET latest-all: 401 without the secret, 400 for a non-numeric timestamp,
// else the data-sync envelope, or an empty body for an empty patch.
func (s *Server) servePoll(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	s.stats.PollRequests++
	status := s.refuseStatus
	s.changedLocked()
	s.mu.Unlock()
	if status != 0 {
		refuse(w, status)
		return
	}
	if !s.authorized(r) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ts int64
	if v := strings.TrimSpace(r.URL.Query().Get("timestamp")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			http.Error(w, `{"errors":{"timestamp":["The value is not valid."]}}`, http.StatusBadRequest)
			return
		}
		ts = n
	}

	s.mu.Lock()
	s.syncs = append(s.syncs, DataSyncRequest{Polling: true, Timestamp: ts, Time: s.now()})
	gate, closing := s.syncGate, s.closing
	s.changedLocked()
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		case <-closing:
			http.Error(w, "server closed", http.StatusServiceUnavailable)
			return
		}
	}

	s.mu.Lock()
	ds := s.payloadLocked(ts)
	s.mu.Unlock()
	if ds.EventType == wire.EventPatch && len(ds.FeatureFlags) == 0 && len(ds.Segments) == 0 {
		w.WriteHeader(http.StatusOK) // nothing changed: FeatBit sends no body at all
		return
	}
	body := dataSyncMessage(ds)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}
