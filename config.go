package fbclient

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SyncMode selects how the client receives flag data.
type SyncMode uint8

// Sync modes.
const (
	// SyncStreaming keeps a WebSocket open to FeatBit's /streaming endpoint and receives
	// changes as they are made. The default.
	SyncStreaming SyncMode = iota
	// SyncPolling asks FeatBit's latest-all endpoint for changes every PollInterval.
	SyncPolling
)

// String returns "streaming" or "polling".
func (m SyncMode) String() string {
	switch m {
	case SyncStreaming:
		return "streaming"
	case SyncPolling:
		return "polling"
	}
	return fmt.Sprintf("SyncMode(%d)", uint8(m))
}

// Defaults and limits of Config.
const (
	DefaultStartWait       = 5 * time.Second
	DefaultPollInterval    = 30 * time.Second
	MinPollInterval        = 5 * time.Second
	DefaultFlushInterval   = time.Second
	MinFlushInterval       = 10 * time.Millisecond
	DefaultEventCapacity   = 10000
	DefaultEventBatchSize  = 50
	DefaultEventBatchBytes = 1 << 20
	DefaultCloseTimeout    = 5 * time.Second
)

// Config configures a Client. The zero value of every field means its default, so a Config
// needs only what differs. New copies the Config; changing it afterwards has no effect.
type Config struct {
	// EnvSecret is the server-side secret of the FeatBit environment. Required unless
	// Offline. It is never logged or included in errors.
	EnvSecret string

	// StreamingURL is the base URL of the FeatBit evaluation server, ws:// or wss:// (http://
	// and https:// are accepted and converted). A path prefix is kept: the client connects to
	// <StreamingURL>/streaming. Required unless Offline.
	StreamingURL string

	// EventsURL is the base URL insight events are posted to (<EventsURL>/api/public/insight/track).
	// Default: StreamingURL with ws:// turned into http:// and wss:// into https://.
	EventsURL string

	// PollingURL is the base URL polled in SyncPolling mode
	// (<PollingURL>/api/public/sdk/server/latest-all). Default: like EventsURL.
	PollingURL string

	// SyncMode selects streaming (the default) or polling.
	SyncMode SyncMode

	// PollInterval is the time between polls in SyncPolling mode. Default 30 s, minimum 5 s.
	PollInterval time.Duration

	// StartWait is how long New waits for the first data set before it returns. New returns
	// the client either way; sync goes on in the background. Default 5 s; a negative value
	// means New does not wait at all.
	StartWait time.Duration

	// Offline makes the client use no network at all: no connection is opened and no event
	// is sent. Flags come from DataFile; without one the data set is empty.
	Offline bool

	// DataFile is the path of a JSON data set to load in Offline mode: FeatBit's data-sync
	// message, as returned by GET /api/public/sdk/server/latest-all, or a bare
	// {"featureFlags":[...],"segments":[...]}. A file that cannot be read or parsed is an
	// error from New.
	DataFile string

	// DisableEvents stops the client from sending insight events (evaluations and metrics)
	// to FeatBit. EventEvaluation listeners are still told.
	DisableEvents bool

	// FlushInterval is how often buffered insight events are sent. Default 1 s, minimum
	// 10 ms.
	FlushInterval time.Duration

	// EventCapacity is how many insight events may wait to be sent. When it is full, new
	// events are dropped and counted (Client.DroppedEvents, EventEventsDropped). Default 10000.
	EventCapacity int

	// EventBatchSize is the maximum number of events in one request. Default 50.
	EventBatchSize int

	// EventBatchBytes is the maximum body size of one request. Default 1 MiB.
	EventBatchBytes int

	// CloseTimeout bounds Close: the time it spends sending the events it still holds and
	// letting listeners finish. Default 5 s.
	CloseTimeout time.Duration

	// HTTPClient is used for polling and events. Default: a client with a 10 s timeout
	// and a transport of its own, cloned from http.DefaultTransport, that keeps an idle
	// connection for each concurrent events request.
	// The WebSocket dialer uses its Transport's proxy, dial function and TLS settings if it
	// is an *http.Transport.
	HTTPClient *http.Client

	// Listeners are registered before the client starts, so they see every event from the
	// first connection attempt on; a listener added with Client.On after New may miss the
	// first sync's events. Each entry is one listener, as with Client.OnEvents.
	Listeners []Listener

	// Logger receives the SDK's log records. Default: none (silent). The same records are
	// delivered to EventLog... listeners whether or not a Logger is set, except warnings
	// about listeners themselves (one panicked, or missed events), which go to Logger only.
	Logger *slog.Logger

	// Hooks run synchronously around every evaluation and after every Track and
	// TrackMetric call, in the order given (see Hook). Default: none. A Hook without
	// BeforeEvaluation, AfterEvaluation or AfterTrack is an error from New, and so are more
	// than 64 hooks.
	Hooks []Hook
}

// Listener is a callback for the given event types, for Config.Listeners.
type Listener struct {
	Events []EventType // the event types it receives, in the order the SDK emits them
	Func   func(Event) // called on the listener's own goroutine
}

// resolved is a validated Config with its defaults applied and its URLs built.
type resolved struct {
	Config
	streamingURL *url.URL // .../streaming, without query
	pollingURL   *url.URL // .../api/public/sdk/server/latest-all
	eventsURL    *url.URL // .../api/public/insight/track
	// ownTransport is the transport of the default HTTPClient; Close closes its idle
	// connections. Nil when the caller gave an HTTPClient.
	ownTransport *http.Transport
}

// defaultTransport is the transport of the default HTTPClient: http.DefaultTransport's
// settings, with an idle connection kept for each concurrent events request (the default
// keeps two) and a write buffer that holds the headers and body of a typical events
// request, so that it is written with one system call.
func defaultTransport(dt *http.Transport) *http.Transport {
	tr := dt.Clone()
	tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, senders+1)
	tr.WriteBufferSize = max(tr.WriteBufferSize, 64<<10)
	return tr
}

// Paths of FeatBit's endpoints, relative to a base URL.
const (
	streamingPath = "/streaming"
	pollingPath   = "/api/public/sdk/server/latest-all"
	eventsPath    = "/api/public/insight/track"
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// resolve validates c and applies the defaults.
func (c Config) resolve() (*resolved, error) {
	r := &resolved{Config: c}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, invalid(format, args...)) }

	if c.PollInterval < 0 || (c.PollInterval > 0 && c.PollInterval < MinPollInterval) {
		add("PollInterval %v is below the minimum of %v", c.PollInterval, MinPollInterval)
	}
	if c.FlushInterval < 0 || (c.FlushInterval > 0 && c.FlushInterval < MinFlushInterval) {
		add("FlushInterval %v is below the minimum of %v", c.FlushInterval, MinFlushInterval)
	}
	if c.EventCapacity < 0 {
		add("EventCapacity %d is negative", c.EventCapacity)
	}
	if c.EventBatchSize < 0 {
		add("EventBatchSize %d is negative", c.EventBatchSize)
	}
	if c.EventBatchBytes < 0 || (c.EventBatchBytes > 0 && c.EventBatchBytes < 1024) {
		add("EventBatchBytes %d is below the minimum of 1024", c.EventBatchBytes)
	}
	if c.CloseTimeout < 0 {
		add("CloseTimeout %v is negative", c.CloseTimeout)
	}
	if c.SyncMode != SyncStreaming && c.SyncMode != SyncPolling {
		add("SyncMode %d is unknown", c.SyncMode)
	}
	for i, l := range c.Listeners {
		if l.Func == nil || len(l.Events) == 0 {
			add("Listeners[%d] needs a Func and at least one event type", i)
		}
		for _, t := range l.Events {
			if t == 0 || t >= numEventTypes {
				add("Listeners[%d] has an unknown event type %d", i, t)
			}
		}
	}
	if len(c.Hooks) > maxHooks {
		add("Hooks has %d hooks; the most is %d", len(c.Hooks), maxHooks)
	}
	for i, h := range c.Hooks {
		if h.BeforeEvaluation == nil && h.AfterEvaluation == nil && h.AfterTrack == nil {
			add("Hooks[%d] %q has no BeforeEvaluation, AfterEvaluation or AfterTrack", i, h.Name)
		}
	}
	if c.DataFile != "" && !c.Offline {
		add("DataFile is only used in Offline mode; set Offline too")
	}

	if !c.Offline {
		if err := checkSecret(c.EnvSecret); err != nil {
			errs = append(errs, err)
		}
		base, err := parseBase("StreamingURL", c.StreamingURL, true)
		if err != nil {
			errs = append(errs, err)
		} else {
			r.streamingURL = join(base, streamingPath, map[string]string{"http": "ws", "https": "wss"})
			httpBase := join(base, "", map[string]string{"ws": "http", "wss": "https"})
			eb, pb := httpBase, httpBase
			if c.EventsURL != "" {
				if eb, err = parseBase("EventsURL", c.EventsURL, false); err != nil {
					errs = append(errs, err)
				}
			}
			if c.PollingURL != "" {
				if pb, err = parseBase("PollingURL", c.PollingURL, false); err != nil {
					errs = append(errs, err)
				}
			}
			if eb != nil {
				r.eventsURL = join(eb, eventsPath, nil)
			}
			if pb != nil {
				r.pollingURL = join(pb, pollingPath, nil)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	if r.PollInterval == 0 {
		r.PollInterval = DefaultPollInterval
	}
	if r.StartWait == 0 {
		r.StartWait = DefaultStartWait
	}
	if r.FlushInterval == 0 {
		r.FlushInterval = DefaultFlushInterval
	}
	if r.EventCapacity == 0 {
		r.EventCapacity = DefaultEventCapacity
	}
	if r.EventBatchSize == 0 {
		r.EventBatchSize = DefaultEventBatchSize
	}
	if r.EventBatchBytes == 0 {
		r.EventBatchBytes = DefaultEventBatchBytes
	}
	if r.CloseTimeout == 0 {
		r.CloseTimeout = DefaultCloseTimeout
	}
	if r.HTTPClient == nil {
		r.HTTPClient = &http.Client{Timeout: 10 * time.Second}
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			r.ownTransport = defaultTransport(dt)
			r.HTTPClient.Transport = r.ownTransport
		}
	}
	return r, nil
}

// checkSecret checks the shape of an env secret without ever putting it in the error.
func checkSecret(s string) error {
	if strings.TrimSpace(s) == "" {
		return invalid("EnvSecret is required unless Offline is set")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return invalid("EnvSecret contains a character that cannot be in a FeatBit secret (position %d)", i)
		}
	}
	return nil
}

// parseBase parses a base URL. ws schemes are allowed for the streaming URL only.
func parseBase(field, s string, ws bool) (*url.URL, error) {
	if strings.TrimSpace(s) == "" {
		return nil, invalid("%s is required unless Offline is set", field)
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, invalid("%s is not a valid URL: %v", field, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws", "wss":
		if !ws {
			return nil, invalid("%s must be an http:// or https:// URL, not %s://", field, u.Scheme)
		}
	default:
		return nil, invalid("%s must be an absolute ws://, wss://, http:// or https:// URL", field)
	}
	if u.Host == "" {
		return nil, invalid("%s has no host", field)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, invalid("%s must not have a query, fragment or user info", field)
	}
	return u, nil
}

// join appends path to base's path (trailing slashes removed) and maps its scheme.
func join(base *url.URL, path string, schemes map[string]string) *url.URL {
	u := *base
	if s, ok := schemes[u.Scheme]; ok {
		u.Scheme = s
	}
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	return &u
}
