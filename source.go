package fbclient

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/featflags/fbclient/internal/token"
	"github.com/featflags/fbclient/internal/wire"
)

// This file is the boundary between the client and whatever gives it flag data. Data flows
// one way: a DataSource produces data sets and reports how its requests went through a
// DataSink; the client commits them to its store and turns them into status changes and
// events. Streaming and polling are the built-in sources; Config.DataSource plugs in another
// one (a Redis reader, a test source) without the client knowing what it is. A Cache keeps
// the last committed data set, so a client that cannot reach its source at start still has
// data.

// DataSet is one FeatBit data-sync payload: the whole data set of an environment (Full) or a
// patch of the flags and segments that changed. It is immutable once parsed.
type DataSet struct {
	ds      *wire.DataSync
	savedAt time.Time
}

// ParseDataSet decodes FeatBit's data-sync JSON in any of the shapes FeatBit produces: the
// data of a data-sync message ({"eventType":"full"|"patch","featureFlags":[...],
// "segments":[...]}), the latest-all response (the same inside {"messageType":"data-sync",
// "data":...}), or a bare {"featureFlags":[...],"segments":[...]}, which is a full data set.
// Items are checked one by one when they are committed, so one bad item does not cost the
// others; ParseDataSet fails only for a document that is not such a payload.
func ParseDataSet(b []byte) (*DataSet, error) {
	ds, err := wire.DecodeDataSet(b)
	if err != nil {
		return nil, err
	}
	if ds.EventType == "" {
		ds.EventType = wire.EventFull
	}
	return &DataSet{ds: ds}, nil
}

// Full reports whether the data set replaces all the data (true) or patches it.
func (d *DataSet) Full() bool { return d != nil && d.ds.EventType == wire.EventFull }

// Len returns the number of flags and segments the data set carries, archived ones included.
func (d *DataSet) Len() (flags, segments int) {
	if d == nil {
		return 0, 0
	}
	return len(d.ds.FeatureFlags), len(d.ds.Segments)
}

// Version returns the data set's version: the newest updatedAt of its items, in Unix
// milliseconds, as FeatBit's servers compare them; 0 for an empty data set.
func (d *DataSet) Version() int64 {
	if d == nil {
		return 0
	}
	var v int64
	for i := range d.ds.FeatureFlags {
		if n, err := wire.Version(d.ds.FeatureFlags[i].UpdatedAt); err == nil {
			v = max(v, n)
		}
	}
	for i := range d.ds.Segments {
		if n, err := wire.Version(d.ds.Segments[i].UpdatedAt); err == nil {
			v = max(v, n)
		}
	}
	return v
}

// SavedAt returns when the data set was saved to a Cache: the time the client handed it to
// Cache.Save, or the time a Cache's Load restored with WithSavedAt. It is the zero time for a
// data set that was not saved, such as one from ParseDataSet.
func (d *DataSet) SavedAt() time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.savedAt
}

// WithSavedAt returns a copy of the data set whose SavedAt is t. A Cache's Load uses it to
// give back the time it stored with the data set, which the client reports as
// Status.CachedAt.
func (d *DataSet) WithSavedAt(t time.Time) *DataSet {
	if d == nil {
		return nil
	}
	return &DataSet{ds: d.ds, savedAt: t}
}

// MarshalJSON encodes the data set as FeatBit's data-sync payload, which ParseDataSet reads
// back: {"eventType":...,"featureFlags":[...],"segments":[...]}.
func (d *DataSet) MarshalJSON() ([]byte, error) {
	if d == nil {
		return []byte("null"), nil
	}
	return json.Marshal(d.ds)
}

// A DataSource fills a client's data set. The client calls Run once, on a goroutine of its
// own, and cancels ctx in Close, then waits for Run to return. Run reports everything it
// does through sink and returns when ctx is done or after it called sink.Stop. A Run that
// panics is stopped as if it had called sink.Stop. Run must not call the client's Close,
// which waits for Run to return.
type DataSource interface {
	// Run fills the client's data through sink until ctx is done or it calls sink.Stop.
	Run(ctx context.Context, sink DataSink)
}

// A DataSink is the client's side of the data-source boundary. Its methods are safe for
// concurrent use, return quickly (listeners are told later, on their own goroutines) and
// never call back into the source. They are serialized: the events of one call all go out
// before those of the next. The client sets Fetch.Mode itself (SyncCustom for
// Config.DataSource); a source fills Fetch.Timestamp. Calls made after Stop, or after Run
// returned, are ignored.
type DataSink interface {
	// Apply commits a data set: a full one replaces the data, a patch replaces each item it
	// carries whose updatedAt is newer than the copy held. Items that cannot be used are
	// skipped and logged. The first full data set makes the client ready; every applied data
	// set makes it Ready again after a failure, except that while the client serves a data
	// set loaded from Config.Cache only a full one does. A nil ds is an empty patch: the
	// source reached its data and nothing changed.
	Apply(ds *DataSet, f Fetch)
	// Version is the data version the client holds (see DataSet.Version), 0 before the first
	// full data set from the source, including while the client serves a data set loaded
	// from Config.Cache: a source asks for the changes since it, so that 0 asks for a full
	// data set.
	Version() int64
	// Started reports that a request for data started.
	Started(f Fetch)
	// Failed reports a failed attempt that may pass: the client keeps its data, and its
	// state becomes Stale (NotReady if it has none) with err.
	Failed(err error, f Fetch)
	// Stop reports a failure that will not pass, such as rejected credentials: the client's
	// state becomes Failed with err, listeners get it as an EventNetworkFetchError, and
	// WaitForInitialization returns it. An err that does not match ErrInitializationFailed
	// is wrapped so that it does.
	Stop(err error)
	// Logger is the client's logger; records logged to it also reach EventLog listeners.
	Logger() *slog.Logger
}

// A Cache keeps the last full data set a client committed. With Config.Cache set, a client
// that gets no data from its source within Config.StartWait serves the cached data set
// (state Stale, Status.FromCache) until its source delivers. FileCache is the built-in one.
//
// The client saves at most once a second. A Cache that wants every change at once, because
// others read it (a shared store that readers follow), may have a method
//
//	SaveInterval() time.Duration
//
// which the client calls once, in New, for the shortest time between two saves: 0 (or less)
// saves each change as soon as the previous Save has returned; changes made meanwhile are
// still saved together.
type Cache interface {
	// Load returns the cached full data set, or an error if there is none that can be used;
	// the client logs the error and starts without it. It should return when ctx is done. A
	// data set with a SavedAt (see WithSavedAt) tells the client how old it is.
	Load(ctx context.Context) (*DataSet, error)
	// Save stores a full data set. The client calls it from one goroutine at a time, never on
	// the evaluation or sync path, and coalesces bursts of changes. ds.SavedAt is the time
	// the client saves it. Save should return when ctx is done.
	Save(ctx context.Context, ds *DataSet) error
}

// EnvIDFromSecret returns the id of the FeatBit environment that an env secret belongs to: the
// secret carries it in its last 22 characters. The id is not secret; integrations use it to
// name what they keep for an environment (a Redis key, a file) without storing the secret.
// The error never contains the secret.
func EnvIDFromSecret(secret string) (string, error) {
	id, err := token.EnvID(secret)
	if err != nil {
		return "", fmt.Errorf("fbclient: env secret carries no environment id: %w", err)
	}
	return id.String(), nil
}
