package fbclient

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/featflags/fbclient/internal/wire"
)

// The insight body is written by hand into a reused buffer: one item per event, in the
// shape of wire.InsightItem, with the bytes encoding/json would produce for it (without its
// HTML escaping, which FeatBit does not need).

const (
	itemUser       = `{"user":{"keyId":`
	itemName       = `,"name":`
	itemProps      = `,"customizedProperties":[`
	propName       = `{"name":`
	propValue      = `,"value":`
	itemVariation  = `]},"variations":[{"featureFlagKey":`
	itemExpt       = `,"sendToExperiment":`
	itemTimestamp  = `,"timestamp":`
	itemVarID      = `,"variation":{"id":`
	itemVarValue   = `,"value":`
	itemVarReason  = `,"reason":`
	itemVarEnd     = `}}]}`
	itemMetric     = `]},"metrics":[{"route":"` + wire.MetricRoute + `","type":"` + wire.MetricTypeCustom + `","eventName":`
	itemMetricNum  = `,"numericValue":`
	itemMetricTail = `,"appType":"` + wire.AppTypeGoServer + `","timestamp":`
	itemMetricEnd  = `}]}`
)

// appendItem appends the insight item of an evaluation or metric record that happened at at.
func appendItem(b []byte, r *record, at time.Time) []byte {
	u := &r.user
	b = append(b, itemUser...)
	b = appendString(b, u.key)
	b = append(b, itemName...)
	b = appendString(b, u.Name())
	b = append(b, itemProps...)
	for i := range u.attrs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, propName...)
		b = appendString(b, u.attrs[i].name)
		b = append(b, propValue...)
		b = appendString(b, u.attrs[i].value)
		b = append(b, '}')
	}
	if r.kind == recordMetric {
		b = append(b, itemMetric...)
		b = appendString(b, r.metric)
		b = append(b, itemMetricNum...)
		b = appendFloat(b, r.value)
		b = append(b, itemMetricTail...)
		b = strconv.AppendInt(b, at.UnixMilli(), 10)
		return append(b, itemMetricEnd...)
	}
	b = append(b, itemVariation...)
	b = appendString(b, r.flag.key)
	b = append(b, itemExpt...)
	b = strconv.AppendBool(b, r.inExpt)
	b = append(b, itemTimestamp...)
	b = strconv.AppendInt(b, at.UnixMilli(), 10)
	b = append(b, itemVarID...)
	b = appendString(b, r.v.id)
	b = append(b, itemVarValue...)
	b = appendString(b, r.v.value)
	b = append(b, itemVarReason...)
	b = appendString(b, r.reason.String())
	return append(b, itemVarEnd...)
}

// plainASCII marks the bytes below utf8.RuneSelf that a JSON string holds as they are.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, as encoding/json writes it without HTML escaping:
// quotes, backslashes and control characters escaped (\b \f \n \r \t by name), invalid UTF-8
// replaced by U+FFFD, and U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plainWord(s[i:]) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if plainASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainWord reports whether the first 8 bytes of s are all plain ASCII: no control
// character, quote, backslash or byte of a multi-byte sequence.
func plainWord(s string) bool {
	_ = s[7]
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (w - 0x20*ones) &^ w // high bit set in a byte < 0x20 (at least the first)
	quote := (w ^ '"'*ones - ones) &^ (w ^ '"'*ones)
	slash := (w ^ '\\'*ones - ones) &^ (w ^ '\\'*ones)
	return (below|quote|slash|w)&highs == 0
}

// appendFloat appends a finite f as encoding/json writes a float64: the shortest
// representation, with an exponent only for very small or very large magnitudes.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 -> e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
