package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/featflags/fbclient"
	"github.com/redis/go-redis/v9"
)

// writeScript writes a data set when the caller holds the lease (taking it if it is free)
// and the set is newer than the stored one, then publishes the new version. The lease check
// and the write are one atomic step, so a writer whose lease has expired cannot write, even
// if it has not noticed yet. A stored value that is not a hash with a numeric version is
// replaced.
//
// The notification carries the patch from the stored version to the new one when the
// stored version is the one the patch starts from (see patch.go).
//
// KEYS: data, lease. ARGV: owner, lease TTL in ms, version, data, channel, the version the
// patch starts from ("" for none), patch, the time of the save (Unix ms).
// Returns 1 written, 0 not newer than the stored set, -1 another writer holds the lease.
var writeScript = redis.NewScript(`
local holder = redis.call('GET', KEYS[2])
if holder == false then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
elseif holder ~= ARGV[1] then
  return -1
else
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
local cur = nil
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
  cur = tonumber(redis.call('HGET', KEYS[1], 'version'))
  if cur ~= nil and cur >= tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', ARGV[3], 'data', ARGV[4], 'savedAt', ARGV[8])
local msg = ARGV[3]
if cur ~= nil and ARGV[6] ~= '' and cur == tonumber(ARGV[6]) then
  msg = ARGV[3] .. ' ' .. ARGV[6] .. ' ' .. ARGV[7]
end
redis.call('PUBLISH', ARGV[5], msg)
return 1
`)

// leaseScript renews the lease for its holder or takes it when it is free.
// KEYS: lease. ARGV: owner, lease TTL in ms.
// Returns 1 renewed, 2 taken, 0 another writer holds it.
var leaseScript = redis.NewScript(`
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
`)

// releaseScript deletes the lease if the caller holds it. KEYS: lease. ARGV: owner.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Writer mirrors a client's data set into Redis. It is an fbclient.Cache: set it as
// Config.Cache of a client connected to FeatBit, and the client saves every full data set it
// commits, and loads the stored one to start warm when FeatBit gives nothing at start.
//
// Any number of processes may run a Writer for the same environment. One of them holds the
// lease and writes; the others keep their newest data set and take the lease when it is
// free: when the holder closes (at once) or dies (within LeaseTTL + LeaseTTL/3). A Writer
// competes for the lease only once it has a data set to offer. A write never replaces a
// stored set with an older or equal version.
//
// Close the Writer after the client that uses it.
type Writer struct {
	rdb   redis.UniversalClient
	opts  Options
	keys  keys
	owner string // random per Writer; the lease's value
	log   *slog.Logger

	follow atomic.Pointer[fbclient.Client] // see Follow

	mu     sync.Mutex
	latest *pending // the newest data set given to Save; nil before the first
	last   *pending // the last data set this Writer wrote; nil before the first
	held   bool     // the last lease operation left the lease with this Writer
	closed bool

	ctx       context.Context // canceled by Close
	cancel    context.CancelFunc
	done      chan struct{} // closed when the lease goroutine ends
	closeOnce sync.Once
}

// pending is a data set to write. Its fields are set once, except stored, guarded by
// Writer.mu.
type pending struct {
	version int64
	savedAt time.Time // when the client saved it: DataSet.SavedAt
	data    []byte
	items   []item // its flags and segments, to make patches; nil if it cannot be split
	stored  bool   // Redis is known to hold this version or a newer one
}

// NewWriter returns a Writer that keeps the data of environment opts.EnvID in rdb, and starts
// its lease goroutine. For invalid Options it returns an error matching
// fbclient.ErrInvalidConfig and starts nothing.
func NewWriter(rdb redis.UniversalClient, opts Options) (*Writer, error) {
	o, k, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if rdb == nil {
		return nil, fmt.Errorf("%w: redisstore: the Redis client is nil", fbclient.ErrInvalidConfig)
	}
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	w := &Writer{
		rdb:   rdb,
		opts:  o,
		keys:  k,
		owner: hex.EncodeToString(id[:]),
		log:   o.Logger,
		done:  make(chan struct{}),
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.run()
	return w, nil
}

// Load returns the data set stored in Redis, with the time its writer's client saved it as
// its SavedAt, which the client reports as Status.CachedAt after a warm start. It fails with
// an error matching ErrNoData when there is none, and ErrBadData when the stored value cannot
// be used.
func (w *Writer) Load(ctx context.Context) (*fbclient.DataSet, error) {
	ds, _, err := load(ctx, w.rdb, w.keys)
	return ds, err
}

// Save stores a full data set in Redis if this Writer holds the lease or can take it, and
// the set is newer than the stored one. Otherwise it keeps the set and returns nil: the
// Writer writes it if it takes the lease later. It returns an error if Redis cannot be
// reached (the set is written when Redis is back, if this Writer then holds the lease), for
// a patch, for a data set whose items belong to another environment than Options.EnvID
// (which readers of this environment would otherwise serve), and ErrClosed after Close.
func (w *Writer) Save(ctx context.Context, ds *fbclient.DataSet) error {
	if !ds.Full() {
		return errors.New("redisstore: Save takes a full data set, not a patch")
	}
	b, err := ds.MarshalJSON()
	if err != nil {
		return fmt.Errorf("redisstore: encoding the data set: %w", err)
	}
	savedAt := ds.SavedAt()
	if savedAt.IsZero() {
		savedAt = time.Now()
	}
	p := &pending{version: ds.Version(), savedAt: savedAt, data: b, items: splitItems(b)}
	for _, it := range p.items {
		if it.env != "" && !strings.EqualFold(it.env, w.opts.EnvID) {
			return fmt.Errorf("redisstore: the data set belongs to environment %s, not %s (Options.EnvID)", it.env, w.opts.EnvID)
		}
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	if w.latest != nil && w.latest.version > p.version {
		p = w.latest // an older set: keep offering the newer one
	} else {
		w.latest = p
	}
	w.mu.Unlock()
	if !w.inSync() {
		return nil // kept for when the client is in sync again
	}
	return w.write(ctx, p)
}

// SaveInterval returns 0: a client whose Config.Cache is the Writer saves each change as soon
// as the previous Save has returned, rather than at most once a second, so that readers get
// it within milliseconds. A Save is one script run in Redis. fbclient calls it once, in New.
func (w *Writer) SaveInterval() time.Duration { return 0 }

// Follow makes the Writer hold the lease only while c is Ready, that is in sync with FeatBit:
// when c turns Stale (its connection to FeatBit is lost), the Writer gives up the lease
// within LeaseTTL/3, so that a Writer whose client is in sync takes over, and takes part again
// once c is Ready. c is normally the client that has this Writer as its Cache; call Follow
// right after fbclient.New. Without Follow, the Writer holds the lease whatever its client's
// state.
func (w *Writer) Follow(c *fbclient.Client) { w.follow.Store(c) }

// inSync reports whether the followed client, if any, is Ready.
func (w *Writer) inSync() bool {
	c := w.follow.Load()
	return c == nil || c.Status().State == fbclient.StateReady
}

// write runs writeScript for p and records the outcome.
func (w *Writer) write(ctx context.Context, p *pending) error {
	w.mu.Lock()
	last := w.last
	w.mu.Unlock()
	from, patch := "", []byte(nil)
	if last != nil && last.version < p.version {
		if patch = diff(last.items, p.items, len(p.data)); patch != nil {
			from = strconv.FormatInt(last.version, 10)
		}
	}
	ttl := w.opts.LeaseTTL.Milliseconds()
	res, err := writeScript.Run(ctx, w.rdb, []string{w.keys.data, w.keys.lease},
		w.owner, ttl, p.version, p.data, w.keys.channel, from, patch, p.savedAt.UnixMilli()).Int()
	if err != nil {
		return fmt.Errorf("redisstore: writing the data set to %s: %w", w.keys.data, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.setHeldLocked(res >= 0)
	switch res {
	case 1:
		p.stored = true
		if w.last == nil || w.last.version < p.version {
			w.last = p
		}
		w.log.Debug("redisstore: data set written", "key", w.keys.data, "version", p.version)
	case 0:
		p.stored = true
		w.log.Debug("redisstore: Redis already holds this data set or a newer one", "key", w.keys.data, "version", p.version)
	}
	return nil
}

// setHeldLocked records whether this Writer holds the lease and logs a change.
func (w *Writer) setHeldLocked(held bool) {
	if held == w.held {
		return
	}
	w.held = held
	if held {
		w.log.Info("redisstore: took the writer lease", "key", w.keys.lease)
	} else {
		w.log.Info("redisstore: another writer holds the lease", "key", w.keys.lease)
	}
}

// run renews or takes the lease every LeaseTTL/3 until Close.
func (w *Writer) run() {
	defer close(w.done)
	t := time.NewTicker(w.opts.LeaseTTL / 3)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
		err := w.tick()
		switch {
		case err != nil && err.Error() != lastErr:
			w.log.Warn("redisstore: writer cannot reach Redis", "error", err)
		case err == nil && lastErr != "":
			w.log.Info("redisstore: writer reaches Redis again")
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
	}
}

// tick renews or takes the lease, and writes the newest data set when this Writer holds the
// lease and Redis may not have it: after a failed write, or when the lease was free (the
// holder died, or Redis lost its data).
func (w *Writer) tick() error {
	w.mu.Lock()
	p := w.latest
	w.mu.Unlock()
	if p == nil {
		return nil // nothing to offer: leave the lease to a writer with data
	}
	ctx, cancel := context.WithTimeout(w.ctx, w.opts.LeaseTTL/3)
	defer cancel()
	if !w.inSync() {
		return w.release(ctx, "its client is not in sync with FeatBit")
	}
	res, err := leaseScript.Run(ctx, w.rdb, []string{w.keys.lease}, w.owner, w.opts.LeaseTTL.Milliseconds()).Int()
	if err != nil {
		w.mu.Lock()
		w.setHeldLocked(false)
		w.mu.Unlock()
		return fmt.Errorf("redisstore: renewing the lease %s: %w", w.keys.lease, err)
	}
	w.mu.Lock()
	w.setHeldLocked(res > 0)
	if res == 2 {
		p.stored = false // a free lease: Redis may have lost the data with it
	}
	p = w.latest
	write := res > 0 && !p.stored
	w.mu.Unlock()
	if !write {
		return nil
	}
	return w.write(ctx, p)
}

// Close stops the lease goroutine and gives up the lease, so another Writer takes over at
// once. It returns nil; calling it again does nothing. Save fails with ErrClosed afterwards.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.cancel()
		<-w.done
		ctx, cancel := context.WithTimeout(context.Background(), min(w.opts.LeaseTTL/3, time.Second))
		defer cancel()
		if err := w.release(ctx, "the writer is closed"); err != nil {
			w.log.Warn("redisstore: could not give up the writer lease; it expires by itself", "key", w.keys.lease, "error", err)
		}
	})
	return nil
}

// release gives up the lease if this Writer holds it.
func (w *Writer) release(ctx context.Context, why string) error {
	n, err := releaseScript.Run(ctx, w.rdb, []string{w.keys.lease}, w.owner).Int()
	if err != nil {
		return fmt.Errorf("redisstore: giving up the lease %s: %w", w.keys.lease, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held = false
	if n > 0 {
		w.log.Info("redisstore: gave up the writer lease", "key", w.keys.lease, "reason", why)
	}
	return nil
}

// load reads the stored data set, with its SavedAt, and its version.
func load(ctx context.Context, rdb redis.UniversalClient, k keys) (*fbclient.DataSet, int64, error) {
	vals, err := rdb.HMGet(ctx, k.data, fieldVersion, fieldData, fieldSavedAt).Result()
	if err != nil {
		if wrongType(err) {
			return nil, 0, fmt.Errorf("%w (key %s): %w", ErrBadData, k.data, err)
		}
		return nil, 0, fmt.Errorf("redisstore: reading %s: %w", k.data, err)
	}
	if vals[0] == nil && vals[1] == nil {
		return nil, 0, fmt.Errorf("%w (key %s)", ErrNoData, k.data)
	}
	sv, _ := vals[0].(string)
	data, _ := vals[1].(string)
	v, err := strconv.ParseInt(sv, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("%w (key %s): version %q is not a number", ErrBadData, k.data, sv)
	}
	ds, err := fbclient.ParseDataSet([]byte(data))
	if err != nil {
		return nil, 0, fmt.Errorf("%w (key %s): %w", ErrBadData, k.data, err)
	}
	if !ds.Full() {
		return nil, 0, fmt.Errorf("%w (key %s): a patch, not a full data set", ErrBadData, k.data)
	}
	if ds.Version() != v {
		return nil, 0, fmt.Errorf("%w (key %s): the data is of version %d, not %d", ErrBadData, k.data, ds.Version(), v)
	}
	// A missing or unreadable time only costs Status.CachedAt; the data is good.
	if s, _ := vals[2].(string); s != "" {
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 {
			ds = ds.WithSavedAt(time.UnixMilli(ms))
		}
	}
	return ds, v, nil
}

// wrongType reports whether err is Redis's WRONGTYPE reply: the key holds another kind of
// value. An error reply starts with its code.
func wrongType(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "WRONGTYPE ")
}
