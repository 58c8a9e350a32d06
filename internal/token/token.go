// Package token builds and decodes the token that authenticates a FeatBit streaming
// connection, and decodes the environment id carried by an env secret.
//
// The token is not a signature: it is the env secret with the current time, written in a
// letter-for-digit alphabet, inserted at a random position, behind a short header that says
// where. The server rejects a token whose time is more than 30 s away from its own clock, so a
// token is built for every connection attempt.
package token

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SecretLength is the length of a FeatBit env secret.
const SecretLength = 44

// ErrMalformed is returned, wrapped, for a token or secret that cannot be decoded. Error texts
// never contain the token or the secret.
var ErrMalformed = errors.New("token: malformed")

// digitLetters maps decimal digit d to its letter in the token alphabet.
const digitLetters = "QBWSPHDXZU"

// encode writes n in decimal, left-padded with zeros to width digits and cut to the last width
// digits, each digit replaced by its letter.
func encode(n int64, width int) string {
	s := strconv.FormatInt(n, 10)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	s = s[len(s)-width:]
	b := make([]byte, len(s))
	for i := range len(s) {
		b[i] = digitLetters[s[i]-'0']
	}
	return string(b)
}

// Build returns the streaming token for secret at time now. r is a random draw in [0,1) that
// picks where the timestamp is inserted; callers pass rand.Float64(). Trailing '=' of the
// secret are dropped, as the server restores them. A time before 1970 is written as 0.
func Build(secret string, now time.Time, r float64) string {
	s := strings.TrimRight(secret, "=")
	ms := max(now.UnixMilli(), 0)
	ts := encode(ms, len(strconv.FormatInt(ms, 10)))
	start := 0
	if r > 0 {
		start = int(math.Floor(r * float64(len(s))))
	}
	start = min(max(start, 2), len(s))
	var b strings.Builder
	b.Grow(5 + len(s) + len(ts))
	b.WriteString(encode(int64(start), 3))
	b.WriteString(encode(int64(len(ts)), 2))
	b.WriteString(s[:start])
	b.WriteString(ts)
	b.WriteString(s[start:])
	return b.String()
}

// decode reads letters as decimal digits. Empty or all-blank input is 0, as on the server.
func decode(letters string, bits int) (int64, error) {
	if strings.TrimSpace(letters) == "" {
		return 0, nil
	}
	digits := make([]byte, len(letters))
	for i := range len(letters) {
		d := strings.IndexByte(digitLetters, letters[i])
		if d < 0 {
			return 0, fmt.Errorf("%w: character %d is not a digit letter", ErrMalformed, i+1)
		}
		digits[i] = byte('0' + d)
	}
	n, err := strconv.ParseUint(string(digits), 10, bits)
	if err != nil || (bits == 64 && n > math.MaxInt64) {
		return 0, fmt.Errorf("%w: number of %d digits out of range", ErrMalformed, len(digits))
	}
	return int64(n), nil
}

// Parse decodes token the way a FeatBit evaluation server does: a 3-letter position (at most
// 255), a 2-letter length (at most 255), then the payload, in which the timestamp of that
// length sits at that position. The secret is what remains of the payload, padded with '='
// to a multiple of 4; it must be 44 characters. Parse does not check the clock window nor
// whether the secret is known.
func Parse(token string) (secret string, timestampMs int64, err error) {
	if len(token) < 5 {
		return "", 0, fmt.Errorf("%w: shorter than its 5-letter header", ErrMalformed)
	}
	pos, err := decode(token[:3], 8)
	if err != nil {
		return "", 0, fmt.Errorf("position: %w", err)
	}
	n, err := decode(token[3:5], 8)
	if err != nil {
		return "", 0, fmt.Errorf("timestamp length: %w", err)
	}
	payload := token[5:]
	if int64(len(payload)) < pos+n {
		return "", 0, fmt.Errorf("%w: payload shorter than position plus timestamp length", ErrMalformed)
	}
	ts, err := decode(payload[pos:pos+n], 64)
	if err != nil {
		return "", 0, fmt.Errorf("timestamp: %w", err)
	}
	s := payload[:pos] + payload[pos+n:]
	if r := len(s) % 4; r != 0 {
		s += strings.Repeat("=", 4-r)
	}
	if len(s) != SecretLength || strings.TrimSpace(s) == "" {
		return "", 0, fmt.Errorf("%w: secret is %d characters, want %d", ErrMalformed, len(s), SecretLength)
	}
	return s, ts, nil
}

// EnvID decodes the environment id that characters 22 to 43 of a 44-character env secret
// carry: base64url of the 16 bytes of a .NET Guid. It fails for a secret of another length,
// for characters outside base64url, and for the all-zero id, as the server does.
func EnvID(secret string) (uuid.UUID, error) {
	if len(secret) != SecretLength {
		return uuid.Nil, fmt.Errorf("%w: secret is %d characters, want %d", ErrMalformed, len(secret), SecretLength)
	}
	b, err := base64.RawURLEncoding.DecodeString(secret[22:])
	if err != nil || len(b) != 16 {
		return uuid.Nil, fmt.Errorf("%w: environment id is not base64url", ErrMalformed)
	}
	id := uuid.UUID(dotNetOrder([16]byte(b)))
	if id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("%w: environment id is empty", ErrMalformed)
	}
	return id, nil
}

// FormatSecret returns the 44-character env secret made of key and env encoded the way
// FeatBit does: the first 22 characters of the base64url encoding of each id's .NET byte
// array. It is the inverse of EnvID, for test servers.
func FormatSecret(key, env uuid.UUID) string {
	k := base64.RawURLEncoding.EncodeToString(dotNetBytes(key))
	e := base64.RawURLEncoding.EncodeToString(dotNetBytes(env))
	return k[:22] + e[:22]
}

// dotNetBytes returns the byte array .NET's Guid.ToByteArray gives for id: the first three
// groups little-endian, the last eight bytes as they are.
func dotNetBytes(id uuid.UUID) []byte {
	b := dotNetOrder(id)
	return b[:]
}

// dotNetOrder swaps between RFC 4122 byte order and .NET's; it is its own inverse.
func dotNetOrder(b [16]byte) [16]byte {
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return b
}
