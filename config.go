package fbclient

import (
	"errors"
	"fmt"
	"io/fs"
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
	// SyncCustom: the data comes from Config.DataSource. Fetch.Mode reports it for such a
	// source, and for the reloads of Config.ReloadDataFile; Config.SyncMode may be left at its
	// zero value or set to SyncCustom when Config.DataSource is set.
	SyncCustom
)

// String returns "streaming", "polling" or "custom".
func (m SyncMode) String() string {
	switch m {
	case SyncStreaming:
		return "streaming"
	case SyncPolling:
		return "polling"
	case SyncCustom:
		return "custom"
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
	// Offline, or DataSource is set with DisableEvents. It is never logged or included in
	// errors.
	EnvSecret string

	// StreamingURL is the base URL of the FeatBit evaluation server, ws:// or wss:// (http://
	// and https:// are accepted and converted). A path prefix is kept: the client connects to
	// <StreamingURL>/streaming. Required unless Offline; with DataSource it only serves to
	// derive EventsURL, so it may be left empty when EventsURL is set or DisableEvents is.
	//
	// The three URLs are base URLs: New rejects one with a query, a fragment, user info, a
	// scheme other than these, or a path that already holds the endpoint the SDK appends
	// (ending in /streaming, or containing /api/public), and its error names the base URL to
	// use instead.
	StreamingURL string

	// EventsURL is the base URL insight events are posted to (<EventsURL>/api/public/insight/track),
	// http:// or https://. Default: StreamingURL with ws:// turned into http:// and wss://
	// into https://.
	EventsURL string

	// PollingURL is the base URL polled in SyncPolling mode
	// (<PollingURL>/api/public/sdk/server/latest-all), http:// or https://. Default: like
	// EventsURL.
	PollingURL string

	// SyncMode selects streaming (the default) or polling. With DataSource it must be left
	// at its zero value or set to SyncCustom.
	SyncMode SyncMode

	// DataSource, if set, fills the client's data instead of streaming or polling: a Redis
	// reader, a file that reloads, a source that tests drive (see DataSource). The client
	// runs it from New until Close. EnvSecret and StreamingURL (or EventsURL) are then only
	// needed to send insight events: with DisableEvents neither is required, though a value
	// that is given is still checked. It cannot be combined with Offline, which opens
	// nothing at all (set DisableEvents instead to run a DataSource that sends nothing).
	// Default: none; SyncMode decides.
	DataSource DataSource

	// PollInterval is the time between polls in SyncPolling mode. Default 30 s, minimum 5 s.
	PollInterval time.Duration

	// StartWait is how long New waits for the first data set before it returns. New returns
	// the client either way; sync goes on in the background. Default 5 s; a negative value
	// means New does not wait at all.
	StartWait time.Duration

	// Offline makes the client use no network at all: no connection is opened and no event
	// is sent. Flags come from DataFile or Data; without either the data set is empty.
	Offline bool

	// DataFile is the path of a JSON data set to load in Offline mode (a name inside DataFS
	// when DataFS is set): FeatBit's data-sync message, as returned by GET
	// /api/public/sdk/server/latest-all, or a bare {"featureFlags":[...],"segments":[...]}.
	// An item without updatedAt is given the time the data set is read. A file that cannot be
	// read or parsed, or holds an item that cannot be used, is an error from New that matches
	// ErrInvalidConfig (and fs.ErrNotExist for a missing file). Default: none.
	DataFile string

	// DataFS, if set, is the file system DataFile is read from, e.g. an embed.FS holding the
	// data set (//go:embed), or os.DirFS. DataFile is then a slash-separated name inside it,
	// as fs.FS names are. Default: none; DataFile is a path of the operating system.
	DataFS fs.FS

	// Data is the JSON data set to load in Offline mode, in the same format as DataFile, for
	// data that is already in memory (a []byte filled by //go:embed, or built by a test). It
	// cannot be combined with DataFile. Default: none.
	Data []byte

	// ReloadDataFile makes an Offline client check DataFile's modification time and size
	// every second and load the file again when they changed, for local development: edit the
	// file, and the running service serves the new flags. EventFlagChanged names the flags
	// whose updatedAt changed; items without updatedAt are given the reload time, so they are
	// named at every reload. A file that cannot be loaded is logged, reported once as
	// EventNetworkFetchError (state Stale), and the last good data set is kept. Reloads are
	// reported with Fetch.Mode SyncCustom. Default false: DataFile is read once, in New.
	ReloadDataFile bool

	// DisableEvents stops the client from sending insight events (evaluations and metrics)
	// to FeatBit. EventEvaluation listeners are still told.
	DisableEvents bool

	// FlushInterval is the longest an insight event waits before its batch is sent: a batch
	// goes out FlushInterval after its first event at the latest (sooner when it reaches
	// EventBatchSize), while the endpoint works and a request slot is free. Default 1 s,
	// minimum 10 ms.
	FlushInterval time.Duration

	// EventCapacity is how many insight events may wait to be sent. When it is full, new
	// events are dropped and counted (Client.DroppedEvents, EventEventsDropped). Default 10000.
	EventCapacity int

	// EventBatchSize is the number of events at which a batch is sent without waiting for
	// FlushInterval. It is not a maximum: while every request is busy or the endpoint fails,
	// a batch keeps growing beyond it, up to EventBatchBytes. Default 50.
	EventBatchSize int

	// EventBatchBytes is the maximum body size of one request; an event larger than that on
	// its own is dropped and counted. Default 1 MiB, minimum 1024.
	EventBatchBytes int

	// CloseTimeout bounds Close: the time it spends sending the events it still holds and
	// letting listeners finish. Default 5 s.
	CloseTimeout time.Duration

	// HTTPClient is used for polling and events. Default: a client with a transport of its
	// own, cloned from http.DefaultTransport, that keeps an idle connection for each
	// concurrent events request, and a 10 s timeout for polling requests. An events request
	// is bounded by a timeout sized for its body instead (10 s plus 1 s per KiB), so that a
	// large batch on a slow link is not cut short and sent twice; a caller's HTTPClient
	// keeps its own Timeout as well. The WebSocket dialer uses its Transport's proxy, dial
	// function and TLS settings if it is an *http.Transport.
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

	// Cache keeps the last full data set the client committed, so that the client can start
	// warm when its source (FeatBit, or DataSource) gives no data at start: FileCache keeps
	// it in a file, or bring your own Cache. The client saves the whole data set after each
	// change from its source, at most about once a second (unless the Cache asks for another
	// interval, see Cache), on a goroutine of its own, and once more at Close if the last
	// change is not saved yet (within CloseTimeout). When
	// StartWait passes without data (at once, with a negative StartWait), New loads the
	// cache, waiting for it up to StartWait (5 s with a negative StartWait), and serves its
	// data set with state StateStale and Status.FromCache set until the source delivers a
	// full data set, which replaces it. A cache that cannot be loaded, or whose data set
	// belongs to another environment than EnvSecret's, is logged (one warning) and ignored.
	// Not with Offline, which loads DataFile instead. Default: none.
	Cache Cache
}

// Listener is a callback for the given event types, for Config.Listeners.
type Listener struct {
	Events []EventType // the event types it receives, in the order the SDK emits them
	Func   func(Event) // called on the listener's own goroutine
	// Name names the listener in the SDK's warnings about it. Default: "listener N", as
	// with ListenerName.
	Name string
	// QueueSize is how many events may wait for the listener before it misses events.
	// Default 4096, as with ListenerQueueSize; negative is an error.
	QueueSize int
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

// problems collects what is wrong with a Config, so that New reports it all at once.
type problems []error

func (p *problems) add(format string, args ...any) { *p = append(*p, invalid(format, args...)) }

func (p *problems) addErr(err error) {
	if err != nil {
		*p = append(*p, err)
	}
}

// resolve validates c and applies the defaults.
func (c Config) resolve() (*resolved, error) {
	r := &resolved{Config: c}
	var p problems
	c.checkNumbers(&p)
	c.checkSync(&p)
	c.checkListeners(&p)
	c.checkHooks(&p)
	c.checkOffline(&p)
	if !c.Offline {
		r.buildURLs(&p)
	}
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	r.applyDefaults()
	return r, nil
}

// checkNumbers checks the durations and sizes: zero means the default, a negative value or
// one below a minimum is an error.
func (c *Config) checkNumbers(p *problems) {
	if c.PollInterval < 0 || (c.PollInterval > 0 && c.PollInterval < MinPollInterval) {
		p.add("PollInterval %v is below the minimum of %v", c.PollInterval, MinPollInterval)
	}
	if c.FlushInterval < 0 || (c.FlushInterval > 0 && c.FlushInterval < MinFlushInterval) {
		p.add("FlushInterval %v is below the minimum of %v", c.FlushInterval, MinFlushInterval)
	}
	if c.EventCapacity < 0 {
		p.add("EventCapacity %d is negative", c.EventCapacity)
	}
	if c.EventBatchSize < 0 {
		p.add("EventBatchSize %d is negative", c.EventBatchSize)
	}
	if c.EventBatchBytes < 0 || (c.EventBatchBytes > 0 && c.EventBatchBytes < 1024) {
		p.add("EventBatchBytes %d is below the minimum of 1024", c.EventBatchBytes)
	}
	if c.CloseTimeout < 0 {
		p.add("CloseTimeout %v is negative", c.CloseTimeout)
	}
}

// checkSync checks that SyncMode, DataSource and Offline go together.
func (c *Config) checkSync(p *problems) {
	switch {
	case c.SyncMode > SyncCustom:
		p.add("SyncMode %d is unknown", c.SyncMode)
	case c.DataSource == nil && c.SyncMode == SyncCustom:
		p.add("SyncMode SyncCustom needs a DataSource")
	case c.DataSource != nil && c.SyncMode == SyncPolling:
		p.add("SyncMode SyncPolling cannot be combined with a DataSource, which replaces it")
	}
	if c.DataSource != nil && c.Offline {
		p.add("DataSource cannot run in Offline mode, which opens nothing; set DisableEvents instead to send nothing")
	}
	if c.Cache != nil && c.Offline {
		p.add("Cache is not used in Offline mode, which loads its offline data instead")
	}
}

// checkListeners checks Config.Listeners.
func (c *Config) checkListeners(p *problems) {
	for i, l := range c.Listeners {
		if l.Func == nil || len(l.Events) == 0 {
			p.add("Listeners[%d] needs a Func and at least one event type", i)
		}
		if l.QueueSize < 0 {
			p.add("Listeners[%d] has a negative QueueSize %d", i, l.QueueSize)
		}
		for _, t := range l.Events {
			if t == 0 || t >= numEventTypes {
				p.add("Listeners[%d] has an unknown event type %d", i, t)
			}
		}
	}
}

// checkHooks checks Config.Hooks.
func (c *Config) checkHooks(p *problems) {
	if len(c.Hooks) > maxHooks {
		p.add("Hooks has %d hooks; the most is %d", len(c.Hooks), maxHooks)
	}
	for i, h := range c.Hooks {
		if h.BeforeEvaluation == nil && h.AfterEvaluation == nil && h.AfterTrack == nil {
			p.add("Hooks[%d] %q has no BeforeEvaluation, AfterEvaluation or AfterTrack", i, h.Name)
		}
	}
}

// checkOffline checks the fields that say where offline data comes from.
func (c *Config) checkOffline(p *problems) {
	if !c.Offline {
		for _, f := range []struct {
			name string
			set  bool
		}{{"DataFile", c.DataFile != ""}, {"Data", c.Data != nil}, {"DataFS", c.DataFS != nil}, {"ReloadDataFile", c.ReloadDataFile}} {
			if f.set {
				p.add("%s is only used in Offline mode; set Offline too", f.name)
			}
		}
		return
	}
	switch {
	case c.Data != nil && (c.DataFile != "" || c.DataFS != nil):
		p.add("Data cannot be combined with DataFile or DataFS: give the data set one way")
	case c.DataFS != nil && c.DataFile == "":
		p.add("DataFS needs DataFile, the name of the data set inside it")
	case c.DataFS != nil && !fs.ValidPath(c.DataFile):
		p.add("DataFile %q is not a valid name inside DataFS (slash-separated, without a leading slash, . or ..)", c.DataFile)
	case c.ReloadDataFile && c.DataFile == "":
		p.add("ReloadDataFile needs a DataFile")
	}
}

// buildURLs checks the secret and the URLs of a client that uses the network, and builds
// the endpoint URLs. With a DataSource the secret and the URLs only serve insight events.
func (r *resolved) buildURLs(p *problems) {
	custom := r.DataSource != nil
	events := !r.DisableEvents
	if !custom || events || r.EnvSecret != "" {
		p.addErr(checkSecret(r.EnvSecret, custom))
	}
	var httpBase *url.URL
	switch {
	case custom && events && r.StreamingURL == "" && r.EventsURL == "":
		p.add("StreamingURL or EventsURL is required to send insight events with a DataSource; set DisableEvents otherwise")
	case !custom || r.StreamingURL != "" || (events && r.EventsURL == ""):
		base, err := parseBase("StreamingURL", r.StreamingURL, true)
		if err != nil {
			p.addErr(err)
			break
		}
		r.streamingURL = join(base, streamingPath, map[string]string{"http": "ws", "https": "wss"})
		httpBase = join(base, "", map[string]string{"ws": "http", "wss": "https"})
	}
	eb, pb := httpBase, httpBase
	var err error
	if r.EventsURL != "" {
		eb, err = parseBase("EventsURL", r.EventsURL, false)
		p.addErr(err)
	}
	if r.PollingURL != "" {
		pb, err = parseBase("PollingURL", r.PollingURL, false)
		p.addErr(err)
	}
	if eb != nil {
		r.eventsURL = join(eb, eventsPath, nil)
	}
	if pb != nil {
		r.pollingURL = join(pb, pollingPath, nil)
	}
}

// applyDefaults gives every field left at its zero value its default.
func (r *resolved) applyDefaults() {
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
}

// checkSecret checks the shape of an env secret without ever putting it in the error.
// custom is set for a client with a DataSource, which needs the secret for events only.
func checkSecret(s string, custom bool) error {
	if strings.TrimSpace(s) == "" {
		if custom {
			return invalid("EnvSecret is required to send insight events with a DataSource; set DisableEvents otherwise")
		}
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
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return nil, invalid("%s must not have a query, fragment or user info: it is a base URL, to which the SDK adds the endpoint's path and query", field)
	}
	if prefix, endpoint, ok := endpointInPath(u.Path); ok {
		fix := url.URL{Scheme: u.Scheme, Host: u.Host, Path: prefix}
		return nil, invalid("%s path %q already contains %s, which the SDK adds itself: use the base URL %q", field, u.Path, endpoint, fix.String())
	}
	return u, nil
}

// endpointInPath reports whether a base URL's path already holds one of FeatBit's endpoint
// paths, a common copy-and-paste mistake: a path that ends in /streaming, or that contains
// /api/public (every HTTP endpoint of FeatBit's SDK API is under it). It returns the part of
// the path before the endpoint, the base the caller meant. Like FeatBit, it ignores case.
func endpointInPath(p string) (prefix, endpoint string, ok bool) {
	trimmed := strings.TrimRight(p, "/")
	lower := strings.ToLower(trimmed)
	if strings.HasSuffix(lower, streamingPath) {
		return trimmed[:len(trimmed)-len(streamingPath)], streamingPath, true
	}
	const api = "/api/public"
	if i := strings.Index(lower+"/", api+"/"); i >= 0 {
		return trimmed[:i], trimmed[i:], true
	}
	return "", "", false
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
