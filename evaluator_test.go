package fbclient

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
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
	assert.True(t, evaluate(mk(true, false, 0, 0, 1), &target).inExpt(), "targets count when all targets are included")
	assert.False(t, evaluate(mk(false, true, 1, 0, 1), &target).inExpt(), "otherwise they do not")

	u := NewUser("someone")
	assert.True(t, evaluate(mk(true, false, 0, 0, 1), &u).inExpt())
	assert.False(t, evaluate(mk(false, false, 1, 0, 1), &u).inExpt(), "rule not included in the experiment")
	assert.False(t, evaluate(mk(false, true, 0, 0, 1), &u).inExpt(), "exptRollout 0")
	assert.True(t, evaluate(mk(false, true, 1, 0, 1), &u).inExpt(), "exptRollout covers the slice")

	// A 100% slice with 30% sent to experiments: hashed on "expt" + flag key + user key.
	for _, key := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		u := NewUser(key)
		want := bucket("exptexpt-flag"+key) <= 0.3
		assert.Equal(t, want, evaluate(mk(false, true, 0.3, 0, 1), &u).inExpt(), key)
	}

	off := mk(true, true, 1, 0, 1)
	off.enabled = false
	assert.False(t, evaluate(off, &u).inExpt(), "an off flag is never in an experiment")
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

// records is a slog handler that keeps what is logged, for assertions on warnings.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

// warnings returns the attributes of the warnings logged with message msg.
func (h *records) warnings(msg string) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.recs {
		if r.Level != slog.LevelWarn || r.Message != msg {
			continue
		}
		m := map[string]string{}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		out = append(out, m)
	}
	return out
}

const (
	problemMsg = "fbclient: part of a flag can never work"
	timeoutMsg = "fbclient: a regular expression timed out; its condition is false"
)

// offlineData starts an offline client from a data file holding flags and segs, logging to
// the returned records.
func offlineData(t *testing.T, flags []wire.Flag, segs ...wire.Segment) (*Client, *records) {
	t.Helper()
	checkLeaks(t)
	b, err := json.Marshal(full(flags, segs...))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "flags.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	logs := &records{}
	c, err := newClient(Config{Offline: true, DataFile: path, Logger: slog.New(logs)}, nil, quickEvents)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c, logs
}

// An archived flag is answered with its own reason, as FeatBit's evaluate API does, and an
// error that matches both ErrFlagArchived and ErrFlagNotFound.
func TestArchivedFlag(t *testing.T) {
	gone := boolFlag("gone", true, 1)
	gone.IsArchived = true
	c, _ := offlineData(t, []wire.Flag{gone, boolFlag("live", true, 1)})
	evals := newCollector()
	c.On(EventEvaluation, evals.add)

	for _, u := range []User{NewUser("u"), NewUser("")} { // archived comes before the user check
		d := c.VariationDetail("gone", u, "dflt")
		assert.Equal(t, "dflt", d.Value)
		assert.Equal(t, ReasonFlagArchived, d.Reason)
		assert.Equal(t, "flag archived", d.Reason.String())
		assert.True(t, d.Reason.Fallback())
		assert.ErrorIs(t, d.Err, ErrFlagArchived)
		assert.ErrorIs(t, d.Err, ErrFlagNotFound)
		assert.Empty(t, d.VariationID)
	}
	v, d := c.BoolVariationDetail("gone", NewUser("u"), false)
	assert.False(t, v)
	assert.Equal(t, ReasonFlagArchived, d.Reason)
	_, ok := c.AllVariations(NewUser("u")).Get("gone")
	assert.False(t, ok, "AllVariations leaves archived flags out")
	d = c.VariationDetail("never-existed", NewUser("u"), "dflt")
	assert.Equal(t, ReasonFlagNotFound, d.Reason)
	assert.NotErrorIs(t, d.Err, ErrFlagArchived)

	// Only the live flag's evaluation is an event: the archived one records nothing.
	c.BoolVariation("live", NewUser("u"), false)
	assert.Equal(t, "live", evals.wait(t, 1)[0].Evaluation.FlagKey)
}

// hostileFlag has n rules, each with one MatchRegex condition on a pattern that backtracks
// catastrophically on the benchmark input, then a NotMatchRegex one.
func hostileFlag(key string, n int) wire.Flag {
	w := boolFlag(key, false, 1)
	for i := 0; i < n; i++ {
		w.Rules = append(w.Rules, wire.Rule{Name: fmt.Sprintf("hostile %d", i+1),
			Conditions: []wire.Condition{{Property: "input", Op: "MatchRegex", Value: `^(a+)+$`}},
			Variations: []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 1}}}})
	}
	return w
}

var hostileInput = strings.Repeat("a", 40) + "!"

// A flag with 20 rules on a catastrophically backtracking pattern: the first match times
// out, the others are not tried, every condition is false, and the client reports the
// pattern once, naming the flag.
func TestRegexTimeoutBoundsEvaluation(t *testing.T) {
	parallel(t) // waits out two match timeouts
	c, logs := offlineData(t, []wire.Flag{hostileFlag("hostile", 20)})
	u := NewUser("u").WithCustom("input", hostileInput)
	for i := 0; i < 2; i++ {
		d := c.VariationDetail("hostile", u, "dflt")
		assert.Equal(t, ReasonFallthrough, d.Reason)
		assert.Equal(t, "false", d.Value)
	}
	warned := logs.warnings(timeoutMsg)
	require.Len(t, warned, 1, "reported once")
	assert.Equal(t, "hostile", warned[0]["flag"])
	assert.Equal(t, `^(a+)+$`, warned[0]["pattern"])
	problems := c.FlagProblems()
	require.Len(t, problems, 1)
	assert.Equal(t, "hostile", problems[0].FlagKey)
	assert.Contains(t, problems[0].Problem, "timed out")

	// A benign input still matches.
	assert.Equal(t, "true", c.Variation("hostile", NewUser("u").WithCustom("input", "aaa"), "dflt"))
}

// A pattern in a segment's rule shares the evaluation's budget, and its timeout is reported
// under the flag evaluated; Explain says which condition timed out and which was skipped.
func TestRegexTimeoutInSegment(t *testing.T) {
	parallel(t) // waits out a match timeout
	s := seg("slow-seg", 1)
	s.Rules = []wire.SegmentRule{{Conditions: []wire.Condition{{Property: "input", Op: "MatchRegex", Value: `^(a+)+$`}}}}
	w := segFlag("seg-flag", "slow-seg", 1)
	w.Rules = append(w.Rules, wire.Rule{Name: "direct", Conditions: []wire.Condition{{Property: "input", Op: "NotMatchRegex", Value: `^x`}},
		Variations: []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 1}}}})
	c, logs := offlineData(t, []wire.Flag{w}, s)

	x := c.Explain("seg-flag", NewUser("u").WithCustom("input", hostileInput))
	assert.Equal(t, ReasonFallthrough, x.Result.Reason, "both conditions are false")
	require.Len(t, x.Rules, 2)
	assert.False(t, x.Rules[0].Matched)
	assert.False(t, x.Rules[1].Matched)
	assert.Contains(t, x.Rules[1].Conditions[0].Note, "ran out", "the second pattern was not matched")
	warned := logs.warnings(timeoutMsg)
	require.Len(t, warned, 1)
	assert.Equal(t, "seg-flag", warned[0]["flag"])
	assert.Equal(t, `^(a+)+$`, warned[0]["pattern"])
	require.Len(t, c.FlagProblems(), 1)
	assert.Contains(t, c.FlagProblems()[0].Problem, `"slow-seg"`)
}

// Once an evaluation has spent its budget for regular expressions, its remaining
// regular-expression conditions are false without being matched, MatchRegex and
// NotMatchRegex alike. Only a match that timed out marks its pattern for the report.
func TestRegexBudget(t *testing.T) {
	for _, op := range []string{"MatchRegex", "NotMatchRegex"} {
		c := compileCondition(&wire.Condition{Property: "attr", Op: op, Value: `^b`}, true)
		u := NewUser("k").WithCustom("attr", "abc")
		fresh := evalCtx{u: &u}
		assert.Equal(t, op == "NotMatchRegex", c.match(&fresh), "with budget left the match runs")
		assert.False(t, fresh.regexTimedOut)

		spent := evalCtx{u: &u, regexSpent: regexBudget}
		assert.False(t, c.match(&spent), op)
		assert.False(t, spent.regexTimedOut)
		assert.False(t, c.re.timedOut.Load(), "a skipped pattern is not reported as timed out")
	}
}

// Flags that load but can never work are reported once each at load, listed by
// FlagProblems, and evaluate as FeatBit's server would: an unknown operator is a false
// condition, an unknown variation an error result, a missing segment a false condition.
func TestFlagProblems(t *testing.T) {
	typo := boolFlag("typo", false, 1)
	typo.Rules = []wire.Rule{{Name: "adults", Conditions: []wire.Condition{{Property: "age", Op: "IsGreaterThn", Value: "18"}},
		Variations: []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 1}}}}}
	badVariation := boolFlag("bad-variation", true, 1)
	badVariation.Rules = []wire.Rule{{Name: "beta", Conditions: []wire.Condition{{Property: "plan", Op: "Equal", Value: "beta"}},
		Variations: []wire.RolloutVariation{{ID: "no-such-variation", Rollout: []float64{0, 1}}}}}
	badVariation.TargetUsers = []wire.TargetUser{{KeyIDs: []string{"vip"}, VariationID: "no-such-target-variation"}}
	noSegment := segFlag("no-segment", "no-such-segment", 1)
	badRegex := boolFlag("bad-regex", false, 1)
	badRegex.Rules = []wire.Rule{{Conditions: []wire.Condition{{Property: "email", Op: "MatchRegex", Value: `([`}},
		Variations: []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 1}}}}}
	good := segFlag("good", "s", 1)

	c, logs := offlineData(t, []wire.Flag{typo, badVariation, noSegment, badRegex, good}, seg("s", 1, "member"))

	// What each flag's problems must name.
	want := map[string][]string{
		"typo":          {`"IsGreaterThn"`},
		"bad-variation": {`"no-such-target-variation"`, `"no-such-variation"`},
		"no-segment":    {`"no-such-segment"`},
		"bad-regex":     {`"(["`},
	}
	problems := c.FlagProblems()
	got := map[string][]string{}
	for _, p := range problems {
		got[p.FlagKey] = append(got[p.FlagKey], p.Problem)
		assert.Contains(t, p.String(), p.FlagKey)
	}
	require.Len(t, got, len(want), "%v", problems)
	for key, needles := range want {
		require.Len(t, got[key], len(needles), key)
		for i, n := range needles {
			assert.Contains(t, got[key][i], n, key)
		}
	}
	// One warning per problem, naming the flag and the problem.
	warned := logs.warnings(problemMsg)
	require.Len(t, warned, len(problems))
	for _, p := range problems {
		assert.Contains(t, warned, map[string]string{"flag": p.FlagKey, "problem": p.Problem})
	}

	// Evaluation is what it would be without the checks.
	adult := NewUser("u").WithCustom("age", "30")
	assert.Equal(t, ReasonFallthrough, c.VariationDetail("typo", adult, "").Reason)
	assert.Equal(t, ReasonError, c.VariationDetail("bad-variation", NewUser("u").WithCustom("plan", "beta"), "").Reason)
	assert.Equal(t, ReasonFallthrough, c.VariationDetail("bad-variation", NewUser("vip"), "").Reason)
	assert.Equal(t, ReasonFallthrough, c.VariationDetail("no-segment", NewUser("member"), "").Reason)
	assert.Equal(t, ReasonFallthrough, c.VariationDetail("bad-regex", NewUser("u").WithCustom("email", "x"), "").Reason)
	assert.True(t, c.BoolVariation("good", NewUser("member"), false))
}

// Over streaming: problems are reported when a flag is loaded, and again only when the flag
// is loaded again; a fixed flag has none.
func TestFlagProblemsStreaming(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("typo").Rule("adults", 0, fbtest.Cond("age", "IsGreaterThn", "18")).Fallthrough(1),
		fbtest.Flag("other").Fallthrough(1))
	logs := &records{}
	c, err := New(Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL(), DisableEvents: true, Logger: slog.New(logs)})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	require.NoError(t, c.WaitForInitialization(testCtx(t)))
	changes := make(chan []string, 10)
	defer c.On(EventFlagChanged, func(e Event) { changes <- e.FlagKeys })()

	require.Len(t, logs.warnings(problemMsg), 1)
	assert.Equal(t, "typo", logs.warnings(problemMsg)[0]["flag"])

	srv.SetFlags(fbtest.Flag("other").Fallthrough(0)) // another flag changes: nothing new to report
	assert.Equal(t, []string{"other"}, <-changes)
	assert.Len(t, logs.warnings(problemMsg), 1)
	assert.Len(t, c.FlagProblems(), 1)

	srv.SetFlags(fbtest.Flag("typo").Rule("adults", 0, fbtest.Cond("age", "BiggerThan", "18")).Fallthrough(1))
	assert.Equal(t, []string{"typo"}, <-changes)
	assert.Empty(t, c.FlagProblems())
	assert.Len(t, logs.warnings(problemMsg), 1)
	assert.True(t, c.BoolVariation("typo", NewUser("u").WithCustom("age", "30"), false))
}

// One evaluation of a flag with 20 rules on a catastrophically backtracking pattern: the
// time the regular-expression bounds leave. Run with -benchtime=20x.
func BenchmarkRegexHostile20Rules(b *testing.B) {
	f := compileFlag(func() *wire.Flag { w := hostileFlag("hostile", 20); return &w }(), 1, nil)
	u := NewUser("u").WithCustom("input", hostileInput)
	var worst time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if r := evaluate(f, &u); r.reason != ReasonFallthrough {
			b.Fatal(r.reason)
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}
