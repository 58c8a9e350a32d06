package fbclient

import (
	"encoding/json"
	"net/http"
	"time"
)

// HealthOptions configures Client.HealthHandler. The zero value is the defaults.
type HealthOptions struct {
	// MaxStaleAge is how long the client may be Stale (serving the data it has while it
	// cannot reach FeatBit) and still be reported ready; after that the handler answers 503.
	// The age is DataStats.Age: the time since the client stopped being Ready, or, for a
	// data set loaded from Config.Cache, since it was saved.
	// Default 0: no limit, Stale is ready, as the data the client holds stays good while
	// FeatBit is away, and taking every replica of a service out of its load balancer
	// because FeatBit is unreachable would turn a FeatBit outage into an outage of the
	// service. A negative value reports Stale as not ready at once.
	MaxStaleAge time.Duration
}

// Health is the JSON body of the health handler's answers.
type Health struct {
	// Ready is true when the handler answers 200.
	Ready bool `json:"ready"`
	// State is the client's state, such as "ready" or "stale" (State.String).
	State string `json:"state"`
	// Since is when the state last changed, in RFC 3339 format.
	Since time.Time `json:"since"`
	// DataAgeSeconds is DataStats.Age in seconds; omitted when 0.
	DataAgeSeconds float64 `json:"dataAgeSeconds,omitempty"`
	// LastSync is when data was last received (DataStats.LastSync); omitted before any.
	LastSync *time.Time `json:"lastSync,omitempty"`
	// Error is the text of the last sync error since the client was last ready (Status.Err),
	// without the env secret; omitted when there is none.
	Error string `json:"error,omitempty"`
}

// HealthHandler returns an http.Handler answering readiness probes from the client's state:
// 200 while the client is Ready, or Stale for at most opts.MaxStaleAge; 503 before the first
// data set (NotReady), when sync stopped for good (Failed: FeatBit rejected the credentials,
// or a Config.DataSource stopped) and after Close. The body is a small JSON document
// (Health) with the state, how old the data may be and the last sync error, which never
// contains the env secret or the streaming token. It answers GET and HEAD, 405 to other
// methods, and is cheap enough for a probe every second: it reads the status and two
// counters, nothing more.
//
//	mux.Handle("GET /healthz/ready", client.HealthHandler(fbclient.HealthOptions{}))
//
// Keep it on an internal port or path: the error text describes the connection to FeatBit.
func (c *Client) HealthHandler(opts HealthOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := c.health(opts, time.Now())
		code := http.StatusServiceUnavailable
		if h.Ready {
			code = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		if r.Method == http.MethodGet {
			_ = json.NewEncoder(w).Encode(h)
		}
	})
}

// health is the handler's answer at now.
func (c *Client) health(opts HealthOptions, now time.Time) Health {
	st := c.Status()
	h := Health{State: st.State.String(), Since: st.Since}
	if st.Err != nil {
		h.Error = c.redact(st.Err.Error())
	}
	if c == nil {
		return h
	}
	if t := c.syncs.last.Load(); t != 0 {
		last := time.Unix(0, t)
		h.LastSync = &last
	}
	var age time.Duration
	if c.store.load() != nil {
		age = dataAge(st, now)
		h.DataAgeSeconds = age.Seconds()
	}
	switch st.State {
	case StateReady:
		h.Ready = true
	case StateStale:
		h.Ready = opts.MaxStaleAge == 0 || (opts.MaxStaleAge > 0 && age <= opts.MaxStaleAge)
	}
	return h
}

// redact removes the env secret, and any token query, from s. The built-in sources' errors
// never hold them; a Config.DataSource's might.
func (c *Client) redact(s string) string {
	if c == nil {
		return s
	}
	r := redactor{secret: c.cfg.EnvSecret}
	return r.redact(s)
}
