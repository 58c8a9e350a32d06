package fbclient

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dlclark/regexp2"

	"github.com/featflags/fbclient/internal/wire"
)

// This file finds the parts of flag definitions that load but can never work: an operator
// FeatBit does not have, a variation or segment id that does not exist, a pattern that does
// not compile. Evaluation is unchanged by them (such a condition is false, such a rollout an
// error result, as on FeatBit's evaluation server); they are logged once when the flag is
// loaded and listed by Client.FlagProblems.

// FlagProblem is a part of a flag's definition that can never work.
type FlagProblem struct {
	// FlagKey is the flag's key.
	FlagKey string `json:"flagKey"`
	// Problem says where and what, e.g.
	// `rule 1 "Rule 1", condition 2: unknown operator "IsGreaterThn"`.
	Problem string `json:"problem"`
}

// String returns the problem with its flag, for logs.
func (p FlagProblem) String() string { return fmt.Sprintf("flag %q: %s", p.FlagKey, p.Problem) }

// FlagProblems returns the problems of the current data set's flags, sorted by flag key;
// nil when there are none or no data set yet. Each problem is also logged once, as a
// warning, when the flag is loaded, and a regular expression that timed out is listed
// (and logged) once it has. Archived flags are not checked.
func (c *Client) FlagProblems() []FlagProblem {
	if c == nil {
		return nil
	}
	snap := c.store.load()
	if snap == nil {
		return nil
	}
	var out []FlagProblem
	for key, f := range snap.flags() {
		if f.archived {
			continue
		}
		for _, p := range f.allProblems(snap.segments) {
			out = append(out, FlagProblem{FlagKey: key, Problem: p})
		}
	}
	slices.SortStableFunc(out, func(a, b FlagProblem) int { return strings.Compare(a.FlagKey, b.FlagKey) })
	return out
}

// warnProblems logs the problems of the flags a commit loaded: every flag of the first data
// set, then the flags that changed.
func (c *Client) warnProblems(res applyResult) {
	snap := c.store.load()
	if snap == nil {
		return
	}
	warn := func(f *flag) {
		for _, p := range f.allProblems(snap.segments) {
			c.log.Warn("fbclient: part of a flag can never work", "flag", f.key, "problem", p)
		}
	}
	if res.initialized {
		for _, f := range snap.flags() {
			if !f.archived {
				warn(f)
			}
		}
		return
	}
	for _, key := range res.changed {
		if f := snap.item(key); f != nil && !f.archived {
			warn(f)
		}
	}
}

// reportRegexTimeouts logs the regular expressions of f (and of the segments it uses) that
// have timed out and were not reported yet: once per pattern of a loaded flag.
func (c *Client) reportRegexTimeouts(f *flag) {
	report := func(cond *condition) {
		if cond.re != nil && cond.re.timedOut.Load() && cond.re.reported.CompareAndSwap(false, true) {
			c.log.Warn("fbclient: a regular expression timed out; its condition is false", "flag", f.key, "pattern", cond.re.pattern)
		}
	}
	for i := range f.rules {
		for j := range f.rules[i].conditions {
			cond := &f.rules[i].conditions[j]
			report(cond)
			for _, s := range cond.segments {
				for _, r := range s.rules {
					for k := range r {
						report(&r[k])
					}
				}
			}
		}
	}
}

// checkFlag returns the problems of a compiled flag that its own definition causes; those
// that depend on segments are found by allProblems.
func checkFlag(w *wire.Flag, f *flag) []string {
	if f.archived {
		return nil
	}
	var ps []string
	if f.typ == typeUnknown {
		ps = append(ps, fmt.Sprintf("unknown variationType %q", w.VariationType))
	}
	if f.off == nil {
		ps = append(ps, fmt.Sprintf("disabledVariationId %q is not one of its variations", w.DisabledVariationID))
	}
	for _, t := range w.TargetUsers {
		if f.variation(t.VariationID) == nil && len(t.KeyIDs) > 0 {
			ps = append(ps, fmt.Sprintf("individual targets serve unknown variation %q", t.VariationID))
		}
	}
	rollout := func(where func() string, vs []wire.RolloutVariation) {
		if len(vs) == 0 {
			ps = append(ps, where()+": no variations to serve")
		}
		for _, v := range vs {
			if f.variation(v.ID) == nil {
				ps = append(ps, fmt.Sprintf("%s: serves unknown variation %q", where(), v.ID))
			}
		}
	}
	for i := range f.rules {
		r := &f.rules[i]
		where := func() string { return ruleName(i, r.name) }
		for j := range r.conditions {
			if p := r.conditions[j].problem(); p != "" {
				ps = append(ps, fmt.Sprintf("%s, condition %d: %s", where(), j+1, p))
			}
		}
		rollout(where, w.Rules[i].Variations)
	}
	rollout(func() string { return "default rule" }, w.Fallthrough.Variations)
	return ps
}

// ruleName names the i-th rule of a flag (from 0) for people: `rule 1 "Rule 1"`.
func ruleName(i int, name string) string {
	if name == "" {
		return "rule " + strconv.Itoa(i+1)
	}
	return fmt.Sprintf("rule %d %q", i+1, name)
}

// allProblems returns f's problems in the snapshot whose segments are segs: those of its
// definition, its references to missing or archived segments, the problems of the segments
// it uses, and its regular expressions that have timed out.
func (f *flag) allProblems(segs map[string]*segment) []string {
	ps := f.problems
	grown := false
	add := func(p string) {
		if !grown {
			ps = slices.Clip(ps)
			grown = true
		}
		ps = append(ps, p)
	}
	for i := range f.rules {
		r := &f.rules[i]
		for j := range r.conditions {
			c := &r.conditions[j]
			where := func() string { return fmt.Sprintf("%s, condition %d", ruleName(i, r.name), j+1) }
			if c.timedOut() {
				add(where() + ": the regular expression timed out")
			}
			for _, id := range c.segmentIDs {
				s := segs[id]
				switch {
				case s == nil:
					add(fmt.Sprintf("%s: segment %q does not exist", where(), id))
				case s.archived:
					add(fmt.Sprintf("%s: segment %q is archived", where(), id))
				default:
					for _, p := range s.problems() {
						add(fmt.Sprintf("%s: segment %q %s", where(), id, p))
					}
				}
			}
		}
	}
	return ps
}

// problems returns the problems of a segment's rules.
func (s *segment) problems() []string {
	var ps []string
	for i, r := range s.rules {
		for j := range r {
			if p := r[j].problem(); p != "" {
				ps = append(ps, fmt.Sprintf("rule %d, condition %d: %s", i+1, j+1, p))
			} else if r[j].timedOut() {
				ps = append(ps, fmt.Sprintf("rule %d, condition %d: the regular expression timed out", i+1, j+1))
			}
		}
	}
	return ps
}

// problem describes why the condition can never be true, "" if it can.
func (c *condition) problem() string {
	switch c.flaw {
	case flawNone:
		return ""
	case flawUnknownOp:
		return fmt.Sprintf("unknown operator %q", c.opName)
	case flawBadRegex:
		_, err := regexp2.Compile(utf16Pattern(c.operand), regexp2.None)
		return fmt.Sprintf("invalid regular expression %q: %v", c.operand, err)
	case flawNullValue:
		return fmt.Sprintf("%s: %s", c.opName, c.flaw)
	}
	return fmt.Sprintf("%s %q: %s", c.opName, c.operand, c.flaw)
}

// timedOut reports whether the condition's regular expression has timed out.
func (c *condition) timedOut() bool { return c.re != nil && c.re.timedOut.Load() }
