package fbclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// This file keeps a client warm across restarts: the cache writer saves the data set the
// client commits to Config.Cache, a client that gets no data at start serves the cached data
// set, and FileCache is the built-in Cache.
//
// A warm start and the source. While the client serves the cached data set, DataSink.Version
// is 0, so the source asks for a full data set (FeatBit answers a data-sync request with
// timestamp 0 with one), and the first full data set replaces the cached one whole. Resuming
// from the cached version instead would get a patch of the changes since then, which over a
// complete cached data set is right for every item that still exists, archived ones
// included, as they come as tombstones. But a flag or segment archived and then deleted while
// no client kept the cache up to date is in no patch at all: it would be served from the
// cache, and saved again, for good. A full data set costs one download at start, as a cold
// start does, and leaves nothing of the cache behind. Patches that come before it (a push
// that overtakes the reply, or a custom source) are applied over the cached data set, and
// the store applies them again over the full data set when it comes (store.applyCached), so
// that the newer copy of each item wins and no change is lost. Only a full data set from the source makes the client Ready and clears
// Status.FromCache; the cache is saved only from then on.

// cacheEvery is the shortest time between two saves, unless the Cache says otherwise (see
// Cache).
const cacheEvery = time.Second

// cacheTimings are the cache writer's coalescing interval and clock; tests replace them.
type cacheTimings struct {
	every time.Duration
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

func defaultCacheTimings() cacheTimings {
	return cacheTimings{every: cacheEvery, now: time.Now, after: time.After}
}

// maxFailureKinds bounds the kinds of save failures the writer remembers having warned about.
const maxFailureKinds = 16

// cacheWriter saves the client's data set to its Cache, at most once every t.every, on the
// one goroutine it owns: New starts it, Close stops and joins it.
type cacheWriter struct {
	c     *Client
	cache Cache
	t     cacheTimings

	changed chan struct{} // capacity 1: the data changed since the writer last looked
	ctx     context.Context
	stop    context.CancelFunc
	done    chan struct{}
	closeBy time.Time // the final save's deadline, set by close before stop

	// Owned by the writer's goroutine.
	saved  *snapshot       // the snapshot last saved
	warned map[string]bool // the kinds of failure already warned about
}

func newCacheWriter(c *Client, cache Cache, t cacheTimings) *cacheWriter {
	if d, ok := saveInterval(cache); ok {
		t.every = max(d, 0)
	}
	w := &cacheWriter{c: c, cache: cache, t: t, changed: make(chan struct{}, 1), done: make(chan struct{}), warned: map[string]bool{}}
	w.ctx, w.stop = context.WithCancel(context.Background())
	return w
}

// saveInterval returns the interval the cache asks for with a SaveInterval method (see
// Cache), and whether it has one that returned. A panic counts as no method; it is not
// logged, as the client's logger does not exist yet.
func saveInterval(cache Cache) (d time.Duration, ok bool) {
	si, has := cache.(interface{ SaveInterval() time.Duration })
	if !has {
		return 0, false
	}
	defer func() {
		if recover() != nil {
			d, ok = 0, false
		}
	}()
	return si.SaveInterval(), true
}

// touch tells the writer that the data changed. It never blocks.
func (w *cacheWriter) touch() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// close stops the writer, which saves the data once more if the last change is not saved yet,
// within deadline (if the Cache honours its context), and waits for it.
func (w *cacheWriter) close(deadline time.Time) {
	w.closeBy = deadline
	w.stop()
	<-w.done
}

func (w *cacheWriter) run() {
	defer close(w.done)
	var last time.Time // when the last save was tried
	for {
		select {
		case <-w.changed:
		case <-w.ctx.Done():
			w.final()
			return
		}
		if !last.IsZero() {
			if wait := w.t.every - w.t.now().Sub(last); wait > 0 {
				select {
				case <-w.t.after(wait):
				case <-w.ctx.Done():
					w.final()
					return
				}
			}
		}
		if w.save(w.ctx, false) {
			last = w.t.now()
		}
	}
}

// final is the save at Close, bounded by its deadline.
func (w *cacheWriter) final() {
	ctx, cancel := context.WithDeadline(context.Background(), w.closeBy)
	defer cancel()
	w.save(ctx, true)
}

// save saves the current data set unless it is saved already or came from the cache, and
// reports whether it tried. final is set for the save at Close.
func (w *cacheWriter) save(ctx context.Context, final bool) bool {
	snap := w.c.store.load()
	if snap == nil || snap == w.saved || w.c.fromCache.Load() {
		return false
	}
	ds := snap.dataSet()
	ds.savedAt = w.t.now()
	err := w.callSave(ctx, ds)
	switch {
	case err == nil:
		w.saved = snap
		w.c.log.Debug("fbclient: data set saved to the cache", "version", snap.version)
	case !final && ctx.Err() != nil:
		// Close interrupted it; the final save tries again.
	default:
		w.failed(err)
	}
	return true
}

// callSave calls the Cache's Save, turning a panic into an error.
func (w *cacheWriter) callSave(ctx context.Context, ds *DataSet) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("fbclient: the Cache's Save panicked: %v", v)
		}
	}()
	return w.cache.Save(ctx, ds)
}

// failed logs a failed save: a warning the first time a kind of failure happens, then at
// debug level, so that a full disk or a cache that is away costs one warning, not one a
// second.
func (w *cacheWriter) failed(err error) {
	kind := failureKind(err)
	if w.warned[kind] || len(w.warned) >= maxFailureKinds {
		w.c.log.Debug("fbclient: cannot save the data set to the cache", "error", err)
		return
	}
	w.warned[kind] = true
	w.c.log.Warn("fbclient: cannot save the data set to the cache; further failures of this kind are logged at debug level", "error", err)
}

// failureKind names the kind of a save failure: the operation and the system's error for a
// file operation, whose path may vary (a temporary file's name), and the text otherwise.
func failureKind(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Op + ": " + le.Err.Error()
	}
	return err.Error()
}

// warmStart loads the cache and serves its data set if the source has delivered nothing yet
// and has not stopped. It reports whether it did; a cache that cannot be used is logged.
func (c *Client) warmStart(sink *clientSink) bool {
	wait := c.cfg.StartWait
	if wait <= 0 {
		wait = DefaultStartWait
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ds, err := loadCache(ctx, c.cfg.Cache)
	if err == nil {
		err = checkEnv(ds, c.cfg.EnvSecret)
	}
	if err != nil {
		c.log.Warn("fbclient: the cached data set is not used", "error", err)
		return false
	}
	return sink.warm(ds)
}

// loadCache calls cache.Load and checks that it gave a full data set, turning a panic into an
// error.
func loadCache(ctx context.Context, cache Cache) (ds *DataSet, err error) {
	defer func() {
		if v := recover(); v != nil {
			ds, err = nil, fmt.Errorf("fbclient: the Cache's Load panicked: %v", v)
		}
	}()
	ds, err = cache.Load(ctx)
	switch {
	case err != nil:
		return nil, err
	case ds == nil:
		return nil, errors.New("fbclient: the cache holds no data set")
	case !ds.Full():
		return nil, errors.New("fbclient: the cache holds a patch, not a full data set")
	}
	return ds, nil
}

// checkEnv fails if the items of ds carry another environment's id than the one secret
// encodes. Without a secret in FeatBit's form there is nothing to check against.
func checkEnv(ds *DataSet, secret string) error {
	want, err := EnvIDFromSecret(secret)
	if err != nil {
		return nil
	}
	check := func(env string) error {
		if env != "" && !strings.EqualFold(env, want) {
			return fmt.Errorf("fbclient: the cached data set belongs to environment %s, not %s", env, want)
		}
		return nil
	}
	for i := range ds.ds.FeatureFlags {
		if err := check(ds.ds.FeatureFlags[i].EnvID); err != nil {
			return err
		}
	}
	for i := range ds.ds.Segments {
		if err := check(ds.ds.Segments[i].EnvID); err != nil {
			return err
		}
	}
	return nil
}

// warm serves ds, loaded from the cache, if the source has delivered nothing yet and has not
// stopped: the state becomes Stale with Status.FromCache set. It reports whether it did.
func (s *clientSink) warm(ds *DataSet) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.c
	if s.stopped || c.store.load() != nil {
		return false
	}
	res := c.store.applyCached(ds.ds)
	if len(res.skipped) > 0 {
		c.log.Warn("fbclient: skipped items of the cached data set", "skipped", len(res.skipped), "first", res.skipped[0])
	}
	c.mu.Lock()
	c.cachedAt = ds.savedAt
	c.fromCache.Store(true)
	change := c.setStatusLocked(StateStale, c.Status().Err)
	c.mu.Unlock()
	flags, segments := ds.Len()
	c.log.Info("fbclient: serving the cached data set until the source delivers", "savedAt", ds.savedAt, "flags", flags, "segments", segments, "version", res.version)
	c.emitStatus(change)
	return true
}

// FileCache returns a Cache that keeps the data set in the file at path, for Config.Cache.
//
// Save replaces the file atomically: it writes a temporary file in the same directory, syncs
// it to disk and renames it over path, so that a crash leaves the old file or the new one,
// never a torn one. The file is created with mode 0600 (before the umask). It holds a small
// header (a format version, the environment id of the flags, the time of the save) and the
// data set in FeatBit's JSON; no secret or token. The directory must exist.
//
// Load reads the file back. A file that is missing, cannot be read, is cut short, or was not
// written by FileCache is an error, which the client logs once and starts without.
func FileCache(path string) Cache {
	return &fileCache{path: path}
}

type fileCache struct {
	path string
}

// fileCacheFormat is the version of FileCache's file format; a file of another version is
// not read.
const fileCacheFormat = 1

// cacheFile is the content of a FileCache file.
type cacheFile struct {
	// Format is fileCacheFormat. Its unusual name makes a file of another kind unlikely to
	// pass for a cache file.
	Format  int             `json:"fbclientCacheFormat"`
	EnvID   string          `json:"envId,omitempty"`
	SavedAt time.Time       `json:"savedAt"`
	Version int64           `json:"version"`
	Data    json.RawMessage `json:"data,omitempty"` // last in the file
}

// errForeign reports a file that FileCache did not write.
var errForeign = errors.New("not a cache file written by FileCache")

// Load reads the data set saved in the file.
func (fc *fileCache) Load(ctx context.Context) (*DataSet, error) {
	f, err := os.Open(fc.path)
	if err != nil {
		return nil, fmt.Errorf("fbclient: FileCache: %w", err)
	}
	defer f.Close()
	// One byte more than the limit tells a file that is too large.
	b, err := io.ReadAll(io.LimitReader(f, defaultReadLimit+1))
	if err != nil {
		return nil, fmt.Errorf("fbclient: FileCache: %w", err)
	}
	if len(b) > defaultReadLimit {
		return nil, fmt.Errorf("fbclient: FileCache %s: the file is larger than %d MiB", fc.path, defaultReadLimit>>20)
	}
	ds, err := decodeCacheFile(b)
	if err != nil {
		return nil, fmt.Errorf("fbclient: FileCache %s: %w", fc.path, err)
	}
	return ds, nil
}

// decodeCacheFile decodes the content of a FileCache file.
func decodeCacheFile(b []byte) (*DataSet, error) {
	var cf cacheFile
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("the file is empty")
	}
	if err := json.Unmarshal(b, &cf); err != nil {
		if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
			return nil, fmt.Errorf("the file is cut short or damaged: %w", err)
		}
		return nil, errForeign
	}
	switch {
	case cf.Format == 0:
		return nil, errForeign
	case cf.Format != fileCacheFormat:
		return nil, fmt.Errorf("the file is of format %d; this version reads format %d", cf.Format, fileCacheFormat)
	case len(cf.Data) == 0:
		return nil, errors.New("the file holds no data set")
	}
	ds, err := ParseDataSet(cf.Data)
	if err != nil {
		return nil, fmt.Errorf("the data set cannot be read: %w", err)
	}
	if !ds.Full() {
		return nil, errors.New("the file holds a patch, not a full data set")
	}
	return ds.WithSavedAt(cf.SavedAt), nil
}

// Save replaces the file with ds.
func (fc *fileCache) Save(ctx context.Context, ds *DataSet) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ds.Full() {
		return errors.New("fbclient: FileCache: Save takes a full data set, not a patch")
	}
	data, err := ds.MarshalJSON()
	if err != nil {
		return fmt.Errorf("fbclient: FileCache: encoding the data set: %w", err)
	}
	savedAt := ds.SavedAt()
	if savedAt.IsZero() {
		savedAt = time.Now()
	}
	// The data set is written as it is, after the header: encoding it as a json.RawMessage
	// would check it all again.
	head, err := json.Marshal(cacheFile{Format: fileCacheFormat, EnvID: envOf(ds), SavedAt: savedAt.UTC(), Version: ds.Version()})
	if err != nil {
		return fmt.Errorf("fbclient: FileCache: encoding the header: %w", err)
	}
	head = append(head[:len(head)-1], `,"data":`...)
	return writeAtomic(fc.path, head, data, []byte("}\n"))
}

// envOf returns the environment id the data set's items carry, "" if none.
func envOf(ds *DataSet) string {
	for i := range ds.ds.FeatureFlags {
		if env := ds.ds.FeatureFlags[i].EnvID; env != "" {
			return env
		}
	}
	for i := range ds.ds.Segments {
		if env := ds.ds.Segments[i].EnvID; env != "" {
			return env
		}
	}
	return ""
}

// writeAtomic replaces the file at path with the chunks: a temporary file in the same
// directory, synced, then renamed over path. On failure the temporary file is removed and
// path is left as it was.
func writeAtomic(path string, chunks ...[]byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("fbclient: FileCache: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	for _, b := range chunks {
		if err == nil {
			_, err = f.Write(b)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("fbclient: FileCache: %w", err)
	}
	// Make the rename itself durable where the system allows it.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
