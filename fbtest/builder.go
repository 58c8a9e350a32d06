package fbtest

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/featflags/fbclient/internal/wire"
)

// Variation types of a FeatBit flag.
const (
	TypeBoolean = "boolean"
	TypeString  = "string"
	TypeNumber  = "number"
	TypeJSON    = "json"
)

// Condition is one condition of a flag rule or segment rule: a user attribute (Property), a
// FeatBit operator name (Op, e.g. "Equal", "IsOneOf", "BiggerThan", "MatchRegex") and the
// condition value, always a string. Segment conditions are made with InSegment and
// NotInSegment.
type Condition struct {
	Property string // a user attribute ("keyId", "name" or a custom one), or a segment property
	Op       string // the operator, such as "Equal" or "IsOneOf"; "" for segment conditions
	Value    string // the operand; JSON arrays for IsOneOf, NotOneOf and segment ids
}

// Cond returns the condition "property op value", e.g. Cond("country", "Equal", "us") or
// Cond("major", "IsOneOf", OneOf("cs", "math")).
func Cond(property, op, value string) Condition {
	return Condition{Property: property, Op: op, Value: value}
}

// InSegment returns a condition that matches users in any of the segments with the given ids.
func InSegment(ids ...string) Condition {
	return Condition{Property: wire.SegmentIn, Value: OneOf(ids...)}
}

// NotInSegment returns a condition that matches users in none of the segments with the given
// ids.
func NotInSegment(ids ...string) Condition {
	return Condition{Property: wire.SegmentNotIn, Value: OneOf(ids...)}
}

// OneOf returns values as the JSON array text that IsOneOf and NotOneOf conditions take as
// their value, e.g. `["cn","us"]`.
func OneOf(values ...string) string {
	if values == nil {
		values = []string{}
	}
	b, _ := json.Marshal(values) // a []string always marshals
	return string(b)
}

func (c Condition) wire() wire.Condition {
	return wire.Condition{Property: c.Property, Op: c.Op, Value: c.Value}
}

// VariationID returns the id that Flag gives variation i of the flag with the given key. Ids
// are GUIDs derived from the key and index, so they are the same in every run.
func VariationID(flagKey string, i int) string {
	return derivedID("flag", flagKey, "variation", strconv.Itoa(i))
}

// derivedID returns a name-based (SHA-1) GUID for the given parts.
func derivedID(parts ...string) string {
	b, _ := json.Marshal(append([]string{"fbtest"}, parts...))
	return uuid.NewSHA1(uuid.NameSpaceURL, b).String()
}

// serve says what a rule or the fallthrough serves: one variation, or a percentage rollout
// when weights is set.
type serve struct {
	variation int
	weights   []float64
}

type ruleSpec struct {
	name        string
	dispatchKey string
	serve       serve
	conds       []Condition
}

type targetSpec struct {
	variation int
	keys      []string
}

// FlagBuilder describes a feature flag for Server.SetFlags. Flag returns one; its methods
// change it and return it, so calls chain. Variations are referred to by index.
//
// Unless told otherwise a flag is a boolean flag that is on, serves variation 0 ("true") to
// everyone and the last variation ("false") when off, counts all evaluations for experiments
// (exptIncludeAllTargets), and has no targets or rules. Invalid indexes or weights make
// Server.SetFlags panic.
type FlagBuilder struct {
	key, name     string
	variationType string
	values        []string
	on            bool
	offVariation  int // -1: the last variation
	fall          serve
	dispatchKey   string
	targets       []targetSpec
	rules         []ruleSpec
	exptAll       bool
	archived      bool
}

// Flag returns a builder for the flag with the given key.
func Flag(key string) *FlagBuilder {
	return &FlagBuilder{
		key:           key,
		variationType: TypeBoolean,
		values:        []string{"true", "false"},
		on:            true,
		offVariation:  -1,
		exptAll:       true,
	}
}

// Name sets the flag's display name; it defaults to the key.
func (b *FlagBuilder) Name(name string) *FlagBuilder {
	b.name = name
	return b
}

// Variations sets the variation type ("boolean", "string", "number" or "json") and the
// variation values, written as FeatBit writes them: always strings ("true", "33", `{"a":1}`).
func (b *FlagBuilder) Variations(variationType string, values ...string) *FlagBuilder {
	b.variationType = variationType
	b.values = append([]string(nil), values...)
	return b
}

// Boolean makes the flag a boolean flag with the variations "true" and "false".
func (b *FlagBuilder) Boolean() *FlagBuilder {
	return b.Variations(TypeBoolean, "true", "false")
}

// Strings makes the flag a string flag with the given variations.
func (b *FlagBuilder) Strings(values ...string) *FlagBuilder {
	return b.Variations(TypeString, values...)
}

// Numbers makes the flag a number flag with the given variations.
func (b *FlagBuilder) Numbers(values ...float64) *FlagBuilder {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return b.Variations(TypeNumber, s...)
}

// JSON makes the flag a JSON flag whose variations are the given JSON texts.
func (b *FlagBuilder) JSON(values ...string) *FlagBuilder {
	return b.Variations(TypeJSON, values...)
}

// On turns the flag on or off (isEnabled).
func (b *FlagBuilder) On(on bool) *FlagBuilder {
	b.on = on
	return b
}

// OffVariation sets the variation served while the flag is off; the default is the last one.
func (b *FlagBuilder) OffVariation(i int) *FlagBuilder {
	b.offVariation = i
	return b
}

// Fallthrough serves variation i to users that no target or rule matches; the default is 0.
func (b *FlagBuilder) Fallthrough(i int) *FlagBuilder {
	b.fall = serve{variation: i}
	return b
}

// Rollout splits the users that no target or rule matches between the variations: weights[i]
// is the relative share of variation i (Rollout(1, 3) serves 25 % / 75 %). Variations with a
// zero weight are left out. Users are bucketed by the dispatch key (see DispatchKey).
func (b *FlagBuilder) Rollout(weights ...float64) *FlagBuilder {
	b.fall = serve{weights: append([]float64(nil), weights...)}
	return b
}

// DispatchKey sets the user attribute that buckets users in the fallthrough rollout; empty
// (the default) means the user key.
func (b *FlagBuilder) DispatchKey(attribute string) *FlagBuilder {
	b.dispatchKey = attribute
	return b
}

// Target serves variation i to the users with the given keys.
func (b *FlagBuilder) Target(i int, keys ...string) *FlagBuilder {
	for j := range b.targets {
		if b.targets[j].variation == i {
			b.targets[j].keys = append(b.targets[j].keys, keys...)
			return b
		}
	}
	b.targets = append(b.targets, targetSpec{variation: i, keys: append([]string(nil), keys...)})
	return b
}

// Rule appends a rule that serves variation serveIndex to users matching all conditions.
func (b *FlagBuilder) Rule(name string, serveIndex int, conds ...Condition) *FlagBuilder {
	b.rules = append(b.rules, ruleSpec{
		name:  name,
		serve: serve{variation: serveIndex},
		conds: append([]Condition(nil), conds...),
	})
	return b
}

// RuleRollout appends a rule that splits the users matching all conditions between the
// variations by relative weights, as Rollout does, bucketing them by the dispatchKey
// attribute (empty: the user key).
func (b *FlagBuilder) RuleRollout(name, dispatchKey string, weights []float64, conds ...Condition) *FlagBuilder {
	b.rules = append(b.rules, ruleSpec{
		name:        name,
		dispatchKey: dispatchKey,
		serve:       serve{weights: append([]float64(nil), weights...)},
		conds:       append([]Condition(nil), conds...),
	})
	return b
}

// ExptIncludeAllTargets sets whether every evaluation of the flag is sent to experiments
// (default true, as for a new FeatBit flag). When false, targeted users are not sent, users
// served by the fallthrough are, and users served by a rule are not (the rule's
// includedInExpt is false, the fallthrough's is true; exptRollout is always 1).
func (b *FlagBuilder) ExptIncludeAllTargets(include bool) *FlagBuilder {
	b.exptAll = include
	return b
}

// Archived marks the flag archived: SDKs treat it as deleted.
func (b *FlagBuilder) Archived() *FlagBuilder {
	b.archived = true
	return b
}

// build returns the flag without updatedAt. It panics on an index or weight that does not fit
// the variations.
func (b *FlagBuilder) build(envID string) wire.Flag {
	ids := make([]string, len(b.values))
	vars := make([]wire.Variation, len(b.values))
	for i, v := range b.values {
		ids[i] = VariationID(b.key, i)
		vars[i] = wire.Variation{ID: ids[i], Name: v, Value: v}
	}
	if len(ids) == 0 {
		panic(fmt.Sprintf("fbtest: flag %q has no variations", b.key))
	}
	index := func(what string, i int) string {
		if i < 0 || i >= len(ids) {
			panic(fmt.Sprintf("fbtest: flag %q: %s variation %d out of range [0,%d)", b.key, what, i, len(ids)))
		}
		return ids[i]
	}
	off := b.offVariation
	if off < 0 {
		off = len(ids) - 1
	}
	f := wire.Flag{
		ID:                    derivedID("flag", b.key),
		EnvID:                 envID,
		Name:                  b.name,
		Key:                   b.key,
		VariationType:         b.variationType,
		Variations:            vars,
		TargetUsers:           []wire.TargetUser{},
		Rules:                 []wire.Rule{},
		IsEnabled:             b.on,
		DisabledVariationID:   index("off", off),
		ExptIncludeAllTargets: b.exptAll,
		Tags:                  []string{},
		IsArchived:            b.archived,
	}
	if f.Name == "" {
		f.Name = b.key
	}
	for _, t := range b.targets {
		f.TargetUsers = append(f.TargetUsers, wire.TargetUser{
			KeyIDs:      append([]string{}, t.keys...),
			VariationID: index("target", t.variation),
		})
	}
	for i, r := range b.rules {
		conds := make([]wire.Condition, len(r.conds))
		for j, c := range r.conds {
			conds[j] = c.wire()
		}
		f.Rules = append(f.Rules, wire.Rule{
			ID:          derivedID("flag", b.key, "rule", strconv.Itoa(i)),
			Name:        r.name,
			DispatchKey: r.dispatchKey,
			Conditions:  conds,
			Variations:  b.rollout("rule "+strconv.Quote(r.name), r.serve, ids, index),
		})
	}
	f.Fallthrough = wire.Fallthrough{
		DispatchKey:    b.dispatchKey,
		IncludedInExpt: true,
		Variations:     b.rollout("fallthrough", b.fall, ids, index),
	}
	return f
}

// rollout turns s into FeatBit's rollout ranges: contiguous [lo, hi] fractions covering [0, 1].
func (b *FlagBuilder) rollout(what string, s serve, ids []string, index func(string, int) string) []wire.RolloutVariation {
	if s.weights == nil {
		return []wire.RolloutVariation{{ID: index(what, s.variation), Rollout: []float64{0, 1}, ExptRollout: 1}}
	}
	if len(s.weights) > len(ids) {
		panic(fmt.Sprintf("fbtest: flag %q: %s has %d weights for %d variations", b.key, what, len(s.weights), len(ids)))
	}
	var total float64
	last := -1
	for i, w := range s.weights {
		if w < 0 {
			panic(fmt.Sprintf("fbtest: flag %q: %s has a negative weight", b.key, what))
		}
		if w > 0 {
			total += w
			last = i
		}
	}
	if last < 0 {
		panic(fmt.Sprintf("fbtest: flag %q: %s has no positive weight", b.key, what))
	}
	out := []wire.RolloutVariation{}
	var lo, acc float64
	for i, w := range s.weights {
		if w == 0 {
			continue
		}
		acc += w
		hi := acc / total
		if i == last {
			hi = 1
		}
		out = append(out, wire.RolloutVariation{ID: ids[i], Rollout: []float64{lo, hi}, ExptRollout: 1})
		lo = hi
	}
	return out
}

// SegmentBuilder describes a user segment for Server.SetSegments. Segment returns one; its
// methods change it and return it, so calls chain.
type SegmentBuilder struct {
	id, name           string
	included, excluded []string
	rules              [][]Condition
	archived           bool
}

// Segment returns a builder for the segment with the given id. Flags refer to the segment by
// this id (InSegment, NotInSegment).
func Segment(id string) *SegmentBuilder {
	return &SegmentBuilder{id: id}
}

// Name sets the segment's display name; it defaults to the id.
func (b *SegmentBuilder) Name(name string) *SegmentBuilder {
	b.name = name
	return b
}

// Included adds user keys that are always in the segment (unless excluded).
func (b *SegmentBuilder) Included(keys ...string) *SegmentBuilder {
	b.included = append(b.included, keys...)
	return b
}

// Excluded adds user keys that are never in the segment; exclusion wins over inclusion.
func (b *SegmentBuilder) Excluded(keys ...string) *SegmentBuilder {
	b.excluded = append(b.excluded, keys...)
	return b
}

// Rule appends a rule: users matching all conditions are in the segment.
func (b *SegmentBuilder) Rule(conds ...Condition) *SegmentBuilder {
	b.rules = append(b.rules, append([]Condition(nil), conds...))
	return b
}

// Archived marks the segment archived.
func (b *SegmentBuilder) Archived() *SegmentBuilder {
	b.archived = true
	return b
}

// build returns the segment without updatedAt.
func (b *SegmentBuilder) build(envID string) wire.Segment {
	s := wire.Segment{
		ID:         b.id,
		EnvID:      envID,
		Name:       b.name,
		Included:   append([]string{}, b.included...),
		Excluded:   append([]string{}, b.excluded...),
		Rules:      []wire.SegmentRule{},
		IsArchived: b.archived,
	}
	if s.Name == "" {
		s.Name = b.id
	}
	for i, r := range b.rules {
		conds := make([]wire.Condition, len(r))
		for j, c := range r {
			conds[j] = c.wire()
		}
		s.Rules = append(s.Rules, wire.SegmentRule{
			ID:         derivedID("segment", b.id, "rule", strconv.Itoa(i)),
			Name:       "Rule " + strconv.Itoa(i+1),
			Conditions: conds,
		})
	}
	return s
}
