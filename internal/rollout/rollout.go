// Package rollout computes FeatBit's percentage buckets: the MD5 of a dispatch key, read as a
// signed little-endian int32 and scaled to [0, 1].
package rollout

import (
	"crypto/md5"
	"encoding/binary"
	"math"
)

// bufSize covers the dispatch keys of real flags (a flag key plus a user key or attribute)
// without a heap allocation.
const bufSize = 192

// Percentage returns the bucket of prefix+a+b, the concatenation FeatBit hashes: the flag key
// followed by the dispatch attribute, with prefix "expt" for the experiment draw.
func Percentage(prefix, a, b string) float64 {
	var sum [md5.Size]byte
	switch n := len(prefix) + len(a) + len(b); {
	case n <= 64:
		// The common case, in a buffer small enough that zeroing it costs nothing.
		var buf [64]byte
		k := copy(buf[:], prefix)
		k += copy(buf[k:], a)
		k += copy(buf[k:], b)
		sum = md5.Sum(buf[:k])
	case n <= bufSize:
		var buf [bufSize]byte
		k := copy(buf[:], prefix)
		k += copy(buf[k:], a)
		k += copy(buf[k:], b)
		sum = md5.Sum(buf[:k])
	default:
		sum = md5.Sum([]byte(prefix + a + b))
	}
	n := int32(binary.LittleEndian.Uint32(sum[:4]))
	return math.Abs(float64(n) / -2147483648.0)
}

// InRange reports whether pct falls in [lo, hi] with FeatBit's evaluation-server rules: a
// range starting at 0 and ending within 1e-5 of 1 holds everyone, [0, 0] holds no one, and
// both ends are closed.
func InRange(pct, lo, hi float64) bool {
	if lo == 0 && 1-hi < 1e-5 {
		return true
	}
	if lo == 0 && hi == 0 {
		return false
	}
	return lo <= pct && pct <= hi
}

// Full reports whether [lo, hi] holds everyone, so no hash is needed.
func Full(lo, hi float64) bool { return lo == 0 && 1-hi < 1e-5 }

// Empty reports whether [lo, hi] holds no one.
func Empty(lo, hi float64) bool { return lo == 0 && hi == 0 }
