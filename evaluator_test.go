package fbclient

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/internal/wire"
)

// bucket is an independent implementation of FeatBit's bucketing (its evaluation server's dispatch algorithm),
// used to compute expected rollout results.
func bucket(key string) float64 {
	sum := md5.Sum([]byte(key))
	n := int32(binary.LittleEndian.Uint32(sum[:4]))
	return math.Abs(float64(n) / -2147483648.0)
}

func rolloutFlag(key string, dispatchKey string, slices ...wire.RolloutVariation) *flag {
	w := boolFlag(key, true, 1)
	w.Fallthrough = wire.Fallthrough{DispatchKey: dispatchKey, IncludedInExpt: true, Variations: slices}
	return compileFlag(&w, 1, nil)
}

func TestRolloutBuckets(t *testing.T) {
	f := rolloutFlag("ff-test-bool", "name",
		wire.RolloutVariation{ID: "v-true", Rollout: []float64{0, 0.5}},
		wire.RolloutVariation{ID: "v-false", Rollout: []float64{0.5, 1}})
	for _, key := range []string{"test-user-1", "test-user-2", "test-user-3", "test-user-4", "x", "日本語"} {
		u := NewUser(key)
		r := evaluate(f, &u)
		want := bucket("ff-test-bool"+key) <= 0.5
		assert.Equal(t, want, r.v.boolVal, key)
		assert.Equal(t, ReasonFallthrough, r.reason)
	}
	// Dispatch by a custom attribute: users without it all share the bucket of the flag key.
	g := rolloutFlag("by-country", "country",
		wire.RolloutVariation{ID: "v-true", Rollout: []float64{0, 0.3}},
		wire.RolloutVariation{ID: "v-false", Rollout: []float64{0.3, 1}})
	for _, key := range []string{"a", "b", "c"} {
		u := NewUser(key)
		assert.Equal(t, bucket("by-country") <= 0.3, evaluate(g, &u).v.boolVal)
		us := u.WithCustom("country", "fr")
		assert.Equal(t, bucket("by-countryfr") <= 0.3, evaluate(g, &us).v.boolVal)
	}
}

func TestRolloutEdges(t *testing.T) {
	u := NewUser("test-user-3") // bucket of "edgestest-user-3"
	pct := bucket("edges" + u.Key())
	cases := []struct {
		name   string
		slices []wire.RolloutVariation
		want   string // variation id, "" for an error result
	}{
		{"boundary goes to the earlier slice", []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, pct}}, {ID: "v-false", Rollout: []float64{pct, 1}}}, "v-true"},
		{"closed upper end", []wire.RolloutVariation{{ID: "v-false", Rollout: []float64{0, pct - 1e-9}}, {ID: "v-true", Rollout: []float64{pct, pct}}}, "v-true"},
		{"near-full range is everyone", []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 0.999995}}}, "v-true"},
		{"zero range is no one", []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 0}}, {ID: "v-false", Rollout: []float64{0, 1}}}, "v-false"},
		{"gap in the ranges is an error", []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 0}}}, ""},
		{"malformed range holds no one", []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0.5}}, {ID: "v-false", Rollout: []float64{0, 1}}}, "v-false"},
		{"unknown variation is an error", []wire.RolloutVariation{{ID: "nope", Rollout: []float64{0, 1}}}, ""},
		{"no slices is an error", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := rolloutFlag("edges", "", c.slices...)
			r := evaluate(f, &u)
			if c.want == "" {
				assert.Nil(t, r.v)
				assert.Equal(t, ReasonError, r.reason)
				assert.ErrorIs(t, r.err, ErrEvaluation)
				return
			}
			require.NotNil(t, r.v)
			assert.Equal(t, c.want, r.v.id)
		})
	}
}

// sendToExperiment as FeatBit's evaluation server computes it.
func TestSendToExperiment(t *testing.T) {
	mk := func(allTargets, included bool, expt float64, lo, hi float64) *flag {
		w := boolFlag("expt-flag", true, 1)
		w.ExptIncludeAllTargets = allTargets
		w.TargetUsers = []wire.TargetUser{{KeyIDs: []string{"target"}, VariationID: "v-true"}}
		w.Fallthrough = wire.Fallthrough{IncludedInExpt: included, Variations: []wire.RolloutVariation{
			{ID: "v-true", Rollout: []float64{lo, hi}, ExptRollout: expt},
			{ID: "v-false", Rollout: []float64{hi, 1}, ExptRollout: expt},
		}}
		return compileFlag(&w, 1, nil)
	}
	target := NewUser("target")
	assert.True(t, evaluate(mk(true, false, 0, 0, 1), &target).inExpt, "targets count when all targets are included")
	assert.False(t, evaluate(mk(false, true, 1, 0, 1), &target).inExpt, "otherwise they do not")

	u := NewUser("someone")
	assert.True(t, evaluate(mk(true, false, 0, 0, 1), &u).inExpt)
	assert.False(t, evaluate(mk(false, false, 1, 0, 1), &u).inExpt, "rule not included in the experiment")
	assert.False(t, evaluate(mk(false, true, 0, 0, 1), &u).inExpt, "exptRollout 0")
	assert.True(t, evaluate(mk(false, true, 1, 0, 1), &u).inExpt, "exptRollout covers the slice")

	// A 100% slice with 30% sent to experiments: hashed on "expt" + flag key + user key.
	for _, key := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		u := NewUser(key)
		want := bucket("exptexpt-flag"+key) <= 0.3
		assert.Equal(t, want, evaluate(mk(false, true, 0.3, 0, 1), &u).inExpt, key)
	}

	off := mk(true, true, 1, 0, 1)
	off.enabled = false
	assert.False(t, evaluate(off, &u).inExpt, "an off flag is never in an experiment")
}

func TestMalformedFlags(t *testing.T) {
	u := NewUser("u")
	w := boolFlag("f", true, 1)
	w.VariationType = "color"
	assert.Equal(t, ReasonError, evaluate(compileFlag(&w, 1, nil), &u).reason)

	w = boolFlag("f", true, 1)
	w.IsEnabled = false
	w.DisabledVariationID = "missing"
	r := evaluate(compileFlag(&w, 1, nil), &u)
	assert.Equal(t, ReasonError, r.reason)
	assert.ErrorIs(t, r.err, ErrEvaluation)

	// A target naming an unknown variation is skipped; the user falls through.
	w = boolFlag("f", true, 1)
	w.TargetUsers = []wire.TargetUser{{KeyIDs: []string{"u"}, VariationID: "missing"}, {KeyIDs: []string{"u"}, VariationID: "v-false"}}
	r = evaluate(compileFlag(&w, 1, nil), &u)
	assert.Equal(t, ReasonTargetMatch, r.reason)
	assert.Equal(t, "v-false", r.v.id)

	// Everything nil.
	empty := compileFlag(&wire.Flag{Key: "empty", VariationType: "string", IsEnabled: true}, 1, nil)
	r = evaluate(empty, &u)
	assert.Equal(t, ReasonError, r.reason)
}

func TestRuleOrder(t *testing.T) {
	w := boolFlag("rules", false, 1)
	w.Rules = []wire.Rule{
		{Name: "first", Conditions: []wire.Condition{{Property: "plan", Op: "Equal", Value: "pro"}},
			Variations: []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 0}}}}, // matches, serves no one
		{Name: "second", Conditions: []wire.Condition{{Property: "plan", Op: "Equal", Value: "pro"}},
			Variations: []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 1}}}},
		{Name: "empty", Variations: []wire.RolloutVariation{{ID: "v-false", Rollout: []float64{0, 1}}}},
	}
	f := compileFlag(&w, 1, nil)
	pro := NewUser("u").WithCustom("plan", "pro")
	r := evaluate(f, &pro)
	assert.Equal(t, ReasonError, r.reason, "only the first matching rule is used, even when it serves no one")
	free := NewUser("u")
	r = evaluate(f, &free)
	assert.Equal(t, ReasonRuleMatch, r.reason, "a rule without conditions matches everyone")
	assert.Equal(t, "v-false", r.v.id)
}

func TestTypedConversions(t *testing.T) {
	cases := []struct {
		typ, value    string
		boolOK, intOK bool
		floatOK       bool
		boolV         bool
		intV          int
		floatV        float64
	}{
		{typ: "boolean", value: "true", boolOK: true, boolV: true},
		{typ: "boolean", value: "FALSE", boolOK: true},
		{typ: "boolean", value: "yes"},
		{typ: "number", value: "33", intOK: true, floatOK: true, intV: 33, floatV: 33},
		{typ: "number", value: "2.5", floatOK: true, floatV: 2.5},
		{typ: "number", value: "1e30", floatOK: true, floatV: 1e30},
		{typ: "number", value: "-9223372036854775808", intOK: true, floatOK: true, intV: math.MinInt, floatV: -9223372036854775808},
		{typ: "number", value: "9223372036854775808", floatOK: true, floatV: 9223372036854775808},
		{typ: "number", value: "1", intOK: true, floatOK: true, intV: 1, floatV: 1},
		{typ: "string", value: "True", boolOK: true, boolV: true},
		{typ: "string", value: "tRUE", boolOK: true, boolV: true},
		{typ: "string", value: "1", boolOK: true, boolV: true, intOK: true, floatOK: true, intV: 1, floatV: 1},
		{typ: "string", value: "t", boolOK: true, boolV: true},
		{typ: "json", value: "T", boolOK: true, boolV: true},
		{typ: "string", value: "0", boolOK: true, intOK: true, floatOK: true},
		{typ: "string", value: "f", boolOK: true},
		{typ: "string", value: "F", boolOK: true},
		{typ: "string", value: "yes"},
		{typ: "string", value: "01", intOK: true, floatOK: true, intV: 1, floatV: 1},
		{typ: "number", value: "0", intOK: true, floatOK: true},
		{typ: "string", value: "42", intOK: true, floatOK: true, intV: 42, floatV: 42},
		{typ: "string", value: "NaN"},
		{typ: "json", value: `{"a":1}`},
	}
	for _, c := range cases {
		v := newVariation("id", c.value, parseFlagType(c.typ))
		assert.Equal(t, c.boolOK, v.boolOK, "%s %q bool", c.typ, c.value)
		assert.Equal(t, c.intOK, v.intOK, "%s %q int", c.typ, c.value)
		assert.Equal(t, c.floatOK, v.floatOK, "%s %q float", c.typ, c.value)
		assert.Equal(t, c.boolV, v.boolVal)
		assert.Equal(t, c.intV, v.intVal)
		assert.Equal(t, c.floatV, v.floatVal)
	}
}

// stringFlag is a string flag with variations v0, v1, ... of the given values, serving v0 by
// default and v1 when off.
func stringFlag(key string, values ...string) wire.Flag {
	w := wire.Flag{ID: "id-" + key, Key: key, Name: key, VariationType: "string", IsEnabled: true,
		UpdatedAt:   wire.FormatVersion(1),
		Fallthrough: wire.Fallthrough{Variations: []wire.RolloutVariation{{ID: "v0", Rollout: []float64{0, 1}}}}}
	for i, v := range values {
		w.Variations = append(w.Variations, wire.Variation{ID: fmt.Sprintf("v%d", i), Value: v})
	}
	w.DisabledVariationID = "v" + strconv.Itoa(min(1, len(values)-1))
	return w
}
