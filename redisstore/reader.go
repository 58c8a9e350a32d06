package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/featflags/fbclient"
	"github.com/redis/go-redis/v9"
)

// DataSource gives a client its data from Redis, where a Writer keeps it: set it as
// Config.DataSource, and the client opens no connection to FeatBit for flag data.
//
// Run reads the whole data set at start and again when a Writer publishes a newer version;
// every CheckInterval it checks the stored version, which repairs a missed notification.
// The client's status follows what Redis tells:
//
//   - Ready: Redis answers, a Writer holds the lease, and the client has the stored data set.
//   - Stale, Status.Err ErrNoWriter: no Writer holds the lease, so the data may be out of date.
//   - Stale, Status.Err the Redis error: Redis cannot be reached. Checks are retried every
//     second (or CheckInterval if shorter); the client is Ready again when Redis answers.
//   - Stale, Status.Err ErrBadData: the stored value cannot be used. It is skipped with a
//     warning and the last good data set is kept.
//   - NotReady, Status.Err ErrNoData: Redis holds no data for the environment yet. The client
//     becomes ready when a Writer saves it.
//
// The client keeps serving the last data set it applied in every case; a stored set older
// than the one it serves is not applied. One DataSource may serve several clients: each Run
// is independent. A client of a DataSource may have a Config.Cache of its own (an
// fbclient.FileCache) to start warm when Redis is unreachable at start; while it serves the
// cached data set (DataSink.Version is 0), Run gives it the whole stored set, never a patch.
type DataSource struct {
	rdb  redis.UniversalClient
	opts Options
	keys keys
}

// NewDataSource returns a DataSource that reads the data of environment opts.EnvID from rdb.
// For invalid Options it returns an error matching fbclient.ErrInvalidConfig.
func NewDataSource(rdb redis.UniversalClient, opts Options) (*DataSource, error) {
	o, k, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if rdb == nil {
		return nil, fmt.Errorf("%w: redisstore: the Redis client is nil", fbclient.ErrInvalidConfig)
	}
	return &DataSource{rdb: rdb, opts: o, keys: k}, nil
}

// retryInterval is the time between checks while Redis cannot be reached.
func (s *DataSource) retryInterval() time.Duration { return min(s.opts.CheckInterval, time.Second) }

// opTimeout bounds one check.
func (s *DataSource) opTimeout() time.Duration { return max(s.opts.CheckInterval, 2*time.Second) }

// pingInterval is how long the subscription may be silent before it is pinged; a ping
// unanswered for as long again makes it reconnect.
func (s *DataSource) pingInterval() time.Duration { return max(s.opts.CheckInterval, time.Second) }

// Run keeps sink's data set in step with Redis until ctx is done. It implements
// fbclient.DataSource; the client calls it.
func (s *DataSource) Run(ctx context.Context, sink fbclient.DataSink) {
	wake := make(chan struct{}, 1)
	notes := make(chan string, 64)
	lctx, cancel := context.WithCancel(ctx)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		s.listen(lctx, notes, wake)
	}()
	defer func() {
		cancel()
		<-listening
	}()

	r := &reader{s: s, sink: sink, log: sink.Logger(), applied: -1}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		case msg := <-notes:
			if r.patch(msg) {
				continue
			}
		}
		next := s.opts.CheckInterval
		if r.check(ctx) {
			next = s.retryInterval()
		}
		t.Reset(next)
	}
}

// reader is the state of one Run.
type reader struct {
	s       *DataSource
	sink    fbclient.DataSink
	log     *slog.Logger
	applied int64  // version of the last data set applied; -1 before the first (see syncHeld)
	failing bool   // sink.Failed was called since the last Apply
	problem string // the last problem logged, so that each is logged once
}

// check compares the stored version with the applied one, applies a newer data set, and
// reports problems to the sink. It returns true when Redis could not be reached.
func (r *reader) check(ctx context.Context) (unreachable bool) {
	ctx, cancel := context.WithTimeout(ctx, r.s.opTimeout())
	defer cancel()
	v, writer, err := r.probe(ctx)
	if err != nil {
		return r.fail(err)
	}
	r.syncHeld()
	if v < r.applied && r.failing && writer {
		return r.fail(fmt.Errorf("%w (key %s): Redis holds version %d, older than the %d served", ErrBadData, r.s.keys.data, v, r.applied))
	}
	f := fbclient.Fetch{Timestamp: max(r.applied, 0)}
	switch {
	case v > r.applied:
		r.sink.Started(f)
		ds, v, err := load(ctx, r.s.rdb, r.s.keys)
		if err != nil {
			return r.fail(err)
		}
		if v < r.applied {
			break // replaced meanwhile by an older set; the next check reports it
		}
		r.sink.Apply(ds, f)
		r.applied = v
		r.recovered(writer)
	case v == r.applied && r.failing && writer:
		r.sink.Apply(nil, f) // nothing changed: the client is in step again
		r.recovered(writer)
	}
	if !writer {
		return r.fail(fmt.Errorf("%w (key %s)", ErrNoWriter, r.s.keys.lease))
	}
	return false
}

// patch handles a change notification (see patch.go): it applies the patch it carries when
// the client holds exactly the version the patch starts from, and reports whether that, or
// the client holding the notified version already, made a check unnecessary.
func (r *reader) patch(msg string) bool {
	ver, rest, _ := strings.Cut(msg, " ")
	v, err := strconv.ParseInt(ver, 10, 64)
	if err != nil || r.failing {
		return false
	}
	r.syncHeld()
	if v <= r.applied {
		return true
	}
	from, data, ok := strings.Cut(rest, " ")
	if !ok {
		return false
	}
	if f, err := strconv.ParseInt(from, 10, 64); err != nil || f != r.applied {
		return false
	}
	ds, err := fbclient.ParseDataSet([]byte(data))
	if err != nil || ds.Full() || ds.Version() != v {
		return false
	}
	f := fbclient.Fetch{Timestamp: r.applied}
	r.sink.Started(f)
	r.sink.Apply(ds, f)
	r.applied = v
	return true
}

// syncHeld forgets the version applied when the client holds no data set from this source,
// which it tells with DataSink.Version 0 (while it serves a data set loaded from its
// Config.Cache, for one): the reader then reads the full set instead of sending a patch or
// nothing. An applied empty data set is of version 0 too, so only a positive version can be
// lost.
func (r *reader) syncHeld() {
	if r.applied > 0 && r.sink.Version() == 0 {
		r.applied = -1
	}
}

// recovered records that the client has the stored data set again.
func (r *reader) recovered(writer bool) {
	r.failing = false
	if r.problem != "" && writer {
		r.log.Info("redisstore: data from Redis is current again", "key", r.s.keys.data, "version", r.applied)
		r.problem = ""
	}
}

// probe reads the stored version and whether a Writer holds the lease, in one round trip.
func (r *reader) probe(ctx context.Context) (version int64, writer bool, err error) {
	var ver *redis.StringCmd
	var lease *redis.IntCmd
	_, _ = r.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ver = p.HGet(ctx, r.s.keys.data, fieldVersion)
		lease = p.Exists(ctx, r.s.keys.lease)
		return nil
	})
	if err := lease.Err(); err != nil {
		return 0, false, fmt.Errorf("redisstore: reading %s: %w", r.s.keys.lease, err)
	}
	sv, err := ver.Result()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, false, fmt.Errorf("%w (key %s)", ErrNoData, r.s.keys.data)
	case wrongType(err):
		return 0, false, fmt.Errorf("%w (key %s): %w", ErrBadData, r.s.keys.data, err)
	case err != nil:
		return 0, false, fmt.Errorf("redisstore: reading %s: %w", r.s.keys.data, err)
	}
	v, err := strconv.ParseInt(sv, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%w (key %s): version %q is not a number", ErrBadData, r.s.keys.data, sv)
	}
	return v, lease.Val() > 0, nil
}

// fail reports err to the sink, logs it if it is new, and returns true when Redis could not
// be reached.
func (r *reader) fail(err error) bool {
	r.failing = true
	r.sink.Failed(err, fbclient.Fetch{Timestamp: max(r.applied, 0)})
	if msg := err.Error(); msg != r.problem {
		r.problem = msg
		if errors.Is(err, ErrBadData) {
			r.log.Warn("redisstore: skipped a value in Redis that is not a usable data set; keeping the last good data", "error", err)
		} else {
			r.log.Warn("redisstore: data from Redis is not current", "error", err)
		}
	}
	return !errors.Is(err, ErrNoData) && !errors.Is(err, ErrNoWriter) && !errors.Is(err, ErrBadData)
}

// listen subscribes to the change channel until ctx is done. It passes every notification
// to notes, and signals wake for every (re)subscription and for a notification that notes
// has no room for. A lost subscription is opened again after retryInterval.
func (s *DataSource) listen(ctx context.Context, notes chan<- string, wake chan<- struct{}) {
	for {
		s.subscribe(ctx, notes, wake)
		t := time.NewTimer(s.retryInterval())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// subscribe runs one subscription until it fails or ctx is done.
func (s *DataSource) subscribe(ctx context.Context, notes chan<- string, wake chan<- struct{}) {
	ps := s.rdb.Subscribe(ctx, s.keys.channel)
	defer ps.Close()
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // unblocks ReceiveTimeout
	defer stop()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.pingInterval())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged && ps.Ping(ctx) == nil {
				pinged = true
				continue
			}
			return
		}
		pinged = false
		switch msg := msg.(type) {
		case *redis.Message:
			select {
			case notes <- msg.Payload:
				continue
			default:
			}
		case *redis.Subscription:
		default:
			continue
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}
