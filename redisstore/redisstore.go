// Package redisstore shares one FeatBit data set between many fbclient clients through Redis.
//
// A Writer is an fbclient.Cache: a client connected to FeatBit saves every full data set it
// commits into Redis, at once (see Writer.SaveInterval), and any client can load it to start
// warm when FeatBit is unreachable.
// Any number of processes may run a Writer for the same environment; a lease in Redis lets one
// of them write at a time, and another takes over when it dies.
//
// A DataSource is an fbclient.DataSource for clients in "daemon mode": they open no
// connection to FeatBit and take their data from Redis, reading the whole data set at start
// and again whenever a writer publishes a change, with a periodic version check that repairs
// a missed notification. Evaluation stays in the client's memory.
//
// Both take the caller's redis.UniversalClient, so a single node, Sentinel and Cluster all
// work (only a single node is tested), and both keep their keys under Options.Prefix and
// the environment's id, so several environments share one Redis. Nothing secret is stored:
// the data set holds flags and segments only, and keys carry the environment id, never the
// env secret.
//
// Redis layout, for prefix P and environment id E (the braces are a Cluster hash tag that
// keeps both keys in one slot):
//
//	P:{E}:data     hash: "version" (the data set's version, Unix ms), "data" (the full
//	               data set as FeatBit's data-sync JSON) and "savedAt" (when the writer's
//	               client saved it, Unix ms); written whole by one script
//	P:{E}:lease    string: the id of the Writer that may write; expires after LeaseTTL
//	P:{E}:changed  channel: a Writer publishes the new version after every write
package redisstore

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/featflags/fbclient"
)

// Defaults of Options.
const (
	DefaultPrefix        = "fbclient"
	DefaultLeaseTTL      = 10 * time.Second
	MinLeaseTTL          = 100 * time.Millisecond
	DefaultCheckInterval = 5 * time.Second
	MinCheckInterval     = 10 * time.Millisecond
)

// Errors. A DataSource reports them through the client's status (Status.Err).
var (
	// ErrNoData: Redis holds no data set for the environment, because no writer has saved one
	// yet (or Redis lost it). A DataSource keeps checking.
	ErrNoData = errors.New("redisstore: Redis holds no data for this environment")
	// ErrNoWriter: no Writer holds the lease, so nobody keeps the data in Redis current. A
	// DataSource serves the data it has, and its client is stale until a writer is back.
	ErrNoWriter = errors.New("redisstore: no writer holds the lease; the data in Redis may be out of date")
	// ErrBadData: the value in Redis is not a data set this package wrote (corrupted, or
	// written by something else). It is skipped and the last good data is kept.
	ErrBadData = errors.New("redisstore: the value in Redis is not a usable data set")
	// ErrClosed is returned by Writer.Save after Writer.Close.
	ErrClosed = errors.New("redisstore: writer closed")
)

// Options configures a Writer or a DataSource. The zero value of every field but EnvID means
// its default. Writers and readers of one environment must use the same EnvID and Prefix.
type Options struct {
	// EnvID is the id of the FeatBit environment whose data is kept. Required. The env
	// secret carries it: fbclient.EnvIDFromSecret(secret) returns it. It is stored in lower
	// case and must not contain braces or white space.
	EnvID string

	// Prefix starts every key and channel name. Default "fbclient". It must not contain
	// braces or white space.
	Prefix string

	// LeaseTTL (Writer) is how long the writer lease lasts without renewal. The holder
	// renews it every LeaseTTL/3; when the holder dies, another Writer takes over within
	// LeaseTTL + LeaseTTL/3 (at once after a Writer.Close). Default 10 s, minimum 100 ms.
	LeaseTTL time.Duration

	// Logger (Writer) receives the writer's log records: lease taken and lost, failed
	// writes. Default: none. A DataSource logs to its client's logger.
	Logger *slog.Logger

	// CheckInterval (DataSource) is the time between version checks, which repair a missed
	// notification and tell whether Redis answers and a writer is alive. While Redis fails,
	// checks are retried every second, or every CheckInterval if that is shorter. Default
	// 5 s, minimum 10 ms.
	CheckInterval time.Duration
}

// keys are the Redis names of one environment.
type keys struct {
	data, lease, channel string
}

// resolve validates o and applies the defaults.
func (o Options) resolve() (Options, keys, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: redisstore: %s", fbclient.ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	o.EnvID = strings.ToLower(o.EnvID)
	if o.EnvID == "" {
		bad("EnvID is required (fbclient.EnvIDFromSecret returns it)")
	} else if !plainName(o.EnvID) {
		bad("EnvID %q contains braces or white space", o.EnvID)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	} else if !plainName(o.Prefix) {
		bad("Prefix %q contains braces or white space", o.Prefix)
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	} else if o.LeaseTTL < MinLeaseTTL {
		bad("LeaseTTL %v is below the minimum of %v", o.LeaseTTL, MinLeaseTTL)
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = DefaultCheckInterval
	} else if o.CheckInterval < MinCheckInterval {
		bad("CheckInterval %v is below the minimum of %v", o.CheckInterval, MinCheckInterval)
	}
	if len(errs) > 0 {
		return o, keys{}, errors.Join(errs...)
	}
	base := o.Prefix + ":{" + o.EnvID + "}:"
	return o, keys{data: base + "data", lease: base + "lease", channel: base + "changed"}, nil
}

// plainName reports whether s can go into a key: no hash-tag braces, no white space or
// control characters.
func plainName(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r == '{' || r == '}' || r <= ' ' || r == 0x7f })
}

// Hash fields of the data key.
const (
	fieldVersion = "version"
	fieldData    = "data"
	fieldSavedAt = "savedAt"
)
