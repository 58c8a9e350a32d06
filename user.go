package fbclient

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// User is the end user a flag is evaluated for: a key (FeatBit's keyId), a display name and
// custom attributes. It is an immutable value: every With method returns a new User and
// leaves the receiver unchanged, so one User can be shared by goroutines and reused across
// evaluations.
//
// Rules and percentage rollouts read attributes by name, exactly as FeatBit's evaluation
// server does: "keyId" is the key, "name" is the name, and every other name ("key", "KeyId",
// "Name", ...) is a custom attribute, matched case-sensitively. An attribute the user does
// not have reads as "".
type User struct {
	key   string
	name  string
	attrs []attribute
}

// attribute is a custom attribute with its numeric form parsed once, so numeric operators
// do no parsing during evaluation.
type attribute struct {
	name  string
	value string
	head  uint64 // head8(value), for comparisons that rarely need the bytes
	num   float64
	isNum bool
}

// NewUser returns a user with the given key. The key identifies the user to FeatBit and is the
// default dispatch key of percentage rollouts; it must not be blank for a user to be valid.
// The name defaults to the key until WithName sets another.
func NewUser(key string) User {
	return User{key: key}
}

// WithName returns a copy of u with the given display name. An empty name means "the key",
// as in FeatBit's own SDKs.
func (u User) WithName(name string) User {
	u.name = name
	return u
}

// WithCustom returns a copy of u with the custom attribute name set to value, replacing an
// earlier value of the same name. The exact names "keyId" and "name" belong to the built-in
// attributes: conditions on them read the key and the name, so a custom attribute with one
// of these names is sent to FeatBit but never used by evaluation. Any other name, "Name" or
// "key" included, is an ordinary custom attribute.
func (u User) WithCustom(name, value string) User {
	num, isNum := parseNumber(value)
	a := attribute{name: name, value: value, head: head8(value), num: num, isNum: isNum}
	attrs := make([]attribute, len(u.attrs), len(u.attrs)+1)
	copy(attrs, u.attrs)
	for i := range attrs {
		if attrs[i].name == name {
			attrs[i] = a
			u.attrs = attrs
			return u
		}
	}
	u.attrs = append(attrs, a)
	return u
}

// Key returns the user's key.
func (u User) Key() string { return u.key }

// Name returns the user's display name: the name given to WithName, or the key.
func (u User) Name() string {
	if u.name == "" {
		return u.key
	}
	return u.name
}

// Custom returns the value of the custom attribute name and whether the user has it.
func (u User) Custom(name string) (string, bool) {
	for i := range u.attrs {
		if u.attrs[i].name == name {
			return u.attrs[i].value, true
		}
	}
	return "", false
}

// CustomNames returns the names of the user's custom attributes in the order they were set.
func (u User) CustomNames() []string {
	names := make([]string, len(u.attrs))
	for i := range u.attrs {
		names[i] = u.attrs[i].name
	}
	return names
}

// Valid reports whether the user can be evaluated: its key must not be blank. Evaluating an
// invalid user returns the caller's default with ReasonUserNotSpecified.
func (u User) Valid() bool { return strings.TrimSpace(u.key) != "" }

// String returns the user's key, for logs.
func (u User) String() string { return u.key }

// MarshalJSON encodes the user as FeatBit's end-user object: keyId, name and
// customizedProperties.
func (u User) MarshalJSON() ([]byte, error) {
	type property struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	props := make([]property, len(u.attrs))
	for i, a := range u.attrs {
		props[i] = property{a.name, a.value}
	}
	return json.Marshal(struct {
		KeyID                string     `json:"keyId"`
		Name                 string     `json:"name"`
		CustomizedProperties []property `json:"customizedProperties"`
	}{u.key, u.Name(), props})
}

// attrKind says where an attribute selector reads from.
type attrKind uint8

const (
	attrKey attrKind = iota
	attrName
	attrCustom
	attrBlank // a blank name: FeatBit's evaluation server reads ""
)

// attrSelector is a compiled attribute name. Custom attributes used by a flag's rules get a
// slot, so one evaluation looks each of them up at most once however many conditions read
// it; slot is -1 for the rest.
type attrSelector struct {
	kind attrKind
	slot int8
	name string
}

// newAttrSelector resolves an attribute name from a condition or dispatch key as FeatBit's
// evaluation server does: a blank name reads "", the exact names "keyId" and "name" are the
// built-ins, and every other name is a custom attribute. (FeatBit's Go and Python SDKs also
// map "key" and any case of "keyid" and "name" to the built-ins; the server does not.)
func newAttrSelector(name string) attrSelector {
	switch {
	case strings.TrimSpace(name) == "":
		return attrSelector{kind: attrBlank, slot: -1, name: name}
	case name == "keyId":
		return attrSelector{kind: attrKey, slot: -1}
	case name == "name":
		return attrSelector{kind: attrName, slot: -1}
	}
	return attrSelector{kind: attrCustom, slot: -1, name: name}
}

// String returns the attribute name as a condition or dispatch key gives it.
func (s *attrSelector) String() string {
	switch s.kind {
	case attrKey:
		return "keyId"
	case attrName:
		return "name"
	}
	return s.name
}

// maxSlots is the number of distinct custom attributes per flag whose lookups are cached
// during one evaluation; further ones are looked up each time.
const maxSlots = 8

// evalCtx is the state of one evaluation: the user, and the flag's custom attributes as
// found in it.
type evalCtx struct {
	u     *User
	found uint8                // bit i: slot i has been looked up
	attr  [maxSlots]*attribute // the attribute of slot i, nil if the user does not have it

	// regexSpent is the time spent matching regular expressions so far (see regexBudget),
	// and regexTimedOut is set when one of them timed out. (A flag, not the pattern: a
	// pointer read from here into the result would make the user escape to the heap.)
	regexSpent    time.Duration
	regexTimedOut bool
}

// custom returns the user's attribute for a custom selector, nil if the user does not
// have it.
func (ec *evalCtx) custom(s *attrSelector) *attribute {
	if s.slot < 0 {
		return ec.u.attribute(s.name)
	}
	bit := uint8(1) << s.slot
	if ec.found&bit == 0 {
		ec.attr[s.slot] = ec.u.attribute(s.name)
		ec.found |= bit
	}
	return ec.attr[s.slot]
}

// attribute returns the custom attribute name, nil if the user does not have it.
func (u *User) attribute(name string) *attribute {
	for i := range u.attrs {
		if u.attrs[i].name == name {
			return &u.attrs[i]
		}
	}
	return nil
}

// value returns the attribute's value, "" when the user does not have it.
func (ec *evalCtx) value(s *attrSelector) string {
	switch s.kind {
	case attrKey:
		return ec.u.key
	case attrName:
		return ec.u.Name()
	case attrBlank:
		return ""
	}
	if a := ec.custom(s); a != nil {
		return a.value
	}
	return ""
}

// parseNumber reads a number the way FeatBit's evaluation server does (.NET's
// double.TryParse with the invariant culture): white space (tab to carriage return, and
// space) around it, an optional sign, digits with ',' group separators anywhere after the
// first digit of the integer part, an optional fraction and exponent, and trailing NUL
// characters; or "Infinity" in any case, with an optional sign. A number too large for a
// float64 is infinite. NaN, hexadecimal and '_'-separated forms are rejected.
func parseNumber(s string) (float64, bool) {
	s = strings.Trim(strings.TrimRight(s, "\x00"), " \t\n\v\f\r")
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits, commas := 0, false
	for ; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			digits++
		} else if c == ',' && digits > 0 {
			commas = true
		} else {
			break
		}
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits > 0 && i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && s[j] >= '0' && s[j] <= '9' {
			for i = j; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			}
		}
	}
	if digits == 0 || i != len(s) {
		return parseInfinity(s)
	}
	if commas {
		s = strings.ReplaceAll(s, ",", "")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// parseInfinity reads .NET's invariant-culture infinity symbols, in any case.
func parseInfinity(s string) (float64, bool) {
	sign := 1.0
	switch {
	case strings.HasPrefix(s, "-"):
		s, sign = s[1:], -1
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	if equalFoldASCII(s, "infinity") {
		return math.Inf(int(sign)), true
	}
	return 0, false
}
