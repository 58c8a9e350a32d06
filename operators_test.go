package fbclient

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/featflags/fbclient/internal/wire"
)

// matchOp compiles one condition on the custom attribute "attr" and evaluates it for a user
// that has attr = value, or no attr at all when absent is set.
func matchOp(op, operand, value string, absent bool) bool {
	c := compileCondition(&wire.Condition{Property: "attr", Op: op, Value: operand}, true)
	u := NewUser("user-key")
	if !absent {
		u = u.WithCustom("attr", value)
	}
	return c.match(&evalCtx{u: &u})
}

// Every operator with FeatBit evaluation-server semantics,
// including the absent-attribute column, where the attribute reads as "".
func TestOperators(t *testing.T) {
	type tc struct {
		operand, value string
		want           bool
	}
	table := map[string]struct {
		cases []tc
		// absent gives the result for a user without the attribute, per operand.
		absent []tc
	}{
		"Equal": {
			cases:  []tc{{"us", "us", true}, {"us", "US", false}, {"us", "usa", false}, {"", "", true}},
			absent: []tc{{"us", "", false}, {"", "", true}},
		},
		"NotEqual": {
			cases:  []tc{{"us", "us", false}, {"us", "fr", true}, {"", "x", true}},
			absent: []tc{{"us", "", true}, {"", "", false}},
		},
		"Contains": {
			cases:  []tc{{"gmail", "a@gmail.com", true}, {"gmail", "a@GMAIL.com", false}, {"", "anything", true}},
			absent: []tc{{"gmail", "", false}, {"", "", true}},
		},
		"NotContain": {
			cases:  []tc{{"gmail", "a@gmail.com", false}, {"gmail", "a@yahoo.com", true}},
			absent: []tc{{"gmail", "", true}, {"", "", false}},
		},
		"StartsWith": {
			cases:  []tc{{"group", "group-admin", true}, {"group", "admin-group", false}, {"", "x", true}},
			absent: []tc{{"group", "", false}, {"", "", true}},
		},
		"EndsWith": {
			cases:  []tc{{"user", "admin-user", true}, {"user", "user-admin", false}},
			absent: []tc{{"user", "", false}, {"", "", true}},
		},
		"MatchRegex": {
			cases: []tc{
				{`^1[345789]\d{9}$`, "18555358000", true},
				{`^1[345789]\d{9}$`, "28555358000", false},
				{`gmail`, "a@gmail.com", true},                 // unanchored search
				{`^(?=.*\d)(?=.*[a-z]).{6,}$`, "abc123", true}, // lookahead (.NET, not RE2)
				{`^(?=.*\d)(?=.*[a-z]).{6,}$`, "abcdef", false},
				{`^(\w)\1$`, "aa", true}, // backreference
				{`^\d+$`, "١٢٣", true},   // .NET \d is any Unicode digit
				{`^abc$`, "abc\n", true}, // $ matches before a final newline
				{`([`, "x", false},       // invalid pattern: false
			},
			absent: []tc{{`^$`, "", true}, {`.*`, "", true}, {`a+`, "", false}, {`([`, "", false}},
		},
		"NotMatchRegex": {
			cases:  []tc{{`^\d+$`, "123", false}, {`^\d+$`, "abc", true}, {`([`, "x", false}},
			absent: []tc{{`^$`, "", false}, {`a+`, "", true}, {`([`, "", false}},
		},
		"IsOneOf": {
			cases: []tc{
				{`["cn","us"]`, "us", true}, {`["cn","us"]`, "US", false}, {`["cn","us"]`, "fr", false},
				{`[]`, "us", false}, {`null`, "us", false}, {`not json`, "us", false}, {`[1,2]`, "1", false},
				{`"us"`, "us", false},
				{`["a","b","c","d","e","f","g","h","i","j","k"]`, "k", true}, // a list large enough for a map
			},
			absent: []tc{{`["cn","us"]`, "", false}, {`["", "us"]`, "", true}},
		},
		"NotOneOf": {
			cases: []tc{
				{`["cn","us"]`, "us", false}, {`["cn","us"]`, "fr", true}, {`null`, "us", true},
				{`not json`, "us", false}, {`[1,2]`, "3", false},
			},
			absent: []tc{{`["cn","us"]`, "", true}, {`["", "us"]`, "", false}},
		},
		"IsTrue": {
			cases:  []tc{{"IsTrue", "true", true}, {"IsTrue", "TRUE", true}, {"", "True", true}, {"IsTrue", "1", false}, {"IsTrue", "false", false}},
			absent: []tc{{"IsTrue", "", false}},
		},
		"IsFalse": {
			cases:  []tc{{"IsFalse", "false", true}, {"IsFalse", "False", true}, {"IsFalse", "0", false}, {"IsFalse", "true", false}},
			absent: []tc{{"IsFalse", "", false}},
		},
		"BiggerThan": {
			cases: []tc{
				{"22", "23", true}, {"22", "22", false}, {"22", "21.9", false}, {"1000", "1,500", true},
				{"22", " 23 ", true}, {"22", "abc", false}, {"abc", "23", false}, {"22", "NaN", false},
				{"22", "0x20", false}, {"22", "1e2", true}, {"-1", "-0.5", true}, {"22", "Infinity", true},
			},
			absent: []tc{{"22", "", false}, {"-22", "", false}},
		},
		"BiggerEqualThan": {
			cases:  []tc{{"1000", "1000", true}, {"1000", "999.99", false}, {"1000", "1000.0", true}},
			absent: []tc{{"0", "", false}},
		},
		"LessThan": {
			cases:  []tc{{"3000", "2999", true}, {"3000", "3000", false}, {"3000", "-5", true}},
			absent: []tc{{"3000", "", false}},
		},
		"LessEqualThan": {
			cases:  []tc{{"22", "22", true}, {"22", "22.0001", false}, {"22", "1,0", true}},
			absent: []tc{{"22", "", false}},
		},
		"UnknownOperator": {
			cases:  []tc{{"x", "x", false}},
			absent: []tc{{"", "", false}},
		},
	}
	for op, spec := range table {
		t.Run(op, func(t *testing.T) {
			for _, c := range spec.cases {
				assert.Equal(t, c.want, matchOp(op, c.operand, c.value, false), "%s(%q) on %q", op, c.operand, c.value)
			}
			for _, c := range spec.absent {
				assert.Equal(t, c.want, matchOp(op, c.operand, "", true), "%s(%q) on an absent attribute", op, c.operand)
				// An attribute set to "" behaves like an absent one, as on FeatBit's server.
				assert.Equal(t, c.want, matchOp(op, c.operand, "", false), "%s(%q) on an empty attribute", op, c.operand)
			}
		})
	}
}

// A pattern that backtracks catastrophically times out and is false, rather than hanging
// the request, for MatchRegex and NotMatchRegex alike.
func TestRegexTimeout(t *testing.T) {
	parallel(t) // waits out match timeouts
	for _, op := range []string{"MatchRegex", "NotMatchRegex"} {
		t.Run(op, func(t *testing.T) {
			parallel(t)
			c := compileCondition(&wire.Condition{Property: "attr", Op: op, Value: `^(a+)+$`}, true)
			u := NewUser("k").WithCustom("attr", hostileInput)
			ec := evalCtx{u: &u}
			assert.False(t, c.match(&ec), op)
			assert.True(t, ec.regexTimedOut, "the timeout is noted for the client to report")
			assert.True(t, c.re.timedOut.Load())
		})
	}
}

// Attribute names as FeatBit's evaluation server reads them (protocol 6.1): "keyId" and
// "name" exactly are the built-ins; every other name, whatever its case, is a custom
// attribute, case-sensitive, and reads "" when the user does not have it.
func TestBuiltInAttributes(t *testing.T) {
	u := NewUser("the-key").WithName("The Name").WithCustom("keyId", "custom-key").WithCustom("plan", "pro").
		WithCustom("Name", "Zed custom").WithCustom("key", "custom key")
	cases := []struct {
		property, want string
	}{
		{"keyId", "the-key"},   // built-in, not the custom "keyId"
		{"name", "The Name"},   // built-in
		{"key", "custom key"},  // a custom attribute
		{"Name", "Zed custom"}, // a custom attribute
		{"KeyId", ""},          // custom, absent
		{"keyid", ""},          // custom, absent
		{"NAME", ""},           // custom, absent
		{"plan", "pro"},        // custom
		{"Plan", ""},           // custom names are case-sensitive
		{"missing", ""},        // absent
		{"", ""}, {" ", ""},    // blank
		{"\t", ""}, {"keyId ", ""}, // blank; a name with a space is custom
	}
	for _, c := range cases {
		sel := newAttrSelector(c.property)
		assert.Equal(t, c.want, (&evalCtx{u: &u}).value(&sel), "%q", c.property)
	}
	// The name defaults to the key.
	anon := NewUser("k")
	sel := newAttrSelector("name")
	assert.Equal(t, "k", (&evalCtx{u: &anon}).value(&sel))

	// The example: a rule on "Name" reads the custom property, as the server does.
	w := stringFlag("edge", "none", "by-Name")
	w.Rules = []wire.Rule{{Name: "by Name", Conditions: []wire.Condition{{Property: "Name", Op: "Equal", Value: "Zed custom"}},
		Variations: []wire.RolloutVariation{{ID: "v1", Rollout: []float64{0, 1}}}}}
	f := compileFlag(&w, 1, nil)
	edge := NewUser("edge-custom-name").WithCustom("Name", "Zed custom")
	assert.Equal(t, "by-Name", evaluate(f, &edge).v.value)
	named := NewUser("edge-custom-name").WithName("Zed custom")
	assert.Equal(t, "none", evaluate(f, &named).v.value, "the built-in name is not \"Name\"")

	// A dispatch key "Name" hashes the custom property too; users without it share the
	// bucket of the flag key alone.
	w = stringFlag("by-name", "a", "b")
	w.Fallthrough = wire.Fallthrough{DispatchKey: "Name", Variations: []wire.RolloutVariation{
		{ID: "v0", Rollout: []float64{0, 0.5}}, {ID: "v1", Rollout: []float64{0.5, 1}}}}
	f = compileFlag(&w, 1, nil)
	for _, key := range []string{"a", "b", "c", "d"} {
		for _, u := range []User{NewUser(key).WithName(key + "-name"), NewUser(key).WithCustom("Name", key)} {
			attr, _ := u.Custom("Name")
			want := "a"
			if bucket("by-name"+attr) > 0.5 {
				want = "b"
			}
			assert.Equal(t, want, evaluate(f, &u).v.value, "%s", key)
		}
	}
}

// IsTrue and IsFalse compare as .NET's OrdinalIgnoreCase does on FeatBit's server: ASCII
// letters in any case, and nothing else: U+017F (long s) is not "s" and the Kelvin sign is
// not "k", though Go's strings.EqualFold folds both.
func TestIsTrueIsFalseFolding(t *testing.T) {
	cases := []struct {
		op, value string
		want      bool
	}{
		{"IsTrue", "true", true}, {"IsTrue", "TRUE", true}, {"IsTrue", "tRuE", true},
		{"IsFalse", "false", true}, {"IsFalse", "FALSE", true}, {"IsFalse", "fAlSe", true},
		{"IsFalse", "falſe", false}, {"IsFalse", "FALſE", false}, // U+017F
		{"IsTrue", "truе", false}, // Cyrillic е
		{"IsTrue", "ｔｒｕｅ", false}, // full-width
		{"IsTrue", " true", false}, {"IsTrue", "true ", false}, {"IsTrue", "true\x00", false},
		{"IsTrue", "tru", false}, {"IsTrue", "truee", false}, {"IsFalse", "true", false},
		{"IsTrue", "1", false}, {"IsFalse", "0", false}, {"IsTrue", "yes", false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, matchOp(c.op, c.op, c.value, false), "%s on %q", c.op, c.value)
	}
	assert.True(t, strings.EqualFold("falſe", "false"), "Go's folding differs from .NET's here")
	// The typed conversions read booleans the same way.
	assert.False(t, newVariation("id", "falſe", typeString).boolOK)
	assert.True(t, newVariation("id", "FaLsE", typeString).boolOK)
}

func TestSegmentConditions(t *testing.T) {
	segs := map[string]*segment{
		"s1": compileSegment(&wire.Segment{ID: "s1", Included: []string{"in", "both"}, Excluded: []string{"out", "both"},
			Rules: []wire.SegmentRule{{Conditions: []wire.Condition{{Property: "plan", Op: "Equal", Value: "pro"}}}}}, 1),
		"s2":       compileSegment(&wire.Segment{ID: "s2", Included: []string{"two"}}, 1),
		"archived": compileSegment(&wire.Segment{ID: "archived", Included: []string{"in"}, IsArchived: true}, 1),
		"nested": compileSegment(&wire.Segment{ID: "nested", Rules: []wire.SegmentRule{{Conditions: []wire.Condition{
			{Property: wire.SegmentIn, Value: `["s2"]`}}}}}, 1),
	}
	cond := func(prop, ids string) condition {
		c := compileCondition(&wire.Condition{Property: prop, Value: ids}, true)
		c.resolve(segs)
		return c
	}
	cases := []struct {
		prop, ids string
		user      User
		want      bool
	}{
		{wire.SegmentIn, `["s1"]`, NewUser("in"), true},
		{wire.SegmentIn, `["s1"]`, NewUser("out"), false},
		{wire.SegmentIn, `["s1"]`, NewUser("both"), false}, // exclusion wins
		{wire.SegmentIn, `["s1"]`, NewUser("x").WithCustom("plan", "pro"), true},
		{wire.SegmentIn, `["s1"]`, NewUser("out").WithCustom("plan", "pro"), false},
		{wire.SegmentIn, `["s1","s2"]`, NewUser("two"), true}, // any listed segment
		{wire.SegmentIn, `["missing","s2"]`, NewUser("two"), true},
		{wire.SegmentIn, `["archived"]`, NewUser("in"), false}, // archived segments are skipped
		{wire.SegmentIn, `["nested"]`, NewUser("two"), false},  // nested segment conditions are false
		{wire.SegmentIn, `[]`, NewUser("in"), false},
		{wire.SegmentIn, `garbage`, NewUser("in"), false},
		{wire.SegmentNotIn, `["s1"]`, NewUser("in"), false},
		{wire.SegmentNotIn, `["s1"]`, NewUser("out"), true},
		{wire.SegmentNotIn, `["s1","s2"]`, NewUser("two"), false},
		{wire.SegmentNotIn, `["missing"]`, NewUser("two"), true},
		{wire.SegmentNotIn, `garbage`, NewUser("two"), false},
	}
	for _, c := range cases {
		cd := cond(c.prop, c.ids)
		assert.Equal(t, c.want, cd.match(&evalCtx{u: &c.user}), "%s %s for %s", c.prop, c.ids, c.user.Key())
	}
}

// Regular expressions see characters outside the BMP as two UTF-16 units, as .NET does.
func TestRegexUTF16(t *testing.T) {
	for _, c := range []struct {
		pattern, value string
		want           bool
	}{
		{`^.$`, "😀", false}, {`^..$`, "😀", true}, {`^.{3}$`, "a😀", true},
		{`^\uD83D\uDE00$`, "😀", true}, {`^😀$`, "😀", true}, {`^\😀$`, "😀", true},
		{`^[😀]$`, "😀", false}, {`[😀]`, "😀", true}, {`^😀+$`, "😀😀", false}, {`^(😀)+$`, "😀😀", true},
		{`^a.b$`, "a😀b", false}, {`^a..b$`, "a😀b", true}, {`^\\😀$`, `\😀`, true},
		{`^.$`, "é", true}, {`^\w+$`, "héllo", true},
	} {
		assert.Equal(t, c.want, matchOp("MatchRegex", c.pattern, c.value, false), "%s on %q", c.pattern, c.value)
	}
}

// A JSON null condition value makes every operator false, the negated ones included, as on
// FeatBit's evaluation server; a null item of a list equals no value.
func TestNullOperands(t *testing.T) {
	users := []User{NewUser("k"), NewUser("k").WithCustom("attr", ""), NewUser("k").WithCustom("attr", "true"),
		NewUser("k").WithCustom("attr", "5")}
	for op := range opCodes {
		c := compileCondition(&wire.Condition{Property: "attr", Op: op, ValueNull: true}, true)
		for _, u := range users {
			assert.False(t, c.match(&evalCtx{u: &u}), "%s null for %v", op, u)
		}
	}
	assert.False(t, matchOp("IsOneOf", `["a",null]`, "", true))
	assert.True(t, matchOp("NotOneOf", `["a",null]`, "", true))
	assert.True(t, matchOp("IsOneOf", `[null,"x"]`, "x", false))
	assert.False(t, matchOp("NotOneOf", `[null,"x"]`, "x", false))
}

// A blank property reads "", whatever custom attributes the user has, as on FeatBit's
// evaluation server.
func TestBlankProperty(t *testing.T) {
	u := NewUser("k").WithCustom(" ", "x").WithCustom("", "x")
	for _, c := range []struct {
		prop, op, value string
		want            bool
	}{
		{" ", "Equal", "x", false}, {"", "Equal", "x", false}, {"\t", "Equal", "", true},
		{" ", "NotEqual", "x", true}, {" ", "IsOneOf", `[""]`, true}, {" ", "BiggerThan", "-1", false},
	} {
		cd := compileCondition(&wire.Condition{Property: c.prop, Op: c.op, Value: c.value}, true)
		assert.Equal(t, c.want, cd.match(&evalCtx{u: &u}), "%q %s %q", c.prop, c.op, c.value)
		assert.Equal(t, "", (&evalCtx{u: &u}).value(&cd.attr), "%q", c.prop)
	}
}

// parseNumber follows .NET's double.TryParse (invariant culture), as FeatBit's evaluation
// server parses numbers.
func TestParseNumber(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"42", 42, true}, {" 42 ", 42, true}, {"\t42\r\n", 42, true}, {"-1.5", -1.5, true},
		{"+7", 7, true}, {"1e3", 1000, true}, {"1E-2", 0.01, true}, {"1e+3", 1000, true},
		{".5", 0.5, true}, {"1.", 1, true}, {"-.5", -0.5, true},
		{"1,000", 1000, true}, {"1,000.5", 1000.5, true}, {"1,", 1, true}, {"1,,000", 1000, true},
		{"1,.5", 1.5, true}, {"1.5,0", 0, false}, {",1", 0, false}, {"-,1", 0, false},
		{"5\x00", 5, true}, {"5 \x00\x00", 5, true}, {"5\x00 ", 0, false},
		{"1e400", inf, true}, {"-1e400", -inf, true}, {"1e-400", 0, true},
		{"Infinity", inf, true}, {"INFINITY", inf, true}, {"-infinity", -inf, true},
		{"+Infinity", inf, true}, {" Infinity ", inf, true},
		{"Inf", 0, false}, {"+inf", 0, false}, {"--Infinity", 0, false}, {"∞", 0, false},
		{"NaN", 0, false}, {"nan", 0, false}, {"0x10", 0, false}, {"1_000", 0, false},
		{"", 0, false}, {" ", 0, false}, {".", 0, false}, {"+", 0, false}, {"1e", 0, false},
		{"1e+", 0, false}, {"e5", 0, false}, {"abc", 0, false}, {"12abc", 0, false},
		{"\u00a05", 0, false}, {"1 000", 0, false}, {"1.2.3", 0, false},
	}
	for _, c := range cases {
		got, ok := parseNumber(c.in)
		assert.Equal(t, c.ok, ok, "%q", c.in)
		if ok {
			assert.Equal(t, c.want, got, "%q", c.in)
		}
	}
}
