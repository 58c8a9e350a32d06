package fbclient

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/featflags/fbclient/internal/wire"
)

// snapshot is one immutable version of the data set. Readers load the current snapshot once
// per call, so a flag and the segments it uses always come from the same version.
type snapshot struct {
	// flags and segments hold every item received, archived ones included as tombstones:
	// their versions keep an older copy from coming back.
	flags    map[string]*flag
	segments map[string]*segment
	// live is the non-archived flags sorted by key.
	live []*flag
	// version is the largest item version seen: the timestamp to resume sync from.
	version int64
}

// flag returns the live flag with the given key, nil if it is unknown or archived.
func (s *snapshot) flag(key string) *flag {
	f := s.flags[key]
	if f == nil || f.archived {
		return nil
	}
	return f
}

// maxPending bounds the patches kept while waiting for the first full data set.
const maxPending = 1024

// store holds the current snapshot. Only the synchronizer writes; writers are serialized by
// mu and publish a new snapshot atomically, and readers take no lock.
type store struct {
	mu      sync.Mutex
	cur     atomic.Pointer[snapshot]
	pending []*wire.DataSync
}

// load returns the current snapshot, nil before the first full data set.
func (st *store) load() *snapshot { return st.cur.Load() }

// applyResult describes what one data-sync payload did to the store.
type applyResult struct {
	// full is set when the payload replaced the data set.
	full bool
	// initialized is set when the payload made the store ready for the first time.
	initialized bool
	// buffered is set when a patch arrived before any full data set and was kept to be
	// applied on top of it.
	buffered bool
	// changed is the sorted keys of flags whose definition changed, including through a
	// segment they use. The first full data set changes nothing: it initializes.
	changed []string
	// skipped describes the items that could not be used (no key, bad updatedAt).
	skipped []error
	// version is the store's data version after the payload.
	version int64
}

// apply commits a data-sync payload. A full data set replaces the store, then the patches
// that arrived before it are applied on top. A patch is applied item by item: an item
// replaces the stored copy only if its own version is newer, archived items are kept as
// tombstones, and a patch that arrives before the first full data set is kept until then.
func (st *store) apply(ds *wire.DataSync) applyResult {
	st.mu.Lock()
	defer st.mu.Unlock()
	items, res := prepare(ds)
	old := st.cur.Load()
	if ds.EventType != wire.EventFull && old == nil {
		if len(st.pending) < maxPending {
			st.pending = append(st.pending, ds)
		} else {
			res.skipped = append(res.skipped, fmt.Errorf("patch dropped: %d patches already wait for the first full data set", maxPending))
		}
		res.buffered = true
		return res
	}
	var next *snapshot
	if ds.EventType == wire.EventFull {
		res.full = true
		next = items.build()
		for _, p := range st.pending {
			pi, pr := prepare(p)
			res.skipped = append(res.skipped, pr.skipped...)
			next, _ = next.patch(pi)
		}
		st.pending = nil
		if old == nil {
			res.initialized = true
		} else {
			res.changed = diff(old, next)
		}
	} else {
		next, res.changed = old.patch(items)
	}
	st.cur.Store(next)
	res.version = next.version
	return res
}

// reset forgets everything, for tests.
func (st *store) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.cur.Store(nil)
	st.pending = nil
}

// prepared is a payload's usable items with their versions.
type prepared struct {
	flags    []*wire.Flag
	flagVers []int64
	segs     []*wire.Segment
	segVers  []int64
}

func prepare(ds *wire.DataSync) (prepared, applyResult) {
	var p prepared
	var res applyResult
	for i := range ds.Segments {
		s := &ds.Segments[i]
		v, err := wire.Version(s.UpdatedAt)
		switch {
		case s.ID == "":
			res.skipped = append(res.skipped, fmt.Errorf("segment #%d has no id", i))
		case err != nil:
			res.skipped = append(res.skipped, fmt.Errorf("segment %q: %w", s.ID, err))
		default:
			p.segs = append(p.segs, s)
			p.segVers = append(p.segVers, v)
		}
	}
	for i := range ds.FeatureFlags {
		f := &ds.FeatureFlags[i]
		v, err := wire.Version(f.UpdatedAt)
		switch {
		case f.Key == "":
			res.skipped = append(res.skipped, fmt.Errorf("flag #%d has no key", i))
		case err != nil:
			res.skipped = append(res.skipped, fmt.Errorf("flag %q: %w", f.Key, err))
		default:
			p.flags = append(p.flags, f)
			p.flagVers = append(p.flagVers, v)
		}
	}
	return p, res
}

// build compiles a full data set into a new snapshot. Where an item appears twice, the newer
// copy wins.
func (p prepared) build() *snapshot {
	s := &snapshot{
		flags:    make(map[string]*flag, len(p.flags)),
		segments: make(map[string]*segment, len(p.segs)),
	}
	for i, w := range p.segs {
		if cur := s.segments[w.ID]; cur == nil || cur.version < p.segVers[i] {
			s.segments[w.ID] = compileSegment(w, p.segVers[i])
		}
		s.version = max(s.version, p.segVers[i])
	}
	for i, w := range p.flags {
		if cur := s.flags[w.Key]; cur == nil || cur.version < p.flagVers[i] {
			s.flags[w.Key] = compileFlag(w, p.flagVers[i], s.segments)
		}
		s.version = max(s.version, p.flagVers[i])
	}
	s.index()
	return s
}

// patch returns a new snapshot with p's newer items applied, and the keys of the flags that
// changed. s is not modified.
func (s *snapshot) patch(p prepared) (*snapshot, []string) {
	next := &snapshot{flags: s.flags, segments: s.segments, live: s.live, version: s.version}
	var changedSegs map[string]bool
	for i, w := range p.segs {
		v := p.segVers[i]
		next.version = max(next.version, v)
		if cur := next.segments[w.ID]; cur != nil && cur.version >= v {
			continue
		}
		if changedSegs == nil {
			changedSegs = map[string]bool{}
			next.segments = maps.Clone(s.segments)
		}
		next.segments[w.ID] = compileSegment(w, v)
		changedSegs[w.ID] = true
	}
	changed := map[string]bool{}
	cloned := false
	cloneFlags := func() {
		if !cloned {
			next.flags = maps.Clone(s.flags)
			cloned = true
		}
	}
	for i, w := range p.flags {
		v := p.flagVers[i]
		next.version = max(next.version, v)
		cur := next.flags[w.Key]
		if cur != nil && cur.version >= v {
			continue
		}
		cloneFlags()
		next.flags[w.Key] = compileFlag(w, v, next.segments)
		if !w.IsArchived || (cur != nil && !cur.archived) {
			changed[w.Key] = true
		}
	}
	if len(changedSegs) > 0 {
		for key, f := range next.flags {
			if f.archived || changed[key] || !usesAny(f, changedSegs) {
				continue
			}
			cloneFlags()
			next.flags[key] = f.relinked(next.segments)
			changed[key] = true
		}
	}
	if !cloned && changedSegs == nil {
		return next, nil
	}
	next.index()
	return next, sortedKeys(changed)
}

func usesAny(f *flag, segs map[string]bool) bool {
	for _, id := range f.segmentIDs {
		if segs[id] {
			return true
		}
	}
	return false
}

// index rebuilds the sorted list of live flags.
func (s *snapshot) index() {
	s.live = make([]*flag, 0, len(s.flags))
	for _, f := range s.flags {
		if !f.archived {
			s.live = append(s.live, f)
		}
	}
	slices.SortFunc(s.live, func(a, b *flag) int { return strings.Compare(a.key, b.key) })
}

// diff returns the keys of flags that differ between two snapshots: added, removed,
// archived, restored or updated, or using a segment that did.
func diff(old, next *snapshot) []string {
	segChanged := map[string]bool{}
	for id, s := range next.segments {
		if o := old.segments[id]; o == nil || o.version != s.version || o.archived != s.archived {
			segChanged[id] = true
		}
	}
	for id := range old.segments {
		if next.segments[id] == nil {
			segChanged[id] = true
		}
	}
	changed := map[string]bool{}
	for key, f := range next.flags {
		o := old.flags[key]
		wasLive := o != nil && !o.archived
		if f.archived {
			if wasLive {
				changed[key] = true
			}
			continue
		}
		if !wasLive || o.version != f.version || usesAny(f, segChanged) {
			changed[key] = true
		}
	}
	for key, o := range old.flags {
		if next.flags[key] == nil && !o.archived {
			changed[key] = true
		}
	}
	return sortedKeys(changed)
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
