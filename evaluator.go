package fbclient

import (
	"github.com/featflags/fbclient/internal/rollout"
)

// result is the outcome of evaluating one flag for one user: the served variation (nil on
// fallback), the reason, and sendToExperiment.
type result struct {
	v      *variation
	reason Reason
	marks  resultMarks
	err    error
	// (Four fields: the compiler keeps a struct of at most four fields in registers; a
	// fifth makes every result a value in memory, which costs the evaluation path about
	// two thirds of its speed. New flags go in marks.)
}

// resultMarks are a result's yes/no facts, packed so that result keeps four fields.
type resultMarks uint8

const (
	markInExpt resultMarks = 1 << iota // FeatBit's sendToExperiment
	markSplit                          // a percentage rollout chose v
)

func marks(inExpt, split bool) resultMarks {
	var m resultMarks
	if inExpt {
		m |= markInExpt
	}
	if split {
		m |= markSplit
	}
	return m
}

// inExpt reports FeatBit's sendToExperiment.
func (r result) inExpt() bool { return r.marks&markInExpt != 0 }

// split reports whether a percentage rollout chose the variation.
func (r result) split() bool { return r.marks&markSplit != 0 }

// Results of the checks that come before a flag's rules.
var (
	notFound    = result{reason: ReasonFlagNotFound, err: ErrFlagNotFound}
	archived    = result{reason: ReasonFlagArchived, err: ErrFlagArchived}
	invalidUser = result{reason: ReasonUserNotSpecified, err: ErrInvalidUser}
)

// evaluate finds the flag key in the snapshot and evaluates it for the context's user,
// with FeatBit's SDK order of checks: the flag exists, is not archived (FeatBit's evaluation
// server answers "flag archived"), and the user is valid; then the flag's rules. The flag
// is nil when it does not exist or is archived. The context tells the caller afterwards
// whether a regular expression timed out.
func (s *snapshot) evaluate(key string, ec *evalCtx) (*flag, result) {
	f := s.flag(key)
	switch {
	case f == nil && s.item(key) != nil:
		return nil, archived
	case f == nil:
		return nil, notFound
	case !ec.u.Valid():
		return f, invalidUser
	}
	return f, ec.evaluate(f)
}

// evaluate runs FeatBit's evaluation algorithm as its evaluation server does: off, individual
// targets, the first rule whose conditions all match, then the default rule. It is a pure
// function of the compiled flag and the user, does not allocate, and never panics on any
// compiled data: compilation has already turned malformed parts into false conditions or
// into f.err and dispatch errors.
func evaluate(f *flag, u *User) result {
	ec := evalCtx{u: u}
	return ec.evaluate(f)
}

// evaluate is evaluate for the context's user, which must be fresh.
func (ec *evalCtx) evaluate(f *flag) result {
	if f.err != nil {
		return result{reason: ReasonError, err: f.err}
	}
	if !f.enabled {
		return result{v: f.off, reason: ReasonOff}
	}
	if v := f.targets.get(ec.u.key); v != nil {
		return result{v: v, reason: ReasonTargetMatch, marks: marks(f.exptTargets, false)}
	}
	for i := range f.rules {
		r := &f.rules[i]
		if matchAll(r.conditions, ec) {
			return f.serve(&r.dispatch, ec, ReasonRuleMatch)
		}
	}
	return f.serve(&f.deflt, ec, ReasonFallthrough)
}

// serve picks the variation of a rollout for u. The bucket is computed at most once, and
// only when a slice is neither everyone nor no one.
func (f *flag) serve(d *dispatch, ec *evalCtx, reason Reason) result {
	if d.err != nil {
		return result{reason: ReasonError, err: d.err}
	}
	attr := ""
	hashed := false
	pct := 0.0
	for i := range d.slices {
		s := &d.slices[i]
		switch {
		case s.full:
		case s.empty:
			continue
		default:
			if !hashed {
				attr = ec.value(&d.by)
				pct = rollout.Percentage("", f.key, attr)
				hashed = true
			}
			if pct < s.lo || pct > s.hi {
				continue
			}
		}
		return result{v: s.v, reason: reason, marks: marks(f.inExperiment(d, s, ec, attr, hashed), !s.full)}
	}
	// The slices leave a gap where this user's bucket falls. FeatBit's server would serve an
	// empty variation; the caller gets the default instead.
	return result{reason: ReasonError, err: errNoSlice}
}

var errNoSlice = wrapEvalError("the rollout's ranges do not cover the user's bucket")

// inExperiment computes sendToExperiment for a served slice, as FeatBit's evaluation server does.
func (f *flag) inExperiment(d *dispatch, s *slice, ec *evalCtx, attr string, haveAttr bool) bool {
	switch {
	case f.exptTargets:
		return true
	case !d.inExpt, s.exptNone:
		return false
	case s.exptFull:
		return true
	}
	if !haveAttr {
		attr = ec.value(&d.by)
	}
	return rollout.InRange(rollout.Percentage("expt", f.key, attr), 0, s.exptBound)
}
