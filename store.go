package fbclient

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/featflags/fbclient/internal/wire"
)

// snapshot is one immutable version of the data set. Readers load the current snapshot once
// per call, so a flag and the segments it uses always come from the same version.
//
// A patch must not cost a copy of every flag: the flags of a full data set are in base, which
// the snapshots patched from it share, and the flags patched since are in recent, a small map
// that each patch copies and that takes precedence over base. When recent outgrows
// maxRecent, a patch folds it into a new base.
type snapshot struct {
	// base and recent hold every flag received, archived ones included as tombstones: their
	// versions keep an older copy from coming back. So does segments.
	base     map[string]*flag
	recent   map[string]*flag
	segments map[string]*segment
	// baseLive is the non-archived flags of base sorted by key, recentByKey the flags of
	// recent sorted by key: live merges them.
	baseLive    []*flag
	recentByKey []*flag
	// version is the largest item version seen: the timestamp to resume sync from.
	version int64
}

// maxRecent bounds the flags a snapshot holds apart from its base: a patch copies up to that
// many entries, and one patch in that many copies the base. The square root of the number
// of flags balances the two; it is at least minRecent.
func (s *snapshot) maxRecent() int {
	return max(minRecent, int(math.Sqrt(float64(len(s.base)))))
}

const minRecent = 64

// flag returns the live flag with the given key, nil if it is unknown or archived.
func (s *snapshot) flag(key string) *flag {
	var f *flag
	if len(s.recent) > 0 {
		f = s.recent[key]
	}
	if f == nil {
		f = s.base[key]
	}
	if f == nil || f.archived {
		return nil
	}
	return f
}

// item returns the flag stored under key, archived or not.
func (s *snapshot) item(key string) *flag {
	if f := s.recent[key]; f != nil {
		return f
	}
	return s.base[key]
}

// flags yields every flag stored, archived ones included, in no particular order.
func (s *snapshot) flags() iter.Seq2[string, *flag] {
	return func(yield func(string, *flag) bool) {
		for key, f := range s.recent {
			if !yield(key, f) {
				return
			}
		}
		for key, f := range s.base {
			if _, ok := s.recent[key]; ok {
				continue
			}
			if !yield(key, f) {
				return
			}
		}
	}
}

// live returns the non-archived flags sorted by key. The slice may be shared: callers must
// not modify it.
func (s *snapshot) live() []*flag {
	return splice(s.baseLive, s.recentByKey, false)
}

// dataSet returns the snapshot's items, archived ones included, as a full data set in
// FeatBit's form, flags sorted by key and segments by id. It shares the items' wire data,
// which nothing modifies; only a store with keepSource set keeps that data.
func (s *snapshot) dataSet() *DataSet {
	ds := &wire.DataSync{
		EventType:    wire.EventFull,
		FeatureFlags: make([]wire.Flag, 0, len(s.base)+len(s.recent)),
		Segments:     make([]wire.Segment, 0, len(s.segments)),
	}
	for _, f := range s.flags() {
		ds.FeatureFlags = append(ds.FeatureFlags, f.src)
	}
	for _, sg := range s.segments {
		ds.Segments = append(ds.Segments, sg.src)
	}
	slices.SortFunc(ds.FeatureFlags, func(a, b wire.Flag) int { return strings.Compare(a.Key, b.Key) })
	slices.SortFunc(ds.Segments, func(a, b wire.Segment) int { return strings.Compare(a.ID, b.ID) })
	return &DataSet{ds: ds}
}

// maxPending bounds the patches kept while waiting for the first full data set.
const maxPending = 1024

// store holds the current snapshot. Only the data sink writes (sink.go, and its warm start
// from Config.Cache in cache.go), and the offline load before any sink runs; writers are
// serialized by mu and publish a new snapshot atomically, and readers take no lock. The store keeps the
// wire items it is given: a data set must not be modified once applied.
type store struct {
	mu  sync.Mutex
	cur atomic.Pointer[snapshot]
	// pending holds the patches to apply again over the next full data set: those that
	// come before the first one, and, while the data set came from a cache (cached), those
	// applied over it, so that a full data set older than a patch does not undo it.
	pending []*wire.DataSync
	cached  bool
	// keepSource keeps each item's wire definition in the snapshot, for snapshot.dataSet:
	// set before the first apply when the client has a Cache to save to. Without it the
	// wire data is left to the garbage collector (about 9 MiB at 10,000 flags).
	keepSource bool
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

// apply commits a data-sync payload. A full data set replaces the store, then the pending
// patches are applied on top. A patch is applied item by item: an item replaces the stored
// copy only if its own version is newer, and archived items are kept as tombstones. A patch
// that arrives before the first full data set is kept until then; one applied over a cached
// data set is also kept for the next full data set.
func (st *store) apply(ds *wire.DataSync) applyResult {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.applyLocked(ds)
}

// applyCached commits a full data set loaded from a cache: the patches applied over it are
// kept until a full data set replaces it.
func (st *store) applyCached(ds *wire.DataSync) applyResult {
	st.mu.Lock()
	defer st.mu.Unlock()
	res := st.applyLocked(ds)
	st.cached = true
	return res
}

func (st *store) applyLocked(ds *wire.DataSync) applyResult {
	items, res := prepare(ds)
	items.keepSource = st.keepSource
	old := st.cur.Load()
	if ds.EventType != wire.EventFull && (old == nil || st.cached) {
		if len(st.pending) < maxPending {
			st.pending = append(st.pending, ds)
		} else {
			res.skipped = append(res.skipped, fmt.Errorf("patch not kept: %d patches already wait for a full data set", maxPending))
		}
		if old == nil {
			res.buffered = true
			return res
		}
	}
	var next *snapshot
	if ds.EventType == wire.EventFull {
		res.full = true
		st.cached = false
		next = items.build()
		for _, p := range st.pending {
			pi, pr := prepare(p)
			pi.keepSource = st.keepSource
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

// prepared is a payload's usable items with their versions.
type prepared struct {
	flags      []*wire.Flag
	flagVers   []int64
	segs       []*wire.Segment
	segVers    []int64
	keepSource bool // see store.keepSource
}

// flag compiles a flag of the payload, keeping its wire definition only if asked to.
func (p *prepared) flag(w *wire.Flag, version int64, segments map[string]*segment) *flag {
	f := compileFlag(w, version, segments)
	if !p.keepSource {
		f.src = wire.Flag{}
	}
	return f
}

// segment compiles a segment of the payload, keeping its wire definition only if asked to.
func (p *prepared) segment(w *wire.Segment, version int64) *segment {
	sg := compileSegment(w, version)
	if !p.keepSource {
		sg.src = wire.Segment{}
	}
	return sg
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
		base:     make(map[string]*flag, len(p.flags)),
		segments: make(map[string]*segment, len(p.segs)),
	}
	for i, w := range p.segs {
		if cur := s.segments[w.ID]; cur == nil || cur.version < p.segVers[i] {
			s.segments[w.ID] = p.segment(w, p.segVers[i])
		}
		s.version = max(s.version, p.segVers[i])
	}
	for i, w := range p.flags {
		if cur := s.base[w.Key]; cur == nil || cur.version < p.flagVers[i] {
			s.base[w.Key] = p.flag(w, p.flagVers[i], s.segments)
		}
		s.version = max(s.version, p.flagVers[i])
	}
	s.baseLive = make([]*flag, 0, len(s.base))
	for _, f := range s.base {
		if !f.archived {
			s.baseLive = append(s.baseLive, f)
		}
	}
	slices.SortFunc(s.baseLive, byKey)
	return s
}

func byKey(a, b *flag) int { return strings.Compare(a.key, b.key) }

// patch returns a new snapshot with p's newer items applied, and the keys of the flags that
// changed. s is not modified.
func (s *snapshot) patch(p prepared) (*snapshot, []string) {
	next := &snapshot{base: s.base, recent: s.recent, segments: s.segments, baseLive: s.baseLive, recentByKey: s.recentByKey, version: s.version}
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
		next.segments[w.ID] = p.segment(w, v)
		changedSegs[w.ID] = true
	}
	// updated holds the flags that replace stored ones; changed the keys of those that
	// changed for a reader.
	updated := map[string]*flag{}
	changed := map[string]bool{}
	for i, w := range p.flags {
		v := p.flagVers[i]
		next.version = max(next.version, v)
		cur := updated[w.Key]
		if cur == nil {
			cur = s.item(w.Key)
		}
		if cur != nil && cur.version >= v {
			continue
		}
		updated[w.Key] = p.flag(w, v, next.segments)
		if !w.IsArchived || (cur != nil && !cur.archived) {
			changed[w.Key] = true
		}
	}
	if len(changedSegs) > 0 {
		for key, f := range s.flags() {
			if f.archived || updated[key] != nil || !usesAny(f, changedSegs) {
				continue
			}
			updated[key] = f.relinked(next.segments)
			changed[key] = true
		}
	}
	if len(updated) == 0 {
		return next, nil
	}
	byKeyUpdated := slices.SortedFunc(maps.Values(updated), byKey)
	recentByKey := splice(s.recentByKey, byKeyUpdated, true)
	if len(s.recent)+len(updated) > s.maxRecent() {
		next.base = maps.Clone(s.base)
		maps.Copy(next.base, s.recent)
		maps.Copy(next.base, updated)
		next.baseLive = splice(s.baseLive, recentByKey, false)
		next.recent, next.recentByKey = nil, nil
	} else {
		next.recent = maps.Clone(s.recent)
		if next.recent == nil {
			next.recent = make(map[string]*flag, len(updated))
		}
		maps.Copy(next.recent, updated)
		next.recentByKey = recentByKey
	}
	return next, sortedKeys(changed)
}

// splice returns list, sorted by key, with the flags of changes (sorted by key) in place of
// those with the same keys, and left out if archived unless keepArchived is set. The result
// may share memory with list.
func splice(list, changes []*flag, keepArchived bool) []*flag {
	if len(changes) == 0 {
		return list
	}
	out := make([]*flag, 0, len(list)+len(changes))
	rest := list
	for _, f := range changes {
		i, found := slices.BinarySearchFunc(rest, f.key, func(e *flag, key string) int { return cmp.Compare(e.key, key) })
		out = append(out, rest[:i]...)
		if found {
			i++
		}
		rest = rest[i:]
		if keepArchived || !f.archived {
			out = append(out, f)
		}
	}
	return append(out, rest...)
}

func usesAny(f *flag, segs map[string]bool) bool {
	for _, id := range f.segmentIDs {
		if segs[id] {
			return true
		}
	}
	return false
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
	for key, f := range next.flags() {
		o := old.item(key)
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
	for key, o := range old.flags() {
		if next.item(key) == nil && !o.archived {
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
