package fbclient

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/featflags/fbclient/internal/rollout"
	"github.com/featflags/fbclient/internal/wire"
)

// This file turns wire flags and segments into their compiled forms. Everything evaluation
// needs is resolved here, once, when a data set arrives: variation ids to pointers, values to
// their typed forms, condition operands to numbers, sets and regexes, segment ids to
// segments. Malformed definitions never fail compilation: they compile to conditions that
// are false or to a flag whose evaluation reports ReasonError, where FeatBit's evaluation
// server would throw.

// flagType is a flag's variationType.
type flagType uint8

const (
	typeUnknown flagType = iota
	typeBoolean
	typeString
	typeNumber
	typeJSON
)

func parseFlagType(s string) flagType {
	switch s {
	case "boolean":
		return typeBoolean
	case "string":
		return typeString
	case "number":
		return typeNumber
	case "json":
		return typeJSON
	}
	return typeUnknown
}

func (t flagType) String() string {
	switch t {
	case typeBoolean:
		return "boolean"
	case typeString:
		return "string"
	case typeNumber:
		return "number"
	case typeJSON:
		return "json"
	}
	return "unknown"
}

// variation is a servable value with its typed forms parsed once.
type variation struct {
	id    string
	value string

	boolVal  bool
	boolOK   bool
	intVal   int
	intOK    bool
	floatVal float64
	floatOK  bool
}

func newVariation(id, value string, t flagType) variation {
	v := variation{id: id, value: value}
	v.boolVal, v.boolOK = parseBool(value, t)
	if t == typeNumber || t == typeString || t == typeJSON {
		if f, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			v.floatVal, v.floatOK = f, true
			if f == math.Trunc(f) && f >= math.MinInt && f < math.MaxInt {
				v.intVal, v.intOK = int(f), true
			}
		}
	}
	return v
}

// parseBool accepts "true" and "false" in any case, and the other forms FeatBit's Go SDK
// accepts through strconv.ParseBool ("1", "t", "T", "0", "f", "F"), for boolean, string and
// json flags. A number flag never converts to bool.
func parseBool(s string, t flagType) (bool, bool) {
	if t == typeNumber || t == typeUnknown {
		return false, false
	}
	switch {
	case equalFoldASCII(s, "true"), s == "1", s == "t", s == "T":
		return true, true
	case equalFoldASCII(s, "false"), s == "0", s == "f", s == "F":
		return false, true
	}
	return false, false
}

// flag is a compiled feature flag. It is never modified after it is published in a snapshot.
type flag struct {
	key      string
	name     string
	typ      flagType
	version  int64
	archived bool
	enabled  bool

	variations  []variation
	off         *variation
	targets     keyMap
	exptTargets bool
	rules       []rule
	deflt       dispatch

	// segmentIDs lists the segments the flag's rules refer to, so a segment change finds
	// the flags it affects.
	segmentIDs []string
	// err is set when the flag cannot be evaluated at all; evaluation then returns the
	// caller's default with ReasonError and this error.
	err error
	// src is the definition the flag was compiled from, for a Cache; empty when the store
	// does not keep definitions (store.keepSource).
	src wire.Flag
	// problems describes the parts of the definition that can never work (see checkFlag).
	problems []string
}

// rule is a compiled targeting rule.
type rule struct {
	name        string
	conditions  []condition
	hasSegments bool
	dispatch
}

// dispatch is a compiled rollout: the attribute that picks the bucket and the slices.
type dispatch struct {
	by     attrSelector
	inExpt bool
	slices []slice
	// err is set when the rollout cannot serve anything (no slices, or a slice names an
	// unknown variation).
	err error
}

// slice is one variation's share of a rollout.
type slice struct {
	lo, hi      float64
	v           *variation
	full, empty bool
	// exptBound is the share of this slice's users sent to experiments, in [0, 1], and
	// exptFull/exptNone its shortcuts.
	exptBound          float64
	exptFull, exptNone bool
}

// compileFlag compiles a wire flag. segments resolves the segment conditions; it may be nil
// for a flag whose segments will be linked later.
func compileFlag(w *wire.Flag, version int64, segments map[string]*segment) *flag {
	f := &flag{
		key:         w.Key,
		name:        w.Name,
		typ:         parseFlagType(w.VariationType),
		version:     version,
		archived:    w.IsArchived,
		enabled:     w.IsEnabled,
		exptTargets: w.ExptIncludeAllTargets,
		src:         *w,
	}
	if f.archived {
		return f
	}
	if f.typ == typeUnknown {
		f.err = fmt.Errorf("%w: flag %q has unknown variationType %q", ErrEvaluation, w.Key, w.VariationType)
	}
	f.variations = make([]variation, len(w.Variations))
	for i, v := range w.Variations {
		f.variations[i] = newVariation(v.ID, v.Value, f.typ)
	}
	f.off = f.variation(w.DisabledVariationID)
	if f.off == nil && !f.enabled && f.err == nil {
		f.err = fmt.Errorf("%w: flag %q is off and its disabledVariationId %q is not one of its variations", ErrEvaluation, w.Key, w.DisabledVariationID)
	}

	n := 0
	for _, t := range w.TargetUsers {
		n += len(t.KeyIDs)
	}
	f.targets = newKeyMap(n)
	for _, t := range w.TargetUsers {
		v := f.variation(t.VariationID)
		for _, k := range t.KeyIDs {
			// The first target list naming a key wins, as FeatBit scans them in order. A
			// target with an unknown variation is skipped: the user falls to the rules.
			if v != nil && f.targets.get(k) == nil {
				f.targets.put(k, v)
			}
		}
	}

	var slots slotNames
	f.rules = make([]rule, len(w.Rules))
	for i := range w.Rules {
		wr := &w.Rules[i]
		r := &f.rules[i]
		r.name = wr.Name
		r.dispatch = f.compileDispatch(wr.DispatchKey, wr.IncludedInExpt, wr.Variations, wr.Name)
		r.dispatch.by.assignSlot(&slots)
		r.conditions = make([]condition, len(wr.Conditions))
		for j := range wr.Conditions {
			r.conditions[j] = compileCondition(&wr.Conditions[j], true)
			r.conditions[j].attr.assignSlot(&slots)
			if ids := r.conditions[j].segmentIDs; ids != nil {
				r.hasSegments = true
				for _, id := range ids {
					if !slices.Contains(f.segmentIDs, id) {
						f.segmentIDs = append(f.segmentIDs, id)
					}
				}
			}
		}
	}
	f.deflt = f.compileDispatch(w.Fallthrough.DispatchKey, w.Fallthrough.IncludedInExpt, w.Fallthrough.Variations, "")
	f.deflt.by.assignSlot(&slots)
	f.link(segments)
	f.problems = checkFlag(w, f)
	return f
}

// assignSlot gives a custom attribute the flag's slot for its name, allocating one if there
// is room.
func (s *attrSelector) assignSlot(slots *slotNames) {
	if s.kind != attrCustom {
		return
	}
	if i := slices.Index(slots.names[:slots.n], s.name); i >= 0 {
		s.slot = int8(i)
		return
	}
	if slots.n < maxSlots {
		s.slot = int8(slots.n)
		slots.names[slots.n] = s.name
		slots.n++
	}
}

// slotNames are the custom attribute names that have a slot, in slot order.
type slotNames struct {
	names [maxSlots]string
	n     int
}

// variation returns the flag's variation with the given id, nil if there is none.
func (f *flag) variation(id string) *variation {
	for i := range f.variations {
		if f.variations[i].id == id {
			return &f.variations[i]
		}
	}
	return nil
}

// compileDispatch compiles the rollout of a rule (named ruleName) or, with ruleName "", of
// the default rule.
func (f *flag) compileDispatch(by string, inExpt bool, ws []wire.RolloutVariation, ruleName string) dispatch {
	what := func() string {
		if ruleName == "" {
			return "default rule"
		}
		return "rule " + strconv.Quote(ruleName)
	}
	d := dispatch{by: attrSelector{kind: attrKey, slot: -1}, inExpt: inExpt}
	if strings.TrimSpace(by) != "" {
		d.by = newAttrSelector(by)
	}
	if len(ws) == 0 {
		d.err = fmt.Errorf("%w: flag %q: %s has no variations", ErrEvaluation, f.key, what())
		return d
	}
	d.slices = make([]slice, 0, len(ws))
	for _, w := range ws {
		v := f.variation(w.ID)
		if v == nil {
			d.err = fmt.Errorf("%w: flag %q: %s serves unknown variation %q", ErrEvaluation, f.key, what(), w.ID)
			return d
		}
		var lo, hi float64
		if len(w.Rollout) == 2 {
			lo, hi = w.Rollout[0], w.Rollout[1]
		} else {
			// A malformed range holds no one.
			lo, hi = 0, 0
		}
		s := slice{lo: lo, hi: hi, v: v, full: rollout.Full(lo, hi), empty: rollout.Empty(lo, hi)}
		width := hi - lo
		if w.ExptRollout <= 0 || width <= 0 || math.IsNaN(w.ExptRollout) {
			s.exptNone = true
		} else {
			s.exptBound = min(1, w.ExptRollout/width)
			s.exptFull = rollout.Full(0, s.exptBound)
		}
		d.slices = append(d.slices, s)
	}
	return d
}

// link resolves the segment conditions of f against segments, in place. It is called only
// on a flag that is not yet published.
func (f *flag) link(segments map[string]*segment) {
	for i := range f.rules {
		r := &f.rules[i]
		if !r.hasSegments {
			continue
		}
		for j := range r.conditions {
			r.conditions[j].resolve(segments)
		}
	}
}

// relinked returns a copy of f whose segment conditions point into segments. f itself is
// left untouched, since readers of an older snapshot may be evaluating it.
func (f *flag) relinked(segments map[string]*segment) *flag {
	nf := *f
	nf.rules = make([]rule, len(f.rules))
	copy(nf.rules, f.rules)
	for i := range nf.rules {
		r := &nf.rules[i]
		if r.hasSegments {
			conds := make([]condition, len(r.conditions))
			copy(conds, r.conditions)
			r.conditions = conds
		}
	}
	nf.link(segments)
	return &nf
}

// segment is a compiled segment.
type segment struct {
	id       string
	version  int64
	archived bool
	included keyMap
	excluded keyMap
	rules    [][]condition
	// src is the definition the segment was compiled from, for a Cache; empty when the
	// store does not keep definitions (store.keepSource).
	src wire.Segment
}

func compileSegment(w *wire.Segment, version int64) *segment {
	s := &segment{id: w.ID, version: version, archived: w.IsArchived, src: *w}
	if s.archived {
		return s
	}
	s.included = newKeySet(w.Included)
	s.excluded = newKeySet(w.Excluded)
	s.rules = make([][]condition, len(w.Rules))
	for i := range w.Rules {
		conds := make([]condition, len(w.Rules[i].Conditions))
		for j := range w.Rules[i].Conditions {
			// Segment conditions nested in a segment rule are false, as in FeatBit's
			// evaluation server.
			conds[j] = compileCondition(&w.Rules[i].Conditions[j], false)
		}
		s.rules[i] = conds
	}
	return s
}

// contains reports whether the evaluation's user is in the segment: excluded keys first,
// then included keys, then any rule whose conditions all match. Segment conditions have no
// attribute slots, so they share the flag's evaluation context (and its regex budget).
func (s *segment) contains(ec *evalCtx) bool {
	if s.excluded.get(ec.u.key) != nil {
		return false
	}
	if s.included.get(ec.u.key) != nil {
		return true
	}
	for _, r := range s.rules {
		if matchAll(r, ec) {
			return true
		}
	}
	return false
}

// keyMap maps strings (user keys, list values) to variations; as a set it maps them to
// present. Up to keyMapSmall keys are a slice whose entries carry each key's length and first
// eight bytes, so a lookup compares two integers per entry and touches key bytes only on a
// likely hit; larger maps are a Go map, which hashes once.
type keyMap struct {
	small []keyEntry
	m     map[string]*variation
}

type keyEntry struct {
	n    int
	head uint64
	key  string
	v    *variation
}

const keyMapSmall = 8

// sameString is a == b for a and b whose head8 values are ha and hb: it compares the bytes
// only past the eighth.
func sameString(a string, ha uint64, b string, hb uint64) bool {
	return ha == hb && len(a) == len(b) && (len(a) <= 8 || a[8:] == b[8:])
}

// head8 returns the first eight bytes of s, zero-padded, as an integer.
func head8(s string) uint64 {
	var b [8]byte
	copy(b[:], s)
	return binary.LittleEndian.Uint64(b[:])
}

// present is the value stored by key sets.
var present = &variation{}

// newKeyMap returns an empty map sized for n keys.
func newKeyMap(n int) keyMap {
	switch {
	case n == 0:
		return keyMap{}
	case n <= keyMapSmall:
		return keyMap{small: make([]keyEntry, 0, n)}
	}
	return keyMap{m: make(map[string]*variation, n)}
}

func newKeySet(keys []string) keyMap {
	m := newKeyMap(len(keys))
	for _, k := range keys {
		m.put(k, present)
	}
	return m
}

// put adds k unless it is already there: the first variation given for a key wins.
func (m *keyMap) put(k string, v *variation) {
	if m.get(k) != nil {
		return
	}
	if m.m == nil && len(m.small) < keyMapSmall {
		m.small = append(m.small, keyEntry{n: len(k), head: head8(k), key: k, v: v})
		return
	}
	if m.m == nil {
		m.m = make(map[string]*variation, 2*keyMapSmall)
		for _, e := range m.small {
			m.m[e.key] = e.v
		}
		m.small = nil
	}
	m.m[k] = v
}

func (m *keyMap) get(k string) *variation {
	if m.m != nil {
		return m.m[k]
	}
	if len(m.small) == 0 {
		return nil
	}
	return m.getHead(k, head8(k))
}

// getHead is get for a key whose head8 is known. Only for small maps.
func (m *keyMap) getHead(k string, h uint64) *variation {
	n := len(k)
	for i := range m.small {
		e := &m.small[i]
		if e.n == n && e.head == h && (n <= 8 || e.key[8:] == k[8:]) {
			return e.v
		}
	}
	return nil
}
