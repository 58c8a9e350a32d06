package wire

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// This file is the generic part of the decoder in decode.go: reading JSON values, strings,
// numbers and white space, skipping unknown values, and reporting errors with their offsets.

// maxDepth is the deepest nesting of arrays and objects accepted, the limit encoding/json uses.
const maxDepth = 10000

// decodeError is a syntax or type error at byte offset off of the input.
type decodeError struct {
	off int
	msg string
}

// decoder reads JSON from b, starting at i.
type decoder struct {
	b       []byte
	i       int
	depth   int
	typeErr *decodeError // first type mismatch seen; decoding continues after one
	buf     []byte       // scratch space for strings with escapes
	vars    []Variation  // variations of the flag being decoded, to share their id strings
}

// err turns the outcome of a decode into the package's error form: syntax errors first, then
// the first type error, each with a line and column.
func (d *decoder) err(e *decodeError) error {
	if e == nil {
		e = d.typeErr
	}
	if e == nil {
		return nil
	}
	return positionError(d.b, e.off, e.msg)
}

// object starts decoding an object at d.i. It returns true after consuming '{'. For null,
// and for a value of another type (recorded as a type error and skipped), it returns false
// and nil; on a syntax error it returns false and the error.
func (d *decoder) object(target string) (bool, *decodeError) {
	switch d.peek() {
	case '{':
		return true, d.enter()
	case 'n':
		return false, d.null()
	}
	return false, d.mismatch("object", target)
}

// enter consumes the '{' or '[' at d.i and counts one more level of nesting.
func (d *decoder) enter() *decodeError {
	d.depth++
	if d.depth > maxDepth {
		return &decodeError{d.i, "exceeded max depth"}
	}
	d.i++
	return nil
}

// member advances to the next member of an object whose '{' has been consumed. It returns
// the key, with the value next at d.i, or more == false after consuming the closing '}'.
// first is true before the first member. The key is valid until the next string is read.
func (d *decoder) member(first bool) (key []byte, more bool, e *decodeError) {
	b := d.b
	i := skipWS(b, d.i)
	c := byteAt(b, i)
	if !first {
		switch c {
		case ',':
			i = skipWS(b, i+1)
			c = byteAt(b, i)
		case '}':
			d.i = i + 1
			d.depth--
			return nil, false, nil
		default:
			d.i = i
			return nil, false, d.syntax("after object key:value pair")
		}
	} else if c == '}' {
		d.i = i + 1
		d.depth--
		return nil, false, nil
	}
	if c != '"' {
		d.i = i
		return nil, false, d.syntax("looking for beginning of object key string")
	}
	// Keys are short: a byte loop beats scanString's word loop.
	start := i + 1
	j := start
	for j < len(b) && plain[b[j]] {
		j++
	}
	if j < len(b) && b[j] == '"' {
		key = b[start:j]
		i = j + 1
	} else {
		if key, e = d.scanStringSlow(start, j); e != nil {
			return nil, false, e
		}
		i = d.i
	}
	i = skipWS(b, i)
	if byteAt(b, i) != ':' {
		d.i = i
		return nil, false, d.syntax("after object key")
	}
	d.i = skipWS(b, i+1)
	return key, true, nil
}

// element advances to the next element of an array whose '[' has been consumed, leaving the
// element at d.i, or returns false after consuming the closing ']'.
func (d *decoder) element(first bool) (bool, *decodeError) {
	b := d.b
	i := skipWS(b, d.i)
	c := byteAt(b, i)
	if !first {
		switch c {
		case ',':
			d.i = skipWS(b, i+1)
			return true, nil
		case ']':
		default:
			d.i = i
			return false, d.syntax("after array element")
		}
	} else if c != ']' {
		d.i = i
		return true, nil
	}
	d.i = i + 1
	d.depth--
	return false, nil
}

// ws skips JSON white space.
func (d *decoder) ws() {
	d.i = skipWS(d.b, d.i)
}

// skipWS returns the index of the first byte from b[i] on that is not JSON white space.
func skipWS(b []byte, i int) int {
	for i < len(b) {
		if c := b[i]; c > ' ' || c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			break
		}
		i++
	}
	return i
}

// byteAt returns b[i], or 0 past the end.
func byteAt(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

// peek returns the byte at d.i, or 0 at the end of the input.
func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// end checks that only white space follows the top-level value.
func (d *decoder) end() *decodeError {
	d.ws()
	if d.i < len(d.b) {
		return d.syntax("after top-level value")
	}
	return nil
}

// syntax reports the byte at d.i as unexpected, or the end of the input.
func (d *decoder) syntax(context string) *decodeError {
	if d.i >= len(d.b) {
		return &decodeError{len(d.b), "unexpected end of JSON input"}
	}
	return &decodeError{d.i, "invalid character " + quoteChar(d.b[d.i]) + " " + context}
}

func quoteChar(c byte) string {
	switch {
	case c == '\'':
		return `'\''`
	case c == '"':
		return `'"'`
	case c >= utf8.RuneSelf:
		return fmt.Sprintf("'\\x%02x'", c)
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

// typeError records a type mismatch at off unless one was recorded before.
func (d *decoder) typeError(off int, msg string) {
	if d.typeErr == nil {
		d.typeErr = &decodeError{off, msg}
	}
}

// mismatch records that the value at d.i is not of type want and skips it.
func (d *decoder) mismatch(want, target string) *decodeError {
	var got string
	switch c := d.peek(); {
	case c == '"':
		got = "string"
	case c == '{':
		got = "object"
	case c == '[':
		got = "array"
	case c == 't' || c == 'f':
		got = "bool"
	case c == 'n':
		got = "null"
	case c == '-' || c >= '0' && c <= '9':
		got = "number"
	default:
		return d.syntax("looking for beginning of value")
	}
	off := d.i
	if e := d.skip(); e != nil {
		return e
	}
	d.typeError(off, "cannot unmarshal "+got+" into "+target+" (want "+want+")")
	return nil
}

// null consumes the literal null at d.i.
func (d *decoder) null() *decodeError {
	return d.literal("null")
}

// literal consumes lit (true, false or null), whose first byte is at d.i.
func (d *decoder) literal(lit string) *decodeError {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return nil
	}
	for j := 1; j < len(lit); j++ {
		d.i++
		if d.i >= len(d.b) || d.b[d.i] != lit[j] {
			return d.syntax("in literal " + lit + " (expecting " + quoteChar(lit[j]) + ")")
		}
	}
	return nil // not reached: the fast path matched
}

// number consumes a number at d.i, whose first byte is '-' or a digit. When the number is
// simple enough to be converted exactly (at most 15 significant digits, no exponent), f is
// its value and exact is true; otherwise the caller parses it with strconv.
func (d *decoder) number() (f float64, exact bool, e *decodeError) {
	b := d.b
	i := d.i
	neg := false
	if b[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	digits, frac := 0, 0
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			mant = mant*10 + uint64(b[i]-'0')
			digits++
			i++
		}
	default:
		d.i = i
		return 0, false, d.syntax("in numeric literal")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return 0, false, d.syntax("after decimal point in numeric literal")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			mant = mant*10 + uint64(b[i]-'0')
			if mant != 0 {
				digits++
			}
			frac++
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return 0, false, d.syntax("in exponent of numeric literal")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		d.i = i
		return 0, false, nil
	}
	d.i = i
	if digits > 15 || frac >= len(pow10) {
		return 0, false, nil
	}
	// Both operands are exact float64 values, so the one rounding of the division gives the
	// correctly rounded result, as strconv.ParseFloat would.
	f = float64(mant) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true, nil
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// plain marks the bytes that stand for themselves inside a string: no quote, no backslash,
// no control character, and ASCII (bytes from 0x80 need a UTF-8 check).
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads the string at d.i and returns it as a new string.
func (d *decoder) str() (string, *decodeError) {
	b, e := d.scanString()
	if e != nil {
		return "", e
	}
	return intern(b), nil
}

// intern returns the string of b, sharing the memory of a few values that are repeated in
// every data set instead of allocating them again.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "true":
		return "true"
	case "false":
		return "false"
	case "True":
		return "True"
	case "False":
		return "False"
	case "boolean":
		return "boolean"
	case "string":
		return "string"
	case "number":
		return "number"
	case "json":
		return "json"
	case "full":
		return "full"
	case "patch":
		return "patch"
	case "keyId":
		return "keyId"
	case "name":
		return "name"
	case "IsOneOf":
		return "IsOneOf"
	case "NotOneOf":
		return "NotOneOf"
	case "Equal":
		return "Equal"
	case "NotEqual":
		return "NotEqual"
	case "Contains":
		return "Contains"
	case "NotContain":
		return "NotContain"
	case "StartsWith":
		return "StartsWith"
	case "EndsWith":
		return "EndsWith"
	case "MatchRegex":
		return "MatchRegex"
	case "NotMatchRegex":
		return "NotMatchRegex"
	case "IsTrue":
		return "IsTrue"
	case "IsFalse":
		return "IsFalse"
	case "BiggerThan":
		return "BiggerThan"
	case "BiggerEqualThan":
		return "BiggerEqualThan"
	case "LessThan":
		return "LessThan"
	case "LessEqualThan":
		return "LessEqualThan"
	case SegmentIn:
		return SegmentIn
	case SegmentNotIn:
		return SegmentNotIn
	}
	return string(b)
}

// scanString reads the string whose opening quote is at d.i and returns its contents:
// a slice of the input when it has no escapes and is valid UTF-8, otherwise the decoded
// text in d.buf. The result is valid until the next call.
func (d *decoder) scanString() ([]byte, *decodeError) {
	b := d.b
	start := d.i + 1
	i := start + plainPrefix(b[start:], true)
	for i < len(b) && plain[b[i]] {
		i++
	}
	if i < len(b) && b[i] == '"' {
		d.i = i + 1
		return b[start:i], nil
	}
	return d.scanStringSlow(start, i)
}

// Word-at-a-time constants: lsb has the low bit of each byte set, msb the high bit.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// plainPrefix returns how many leading bytes of b are plain string bytes, counting whole
// 8-byte words only (the caller finishes byte by byte). With ascii, bytes from 0x80 stop it.
func plainPrefix(b []byte, ascii bool) int {
	i := 0
	for ; len(b)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// The high bit of a byte of t is set where that byte is below 0x20, a quote or a
		// backslash (and possibly in later bytes, which do not matter: only the first counts).
		t := (x - lsb*0x20) & ^x
		q := x ^ (lsb * '"')
		t |= (q - lsb) & ^q
		s := x ^ (lsb * '\\')
		t |= (s - lsb) & ^s
		if ascii {
			t |= x
		}
		if t &= msb; t != 0 {
			return i + bits.TrailingZeros64(t)>>3
		}
	}
	return i
}

// scanStringSlow continues scanString at b[i], the first byte that is not plain.
func (d *decoder) scanStringSlow(start, i int) ([]byte, *decodeError) {
	b := d.b
	// Accept valid UTF-8 as it is, until an escape or invalid UTF-8 needs a rewrite.
	for {
		if i >= len(b) {
			d.i = i
			return nil, d.syntax("")
		}
		c := b[i]
		switch {
		case plain[c]:
			i++
			continue
		case c == '"':
			d.i = i + 1
			return b[start:i], nil
		case c < ' ':
			d.i = i
			return nil, d.syntax("in string literal")
		case c >= utf8.RuneSelf:
			if r, size := utf8.DecodeRune(b[i:]); r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		break // a backslash, or invalid UTF-8
	}
	buf := append(d.buf[:0], b[start:i]...)
	for {
		if i >= len(b) {
			d.i = i
			return nil, d.syntax("")
		}
		c := b[i]
		switch {
		case plain[c]:
			buf = append(buf, c)
			i++
		case c == '"':
			d.i = i + 1
			d.buf = buf
			return buf, nil
		case c < ' ':
			d.i = i
			return nil, d.syntax("in string literal")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(b[i:])
			buf = utf8.AppendRune(buf, r) // invalid bytes become U+FFFD one by one
			i += size
		default: // backslash
			i++
			if i >= len(b) {
				d.i = i
				return nil, d.syntax("")
			}
			switch b[i] {
			case '"', '\\', '/':
				buf = append(buf, b[i])
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, e := d.hex4(i + 1)
				if e != nil {
					return nil, e
				}
				i += 4
				if r >= 0xd800 && r < 0xe000 {
					// A high surrogate followed by an escaped low surrogate is one rune;
					// anything else is replaced, and what follows is read on its own.
					r2 := rune(-1)
					if i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
						r2 = peekHex4(b, i+3)
					}
					if r < 0xdc00 && r2 >= 0xdc00 && r2 < 0xe000 {
						r = 0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00)
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				d.i = i
				return nil, d.syntax("in string escape code")
			}
			i++
		}
	}
}

// hex4 decodes the four hex digits of a \u escape starting at b[i].
func (d *decoder) hex4(i int) (rune, *decodeError) {
	var r rune
	for j := i; j < i+4; j++ {
		if j >= len(d.b) {
			d.i = j
			return 0, d.syntax("")
		}
		v := hexVal(d.b[j])
		if v < 0 {
			d.i = j
			return 0, d.syntax("in \\u hexadecimal character escape")
		}
		r = r<<4 | v
	}
	return r, nil
}

// peekHex4 decodes four hex digits at b[i], or returns -1.
func peekHex4(b []byte, i int) rune {
	if len(b)-i < 4 {
		return -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		v := hexVal(c)
		if v < 0 {
			return -1
		}
		r = r<<4 | v
	}
	return r
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// skip validates and skips the value at d.i.
func (d *decoder) skip() *decodeError {
	switch c := d.peek(); {
	case c == '"':
		return d.skipString()
	case c == '{':
		if e := d.enter(); e != nil {
			return e
		}
		for first := true; ; first = false {
			_, more, e := d.member(first)
			if e != nil || !more {
				return e
			}
			if e := d.skip(); e != nil {
				return e
			}
		}
	case c == '[':
		if e := d.enter(); e != nil {
			return e
		}
		for first := true; ; first = false {
			more, e := d.element(first)
			if e != nil || !more {
				return e
			}
			if e := d.skip(); e != nil {
				return e
			}
		}
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		_, _, e := d.number()
		return e
	}
	return d.syntax("looking for beginning of value")
}

// skipString validates and skips the string whose opening quote is at d.i. Unlike
// scanString it accepts any byte from 0x20 up, since the text is not kept.
func (d *decoder) skipString() *decodeError {
	b := d.b
	i := d.i + 1
	for {
		i += plainPrefix(b[i:], false)
		for i < len(b) && (plain[b[i]] || b[i] >= utf8.RuneSelf) {
			i++
		}
		if i >= len(b) {
			d.i = i
			return d.syntax("")
		}
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return nil
		case c < ' ':
			d.i = i
			return d.syntax("in string literal")
		}
		// backslash
		i++
		if i >= len(b) {
			d.i = i
			return d.syntax("")
		}
		switch b[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if _, e := d.hex4(i + 1); e != nil {
				return e
			}
			i += 4
		default:
			d.i = i
			return d.syntax("in string escape code")
		}
		i++
	}
}
