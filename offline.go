package fbclient

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/featflags/fbclient/internal/wire"
)

// This file holds Offline mode's data: a data set read once in New from Config.Data or
// Config.DataFile (in Config.DataFS if set), and, with Config.ReloadDataFile, a file data
// source that loads DataFile again when it changes, over the DataSource boundary.

// reloadCheckInterval is how often a reloading DataFile's modification time is checked.
const reloadCheckInterval = time.Second

// loadOffline loads the offline data set into the store and makes the client ready. With
// ReloadDataFile it also returns the file source that keeps the data current. An error
// matches ErrInvalidConfig.
func (c *Client) loadOffline() (*fileSource, error) {
	r := c.cfg
	var ds *wire.DataSync
	var src *fileSource
	switch {
	case r.Data != nil:
		var err error
		if ds, err = parseOffline(r.Data, time.Now()); err != nil {
			return nil, fmt.Errorf("%w: Data: %w", ErrInvalidConfig, err)
		}
	case r.DataFile != "":
		src = &fileSource{fsys: r.DataFS, name: r.DataFile}
		var err error
		if ds, err = src.load(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	default:
		ds = &wire.DataSync{EventType: wire.EventFull}
	}
	c.warnProblems(c.store.apply(ds))
	c.syncs.applied(true)
	if src != nil {
		c.log.Info("fbclient: loaded offline data", "file", r.DataFile, "flags", len(ds.FeatureFlags), "segments", len(ds.Segments))
	}
	c.markReady()
	if !r.ReloadDataFile {
		return nil, nil
	}
	src.every, src.sleep = reloadCheckInterval, c.timings().sleep
	return src, nil
}

// parseOffline parses an offline data set as a full data set, gives the items without
// updatedAt the version now, and checks that every item can be used: offline data is
// written by hand, so a mistake is an error rather than a skipped item.
func parseOffline(b []byte, now time.Time) (*wire.DataSync, error) {
	d, err := ParseDataSet(b)
	if err != nil {
		return nil, err
	}
	ds := d.ds
	ds.EventType = wire.EventFull
	stamp := wire.FormatVersion(now.UnixMilli())
	for i := range ds.FeatureFlags {
		if ds.FeatureFlags[i].UpdatedAt == "" {
			ds.FeatureFlags[i].UpdatedAt = stamp
		}
	}
	for i := range ds.Segments {
		if ds.Segments[i].UpdatedAt == "" {
			ds.Segments[i].UpdatedAt = stamp
		}
	}
	if _, res := prepare(ds); len(res.skipped) > 0 {
		return nil, errors.Join(res.skipped...)
	}
	return ds, nil
}

// fileSource is a DataFile, read from the operating system's file system or from an fs.FS.
// As a DataSource it checks the file's modification time and size every interval and loads
// it again when they changed. A file that cannot be loaded is reported once (Failed) and the
// client keeps the last good data set.
type fileSource struct {
	fsys fs.FS // nil: the operating system's file system
	name string

	every time.Duration
	sleep func(ctx context.Context, d time.Duration) bool

	seen fileState // of the last load attempt
}

// fileState tells whether a file changed: its modification time and size, or that it could
// not be found.
type fileState struct {
	mod     time.Time
	size    int64
	missing bool
}

func (s fileState) same(o fileState) bool {
	return s.mod.Equal(o.mod) && s.size == o.size && s.missing == o.missing
}

// state returns the file's current state.
func (f *fileSource) state() (fileState, error) {
	var info fs.FileInfo
	var err error
	if f.fsys != nil {
		info, err = fs.Stat(f.fsys, f.name)
	} else {
		info, err = os.Stat(f.name)
	}
	if err != nil {
		return fileState{missing: true}, err
	}
	return fileState{mod: info.ModTime(), size: info.Size()}, nil
}

// load reads and parses the file. It records the state the file had before it was read, so
// a change made while it is read is loaded at the next check. Errors name the file.
func (f *fileSource) load() (*wire.DataSync, error) {
	st, err := f.state()
	f.seen = st
	if err != nil {
		return nil, fmt.Errorf("cannot read DataFile: %w", err)
	}
	var b []byte
	if f.fsys != nil {
		b, err = fs.ReadFile(f.fsys, f.name)
	} else {
		b, err = os.ReadFile(f.name)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read DataFile: %w", err)
	}
	ds, err := parseOffline(b, time.Now())
	if err != nil {
		return nil, fmt.Errorf("DataFile %s: %w", f.name, err)
	}
	return ds, nil
}

// Run checks the file every interval until ctx ends.
func (f *fileSource) Run(ctx context.Context, sink DataSink) {
	for f.sleep(ctx, f.every) {
		st, _ := f.state()
		if st.same(f.seen) {
			continue
		}
		ds, err := f.load()
		if err != nil {
			sink.Logger().Warn("fbclient: cannot reload DataFile; keeping the last data set loaded", "error", err)
			sink.Failed(err, Fetch{})
			continue
		}
		sink.Apply(&DataSet{ds: ds}, Fetch{})
	}
}
