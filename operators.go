package fbclient

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dlclark/regexp2"

	"github.com/featflags/fbclient/internal/wire"
)

// opCode is a compiled condition operator.
type opCode uint8

const (
	opFalse opCode = iota // unknown operator or malformed operand: never matches
	opTrue                // always matches (NotOneOf a JSON null list)
	opEqual
	opNotEqual
	opContains
	opNotContain
	opStartsWith
	opEndsWith
	opMatchRegex
	opNotMatchRegex
	opIsOneOf
	opNotOneOf
	opIsTrue
	opIsFalse
	opBigger
	opBiggerEqual
	opLess
	opLessEqual
	opInSegment
	opNotInSegment
)

var opCodes = map[string]opCode{
	"Equal":           opEqual,
	"NotEqual":        opNotEqual,
	"Contains":        opContains,
	"NotContain":      opNotContain,
	"StartsWith":      opStartsWith,
	"EndsWith":        opEndsWith,
	"MatchRegex":      opMatchRegex,
	"NotMatchRegex":   opNotMatchRegex,
	"IsOneOf":         opIsOneOf,
	"NotOneOf":        opNotOneOf,
	"IsTrue":          opIsTrue,
	"IsFalse":         opIsFalse,
	"BiggerThan":      opBigger,
	"BiggerEqualThan": opBiggerEqual,
	"LessThan":        opLess,
	"LessEqualThan":   opLessEqual,
}

// opNames are the operator names of FeatBit's conditions, by code.
var opNames = func() [opNotInSegment + 1]string {
	var names [opNotInSegment + 1]string
	for name, op := range opCodes {
		names[op] = name
	}
	names[opInSegment] = wire.SegmentIn
	names[opNotInSegment] = wire.SegmentNotIn
	return names
}()

// Regular expressions backtrack, so a hostile pattern could hold a request for seconds. Two
// bounds apply. regexTimeout is regexp2's MatchTimeout for one match; regexp2 checks it
// against a clock that ticks every 100 ms, so a match is in effect cut off after 100 to
// 200 ms. regexBudget bounds the time one evaluation spends in regular expressions in total:
// once the matches of an evaluation have taken that long, its remaining regular-expression
// conditions are not matched. One evaluation therefore spends at most about
// regexBudget + 200 ms in regular expressions, and a pattern that times out costs one
// cut-off match. A timed-out or skipped match makes the condition false, MatchRegex and
// NotMatchRegex alike, as the error path of FeatBit's evaluation server does.
const (
	regexTimeout = 100 * time.Millisecond
	regexBudget  = 100 * time.Millisecond
)

// flaw says why a condition can never be true, for Explain and FlagProblems.
type flaw uint8

const (
	flawNone          flaw = iota
	flawUnknownOp          // the operator is not one of FeatBit's
	flawNullValue          // the condition's value is JSON null
	flawBadRegex           // the pattern does not compile
	flawBadList            // an IsOneOf/NotOneOf or segment value is not a JSON list of strings
	flawBadNumber          // a numeric operator's value is not a number
	flawNestedSegment      // a segment condition inside a segment rule
)

func (f flaw) String() string {
	switch f {
	case flawUnknownOp:
		return "unknown operator"
	case flawNullValue:
		return "the value is null"
	case flawBadRegex:
		return "invalid regular expression"
	case flawBadList:
		return "the value is not a JSON list of strings"
	case flawBadNumber:
		return "the value is not a number"
	case flawNestedSegment:
		return "segment conditions are not allowed in a segment rule"
	}
	return ""
}

// condition is a compiled condition.
type condition struct {
	op      opCode
	flaw    flaw
	attr    attrSelector
	opName  string // the operator as FeatBit names it
	operand string // the condition's value as received
	head    uint64 // head8(operand)
	num     float64
	set     keyMap
	re      *regex

	// segmentIDs are the ids of a segment condition, in order; segments are the ones found
	// in the snapshot (missing and archived segments are left out).
	segmentIDs []string
	segments   []*segment
}

// regex is a compiled pattern. timedOut is set by the first match that times out, and
// reported when the client has reported it, so that it reports the pattern once.
type regex struct {
	re       *regexp2.Regexp
	pattern  string
	timedOut atomic.Bool
	reported atomic.Bool
}

// compileCondition compiles c. Segment conditions are recognized by property, as on
// FeatBit's evaluation server; allowSegments is false inside segment rules, where they are
// never true. A condition that can never be true compiles to opFalse with its flaw.
func compileCondition(c *wire.Condition, allowSegments bool) condition {
	if c.Property == wire.SegmentIn || c.Property == wire.SegmentNotIn {
		op := opInSegment
		if c.Property == wire.SegmentNotIn {
			op = opNotInSegment
		}
		cond := condition{op: op, opName: opNames[op], operand: c.Value}
		if !allowSegments {
			cond.op, cond.flaw = opFalse, flawNestedSegment
			return cond
		}
		ids, ok := parseStringArray(c.Value)
		if !ok || c.ValueNull {
			cond.op, cond.flaw = opFalse, flawBadList
			return cond
		}
		if ids == nil {
			ids = []string{}
		}
		cond.segmentIDs = ids
		return cond
	}

	op, known := opCodes[c.Op]
	cond := condition{op: op, opName: c.Op, attr: newAttrSelector(c.Property), operand: c.Value}
	if known {
		cond.opName = opNames[op] // shared, so the received string can be freed
	}
	switch {
	case !known:
		cond.op, cond.flaw = opFalse, flawUnknownOp
		return cond
	case c.ValueNull:
		// FeatBit's evaluation server: a null value makes every operator false.
		cond.op, cond.flaw = opFalse, flawNullValue
		return cond
	}
	cond.head = head8(c.Value)
	switch op {
	case opMatchRegex, opNotMatchRegex:
		re, err := regexp2.Compile(utf16Pattern(c.Value), regexp2.None)
		if err != nil {
			// FeatBit's server fails the evaluation on an invalid pattern; both
			// operators are false here.
			cond.op, cond.flaw = opFalse, flawBadRegex
			return cond
		}
		re.MatchTimeout = regexTimeout
		cond.re = &regex{re: re, pattern: c.Value}
	case opIsOneOf, opNotOneOf:
		values, ok := parseStringArray(c.Value)
		if !ok {
			cond.op, cond.flaw = opFalse, flawBadList
			return cond
		}
		if values == nil {
			// A JSON null list: IsOneOf is false, NotOneOf is true.
			if op == opIsOneOf {
				cond.op = opFalse
			} else {
				cond.op = opTrue
			}
			return cond
		}
		cond.set = newKeySet(values)
	case opBigger, opBiggerEqual, opLess, opLessEqual:
		n, ok := parseNumber(c.Value)
		if !ok {
			cond.op, cond.flaw = opFalse, flawBadNumber
			return cond
		}
		cond.num = n
	}
	return cond
}

// parseStringArray parses a JSON array of strings. null gives (nil, true); anything that is
// not an array of strings gives ok == false.
func parseStringArray(s string) ([]string, bool) {
	values, err := wire.DecodeStringArray(s)
	return values, err == nil
}

// resolve points a segment condition at the segments of a snapshot.
func (c *condition) resolve(segments map[string]*segment) {
	if c.op != opInSegment && c.op != opNotInSegment {
		return
	}
	c.segments = nil
	for _, id := range c.segmentIDs {
		if s := segments[id]; s != nil && !s.archived {
			c.segments = append(c.segments, s)
		}
	}
}

// matchAll reports whether every condition matches; an empty list matches.
func matchAll(conds []condition, ec *evalCtx) bool {
	for i := range conds {
		if !conds[i].match(ec) {
			return false
		}
	}
	return true
}

// match evaluates the condition for u with the semantics of FeatBit's evaluation server. An
// absent attribute reads as "".
func (c *condition) match(ec *evalCtx) bool {
	switch c.op {
	case opFalse:
		return false
	case opTrue:
		return true
	case opInSegment, opNotInSegment:
		in := false
		for _, s := range c.segments {
			if s.contains(ec) {
				in = true
				break
			}
		}
		return in == (c.op == opInSegment)
	}

	// Every other operator reads one attribute: look it up once, through the flag's slot
	// cache when it has one (inlined here: this is the innermost loop of evaluation).
	var a *attribute
	var v string
	switch c.attr.kind {
	case attrCustom:
		if s := c.attr.slot; s >= 0 && ec.found&(1<<s) != 0 {
			a = ec.attr[s]
		} else {
			a = ec.custom(&c.attr)
		}
		if a != nil {
			v = a.value
		}
	case attrKey:
		v = ec.u.key
	case attrName:
		v = ec.u.Name()
	}

	switch c.op {
	case opEqual, opNotEqual:
		var h uint64
		if a != nil {
			h = a.head
		} else {
			h = head8(v)
		}
		return sameString(v, h, c.operand, c.head) == (c.op == opEqual)
	case opContains:
		return strings.Contains(v, c.operand)
	case opNotContain:
		return !strings.Contains(v, c.operand)
	case opStartsWith:
		return strings.HasPrefix(v, c.operand)
	case opEndsWith:
		return strings.HasSuffix(v, c.operand)
	case opMatchRegex, opNotMatchRegex:
		ok, done := ec.matchRegex(c.re, v)
		if !done {
			// Timed out, or no budget left: the condition is false either way.
			return false
		}
		return ok == (c.op == opMatchRegex)
	case opIsOneOf, opNotOneOf:
		var in bool
		switch {
		case c.set.m != nil:
			in = c.set.m[v] != nil
		case a != nil:
			in = c.set.getHead(v, a.head) != nil
		default:
			in = c.set.getHead(v, head8(v)) != nil
		}
		return in == (c.op == opIsOneOf)
	case opIsTrue:
		return equalFoldASCII(v, "true")
	case opIsFalse:
		return equalFoldASCII(v, "false")
	case opBigger, opBiggerEqual, opLess, opLessEqual:
		var n float64
		var ok bool
		if a != nil {
			n, ok = a.num, a.isNum
		} else if c.attr.kind != attrCustom {
			n, ok = parseNumber(v)
		}
		if !ok {
			return false
		}
		switch c.op {
		case opBigger:
			return n > c.num
		case opBiggerEqual:
			return n >= c.num
		case opLess:
			return n < c.num
		default:
			return n <= c.num
		}
	}
	return false
}

// .NET matches regular expressions over UTF-16 code units, regexp2 over code points: they
// differ on characters outside the Basic Multilingual Plane (emoji, for instance), which
// are two units in .NET: "." matches half of one, and "{n}" counts both halves. Patterns and
// values are given to regexp2 as UTF-16 units, one rune each, so that it sees what .NET does.

// utf16Pattern writes every character of pattern outside the BMP as its two UTF-16 units,
// escaped: an escaped character too, since .NET escapes the first unit and takes the second
// as it is.
func utf16Pattern(pattern string) string {
	if !hasSupplementary(pattern) {
		return pattern
	}
	var b strings.Builder
	for i := 0; i < len(pattern); {
		r, size := utf8.DecodeRuneInString(pattern[i:])
		if r == '\\' && i+1 < len(pattern) {
			next, nsize := utf8.DecodeRuneInString(pattern[i+1:])
			if next > 0xFFFF {
				r, size = next, 1+nsize // the escape adds nothing to a surrogate
			} else {
				b.WriteString(pattern[i : i+1+nsize]) // an escape pair, kept as it is
				i += 1 + nsize
				continue
			}
		}
		if r > 0xFFFF {
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04X\u%04X`, hi, lo)
		} else {
			b.WriteString(pattern[i : i+size])
		}
		i += size
	}
	return b.String()
}

// matchRegex matches v against r within the evaluation's regular-expression budget. done
// is false when the match timed out, which marks r and the evaluation, or was not tried
// because the budget is spent.
func (ec *evalCtx) matchRegex(r *regex, v string) (matched, done bool) {
	if ec.regexSpent >= regexBudget {
		return false, false
	}
	start := time.Now()
	ok, err := matchRegex(r.re, v)
	ec.regexSpent += time.Since(start)
	if err != nil {
		if !r.timedOut.Load() {
			r.timedOut.Store(true)
		}
		ec.regexTimedOut = true
		return false, false
	}
	return ok, true
}

// matchRegex matches v as .NET would. Values without characters outside the BMP, nearly
// all, are matched as they are.
func matchRegex(re *regexp2.Regexp, v string) (bool, error) {
	if !hasSupplementary(v) {
		return re.MatchString(v)
	}
	units := utf16.Encode([]rune(v))
	runes := make([]rune, len(units))
	for i, u := range units {
		runes[i] = rune(u)
	}
	return re.MatchRunes(runes)
}

// hasSupplementary reports whether s may hold a character outside the BMP: a UTF-8 lead
// byte of a four-byte sequence.
func hasSupplementary(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xF0 {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether s equals lower, an ASCII lower-case string, under .NET's
// StringComparison.OrdinalIgnoreCase, the comparison of FeatBit's evaluation server. .NET
// upper-cases each UTF-16 unit with its simple mapping, except that it leaves U+0131 'ı' and
// U+017F 'ſ' alone, the only characters outside ASCII whose upper case is in ASCII: against
// an ASCII string, only ASCII letters compare case-insensitively. Go's strings.EqualFold
// folds more ("falſe" is "false" there, and the Kelvin sign is "k").
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
