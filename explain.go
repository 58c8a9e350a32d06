package fbclient

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/featflags/fbclient/internal/rollout"
	"github.com/featflags/fbclient/internal/wire"
)

// Explanation is a step-by-step account of one evaluation, from Client.Explain: what the
// flag is, which targets and rules were checked and with which attribute values, the bucket
// of a percentage rollout and the slice that served, and the experiment decision. String
// renders it for people.
type Explanation struct {
	// FlagKey is the flag's key, and FlagName its name ("" when the flag is not found).
	FlagKey  string `json:"flagKey"`
	FlagName string `json:"flagName,omitempty"`
	// User is the user the flag was evaluated for.
	User User `json:"user"`
	// Result is what VariationDetail returns for the flag and user with the default "".
	Result EvalDetail `json:"result"`
	// Enabled reports whether the flag is on; it is false too when the flag was not reached
	// (client not ready, flag not found or archived, invalid user).
	Enabled bool `json:"enabled"`
	// Targets is the number of user keys the flag targets individually, and Targeted
	// whether the user's key is one of them. Neither is set for an off flag.
	Targets  int  `json:"targets"`
	Targeted bool `json:"targeted"`
	// Rules are the flag's rules in order, up to and including the first that matched;
	// rules after it are never checked. Nil when the flag is off or the user is targeted.
	Rules []RuleExplanation `json:"rules,omitempty"`
	// Rollout is the rollout that served: the matching rule's or the default rule's. Nil when
	// the evaluation ended before one (flag off, user targeted, fallback).
	Rollout *RolloutExplanation `json:"rollout,omitempty"`
	// Experiment explains Result.InExperiment (FeatBit's sendToExperiment).
	Experiment string `json:"experiment,omitempty"`
	// Problems are the parts of the flag that can never work (see Client.FlagProblems).
	Problems []string `json:"problems,omitempty"`
}

// RuleExplanation is one targeting rule of an Explanation.
type RuleExplanation struct {
	// Name is the rule's name as FeatBit shows it (may be "").
	Name string `json:"name"`
	// Matched reports whether all the rule's conditions are true.
	Matched bool `json:"matched"`
	// Conditions are the rule's conditions in order. Evaluation stops at the first false
	// one: those after it have Evaluated false.
	Conditions []ConditionExplanation `json:"conditions"`
}

// ConditionExplanation is one condition of a rule: the user's value of an attribute
// compared by an operator with the condition's value.
type ConditionExplanation struct {
	// Attribute is the attribute the condition reads ("keyId", "name" or a custom
	// attribute); "" for a segment condition.
	Attribute string `json:"attribute,omitempty"`
	// Value is the user's value of Attribute, "" when the user does not have it, and
	// Present whether the user has it (always true for keyId and name).
	Value   string `json:"value"`
	Present bool   `json:"present"`
	// Operator is the operator as FeatBit names it ("Equal", "IsOneOf", "User is in
	// segment", ...), and Expected the condition's value as FeatBit stores it (a JSON list
	// for IsOneOf, NotOneOf and segments).
	Operator string `json:"operator"`
	Expected string `json:"expected"`
	// Evaluated reports whether the condition was checked, and Matched its result.
	Evaluated bool `json:"evaluated"`
	Matched   bool `json:"matched"`
	// Note says more when there is more to say: why a condition can never be true, a
	// regular expression that timed out, which segment the user is in or not and why.
	Note string `json:"note,omitempty"`
}

// RolloutExplanation is the percentage rollout that served a user.
type RolloutExplanation struct {
	// Rule is the rule whose rollout this is, `rule 3 "Than Rule"` or "default rule".
	Rule string `json:"rule"`
	// DispatchKey is the attribute that places users ("keyId" unless the rule sets
	// another), and DispatchValue the user's value of it.
	DispatchKey   string `json:"dispatchKey"`
	DispatchValue string `json:"dispatchValue"`
	// Bucket is the user's place in [0, 1]: the MD5 hash of the flag key followed by
	// DispatchValue, as FeatBit computes it.
	Bucket float64 `json:"bucket"`
	// Slices are the rollout's variations with their ranges, in order; the first that holds
	// the bucket serves (ranges are closed at both ends).
	Slices []SliceExplanation `json:"slices"`
	// Served is the index in Slices of the slice that served, -1 when no slice holds the
	// bucket (an error result).
	Served int `json:"served"`
}

// SliceExplanation is one variation's share of a rollout: the users whose bucket is in
// [From, To].
type SliceExplanation struct {
	// VariationID is the id of the slice's variation, and Value its value.
	VariationID string `json:"variationId"`
	Value       string `json:"value"`
	// From and To are the ends of the slice's range, fractions of 1.
	From float64 `json:"from"`
	To   float64 `json:"to"`
}

// Explain evaluates the flag for user as VariationDetail does and returns a step-by-step
// account of the evaluation, for a developer asking why the user gets this value. It records
// no insight event and calls no listener; it is meant for debugging, not for every request
// (it allocates, and evaluates the flag twice).
func (c *Client) Explain(flagKey string, user User) Explanation {
	x := Explanation{FlagKey: flagKey, User: user}
	var snap *snapshot
	if c != nil {
		snap = c.store.load()
	}
	if snap == nil {
		x.Result = detail(flagKey, &result{reason: ReasonClientNotReady, err: ErrClientNotReady}, "")
		return x
	}
	ec := evalCtx{u: &user}
	f, r := snap.evaluate(flagKey, &ec)
	if ec.regexTimedOut {
		c.reportRegexTimeouts(f)
	}
	value := ""
	if r.v != nil {
		value = r.v.value
	}
	x.Result = detail(flagKey, &r, value)
	if f == nil {
		return x
	}
	x.FlagName = f.name
	if r.reason == ReasonUserNotSpecified {
		return x
	}
	x.Problems = f.allProblems(snap.segments)
	x.trace(f, &user)
	return x
}

// trace walks the flag's evaluation for u step by step, with the same building blocks as
// evaluate.
func (x *Explanation) trace(f *flag, u *User) {
	x.Enabled = f.enabled
	if f.err != nil {
		return
	}
	if !f.enabled {
		x.Experiment = "off: an off flag is never in an experiment"
		return
	}
	x.Targets = len(f.targets.small) + len(f.targets.m)
	if f.targets.get(u.key) != nil {
		x.Targeted = true
		if f.exptTargets {
			x.Experiment = "included: the flag sends targeted users to experiments"
		} else {
			x.Experiment = "not included: the flag does not send targeted users to experiments"
		}
		return
	}
	ec := evalCtx{u: u}
	for i := range f.rules {
		r := &f.rules[i]
		re := RuleExplanation{Name: r.name, Matched: true, Conditions: make([]ConditionExplanation, len(r.conditions))}
		for j := range r.conditions {
			ce := explainCondition(&r.conditions[j], &ec, re.Matched)
			if ce.Evaluated && !ce.Matched {
				re.Matched = false
			}
			re.Conditions[j] = ce
		}
		x.Rules = append(x.Rules, re)
		if re.Matched {
			x.explainRollout(f, &r.dispatch, &ec, ruleName(i, r.name))
			return
		}
	}
	x.explainRollout(f, &f.deflt, &ec, "default rule")
}

// explainCondition evaluates c for the context's user, if evaluate is set, and describes it.
func explainCondition(c *condition, ec *evalCtx, evaluate bool) ConditionExplanation {
	ce := ConditionExplanation{Operator: c.opName, Expected: c.operand, Note: c.problem()}
	if c.opName != wire.SegmentIn && c.opName != wire.SegmentNotIn {
		ce.Attribute = c.attr.String()
		ce.Value = ec.value(&c.attr)
		ce.Present = c.attr.kind == attrKey || c.attr.kind == attrName || (c.attr.kind == attrCustom && ec.custom(&c.attr) != nil)
	}
	if !evaluate {
		return ce
	}
	ce.Evaluated = true
	if c.op == opInSegment || c.op == opNotInSegment {
		in, note := explainSegments(c, ec)
		ce.Matched = in == (c.op == opInSegment)
		ce.Note = note
		return ce
	}
	spent, timedOut := ec.regexSpent >= regexBudget, ec.regexTimedOut
	ec.regexTimedOut = false
	ce.Matched = c.match(ec)
	switch {
	case c.re != nil && ec.regexTimedOut:
		ce.Note = "the regular expression timed out"
	case c.re != nil && spent:
		ce.Note = "not matched: the evaluation's time for regular expressions ran out"
	}
	ec.regexTimedOut = ec.regexTimedOut || timedOut
	return ce
}

// explainSegments is segment.contains for each segment of a segment condition, in order,
// saying why the user is in the first segment that holds them or in none.
func explainSegments(c *condition, ec *evalCtx) (bool, string) {
	var notes []string
	for _, id := range c.segmentIDs {
		var s *segment
		for _, cs := range c.segments {
			if cs.id == id {
				s = cs
				break
			}
		}
		if s == nil {
			notes = append(notes, fmt.Sprintf("segment %q does not exist or is archived", id))
			continue
		}
		switch {
		case s.excluded.get(ec.u.key) != nil:
			notes = append(notes, fmt.Sprintf("segment %q excludes the user", id))
			continue
		case s.included.get(ec.u.key) != nil:
			return true, strings.Join(append(notes, fmt.Sprintf("segment %q includes the user", id)), "; ")
		}
		for i, r := range s.rules {
			if matchAll(r, ec) {
				return true, strings.Join(append(notes, fmt.Sprintf("segment %q rule %d matches the user", id, i+1)), "; ")
			}
		}
		notes = append(notes, fmt.Sprintf("segment %q: no rule matches the user", id))
	}
	if len(notes) == 0 {
		return false, "no segments listed"
	}
	return false, strings.Join(notes, "; ")
}

// explainRollout describes the rollout d serving the user, and the experiment decision.
func (x *Explanation) explainRollout(f *flag, d *dispatch, ec *evalCtx, rule string) {
	if d.err != nil {
		return
	}
	attr := ec.value(&d.by)
	ro := &RolloutExplanation{Rule: rule, DispatchKey: d.by.String(), DispatchValue: attr,
		Bucket: rollout.Percentage("", f.key, attr), Served: -1}
	for i := range d.slices {
		s := &d.slices[i]
		ro.Slices = append(ro.Slices, SliceExplanation{VariationID: s.v.id, Value: s.v.value, From: s.lo, To: s.hi})
		if ro.Served >= 0 || s.empty {
			continue
		}
		if s.full || (ro.Bucket >= s.lo && ro.Bucket <= s.hi) {
			ro.Served = i
		}
	}
	x.Rollout = ro
	if ro.Served < 0 {
		return
	}
	s := &d.slices[ro.Served]
	switch {
	case f.exptTargets:
		x.Experiment = "included: the flag sends every evaluation to experiments"
	case !d.inExpt:
		x.Experiment = "not included: " + rule + " is not part of experiments"
	case s.exptNone:
		x.Experiment = "not included: the slice sends no one to experiments"
	case s.exptFull:
		x.Experiment = "included: the slice sends everyone to experiments"
	default:
		b := rollout.Percentage("expt", f.key, attr)
		in := rollout.InRange(b, 0, s.exptBound)
		verdict := "not included"
		if in {
			verdict = "included"
		}
		x.Experiment = fmt.Sprintf("%s: experiment bucket %s, the slice sends [0, %s] to experiments", verdict, num(b), num(s.exptBound))
	}
}

// String renders the explanation for people, one step a line.
func (x Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flag %q for user %q: ", x.FlagKey, x.User.Key())
	if x.Result.Reason.Fallback() {
		fmt.Fprintf(&b, "default (%s)\n", x.Result.Reason)
		if x.Result.Err != nil {
			fmt.Fprintf(&b, "  error: %v\n", x.Result.Err)
		}
	} else {
		fmt.Fprintf(&b, "%q (%s, variation %s)\n", x.Result.Value, x.Result.Reason, x.Result.VariationID)
	}
	for _, p := range x.Problems {
		fmt.Fprintf(&b, "  problem: %s\n", p)
	}
	switch {
	case x.Result.Reason == ReasonClientNotReady, x.Result.Reason == ReasonFlagNotFound,
		x.Result.Reason == ReasonFlagArchived, x.Result.Reason == ReasonUserNotSpecified:
		return b.String()
	case x.Result.Reason == ReasonError && x.Rules == nil && x.Rollout == nil:
		return b.String() // the flag as a whole cannot be evaluated: the error says why
	}
	if !x.Enabled {
		if x.Result.Reason == ReasonOff {
			b.WriteString("  flag is off: it serves its off variation\n")
		}
		return b.String()
	}
	b.WriteString("  flag is on\n")
	switch {
	case x.Targeted:
		fmt.Fprintf(&b, "  individual targets: the user's key is one of %d\n", x.Targets)
	case x.Targets == 0:
		b.WriteString("  individual targets: none\n")
	default:
		fmt.Fprintf(&b, "  individual targets: the user's key is not one of %d\n", x.Targets)
	}
	for i, r := range x.Rules {
		verdict := "no match"
		if r.Matched {
			verdict = "match"
		}
		fmt.Fprintf(&b, "  %s: %s\n", ruleName(i, r.Name), verdict)
		for _, c := range r.Conditions {
			b.WriteString("    ")
			if c.Attribute != "" {
				if c.Present {
					fmt.Fprintf(&b, "%s = %q ", c.Attribute, c.Value)
				} else {
					fmt.Fprintf(&b, "%s (absent) ", c.Attribute)
				}
			}
			if strings.HasPrefix(c.Expected, "[") {
				fmt.Fprintf(&b, "%s %s: ", c.Operator, c.Expected) // a JSON list
			} else {
				fmt.Fprintf(&b, "%s %q: ", c.Operator, c.Expected)
			}
			switch {
			case !c.Evaluated:
				b.WriteString("not checked")
			default:
				b.WriteString(strconv.FormatBool(c.Matched))
			}
			if c.Note != "" {
				fmt.Fprintf(&b, " (%s)", c.Note)
			}
			b.WriteByte('\n')
		}
	}
	if ro := x.Rollout; ro != nil && len(ro.Slices) == 1 && ro.Served == 0 && rollout.Full(ro.Slices[0].From, ro.Slices[0].To) {
		s := ro.Slices[0]
		fmt.Fprintf(&b, "  %s serves %q to everyone (variation %s)\n", ro.Rule, s.Value, s.VariationID)
	} else if ro != nil {
		fmt.Fprintf(&b, "  %s serves by %s = %q, bucket %s:\n", ro.Rule, ro.DispatchKey, ro.DispatchValue, num(ro.Bucket))
		for i, s := range ro.Slices {
			mark := " "
			if i == ro.Served {
				mark = ">"
			}
			fmt.Fprintf(&b, "   %s [%s, %s] %q (variation %s)\n", mark, num(s.From), num(s.To), s.Value, s.VariationID)
		}
		if ro.Served < 0 {
			b.WriteString("    no slice holds the bucket\n")
		}
	}
	if x.Experiment != "" {
		fmt.Fprintf(&b, "  experiment: %s\n", x.Experiment)
	}
	return b.String()
}

// num formats a fraction in full, so a bucket on a range's end shows which side it is on.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
