package token

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Fake secret from FeatBit's own test data.
const testSecret = "v3faJy3RCUO8d-EJiVdN6waRfGjfNan02Ms9c0LiTD6w"

func TestBuildWorkedExample(t *testing.T) {
	now := time.UnixMilli(1666018800754)
	r := 14.5 / 44 // floor(r*44) = 14
	got := Build(testSecret, now, r)
	want := "QBPBSv3faJy3RCUO8d-BDDDQBZZQQXHPEJiVdN6waRfGjfNan02Ms9c0LiTD6w"
	if got != want {
		t.Fatalf("Build = %q, want %q", got, want)
	}
}

func TestParseWorkedExample(t *testing.T) {
	for _, tok := range []string{
		"QBPBSv3faJy3RCUO8d-BDDDQBZZQQXHPEJiVdN6waRfGjfNan02Ms9c0LiTD6w",   // 13 digits
		"QBPBHv3faJy3RCUO8d-QQBDDDQBZZQQXHPEJiVdN6waRfGjfNan02Ms9c0LiTD6w", // 15 digits, zero-padded
	} {
		secret, ts, err := Parse(tok)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tok, err)
		}
		if secret != testSecret || ts != 1666018800754 {
			t.Errorf("Parse(%q) = %q, %d; want %q, 1666018800754", tok, secret, ts, testSecret)
		}
	}
}

func TestBuildPositionBounds(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	for _, tc := range []struct {
		r    float64
		want string // header position letters
	}{
		{0, "QQW"},       // clamped to 2
		{0.01, "QQW"},    // floor(0.44) = 0, clamped to 2
		{0.5, "QWW"},     // 22
		{0.99999, "QPS"}, // 43
	} {
		tok := Build(testSecret, now, tc.r)
		if tok[:3] != tc.want {
			t.Errorf("r=%v: header %q, want %q", tc.r, tok[:3], tc.want)
		}
		if tok[3:5] != "BS" {
			t.Errorf("r=%v: length header %q, want BS (13)", tc.r, tok[3:5])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		secret := FormatSecret(uuid.New(), uuid.New())
		if i%3 == 0 {
			secret = testSecret
		}
		now := time.UnixMilli(rng.Int64N(1 << 45))
		tok := Build(secret, now, rng.Float64())
		gotSecret, gotTS, err := Parse(tok)
		if err != nil {
			t.Fatalf("Parse(Build(...)): %v", err)
		}
		if gotSecret != secret || gotTS != now.UnixMilli() {
			t.Fatalf("round trip: got %q %d, want %q %d", gotSecret, gotTS, secret, now.UnixMilli())
		}
	}
}

func TestRoundTripPaddedSecret(t *testing.T) {
	// A secret ending in '=' loses it in the token; the server restores the padding.
	secret := testSecret[:42] + "=="
	tok := Build(secret, time.UnixMilli(1666018800754), 0.3)
	got, _, err := Parse(tok)
	if err != nil || got != secret {
		t.Fatalf("Parse = %q, %v; want %q", got, err, secret)
	}
}

func TestParseRejects(t *testing.T) {
	valid := "QBPBSv3faJy3RCUO8d-BDDDQBZZQQXHPEJiVdN6waRfGjfNan02Ms9c0LiTD6w"
	for _, tc := range []struct {
		name, token string
	}{
		{"empty", ""},
		{"short header", "QBPB"},
		{"position not letters", "1BPBS" + valid[5:]},
		{"position lower case", "qBPBS" + valid[5:]},
		{"position over 255", "WHDBS" + valid[5:]},
		{"length not letters", "QBP?S" + valid[5:]},
		{"length over 255", "QBPUU" + valid[5:]},
		{"payload too short", "QBPBS" + "v3faJy3RCUO8d-BDDD"},
		{"timestamp not letters", "QBPBSv3faJy3RCUO8d-BDDDQBZZQQXHaEJiVdN6waRfGjfNan02Ms9c0LiTD6w"},
		{"timestamp overflows int64", "QBPWQv3faJy3RCUO8d-UUUUUUUUUUUUUUUUUUUUEJiVdN6waRfGjfNan02Ms9c0LiTD6w"},
		{"secret too short", "QBPBSv3faJy3RCUO8d-BDDDQBZZQQXHPEJiVdN6waRfGjfNan02Ms9c0Li"},
		{"secret too long", valid + "abcd"},
		{"secret blank", "QQQQQ" + strings.Repeat(" ", 44)},
		{"header only", "QQQQQ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(tc.token)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error = %v, want ErrMalformed", tc.token, err)
			}
			if strings.Contains(err.Error(), testSecret[:10]) || strings.Contains(err.Error(), "v3fa") {
				t.Errorf("error text leaks the secret: %v", err)
			}
		})
	}
}

func TestParseEmptyTimestampIsZero(t *testing.T) {
	// A zero-length timestamp decodes to 0 on the server; the clock window rejects it later.
	secret, ts, err := Parse("QQWQQ" + testSecret)
	if err != nil || secret != testSecret || ts != 0 {
		t.Fatalf("Parse = %q, %d, %v", secret, ts, err)
	}
}

func TestEnvID(t *testing.T) {
	for _, tc := range []struct{ secret, env string }{
		{"v3faJy3RCUO8d-EJiVdN6waRfGjfNan02Ms9c0LiTD6w", "8dc61769-5af3-4d9f-8cb3-d7342e24c3eb"},
		{"gpnOV3wI3kKAO9q9viC0wQWdKZrVAf2U6gAnxl4lSH3w", "ad99d259-1f50-4ed9-a002-7c65e25487df"},
	} {
		id, err := EnvID(tc.secret)
		if err != nil || id.String() != tc.env {
			t.Errorf("EnvID(%q) = %v, %v; want %s", tc.secret, id, err, tc.env)
		}
	}
}

func TestEnvIDRejects(t *testing.T) {
	for _, tc := range []struct{ name, secret string }{
		{"short", testSecret[:43]},
		{"long", testSecret + "A"},
		{"not base64url", testSecret[:30] + "+/+/+/+/+/+/+/"},
		{"empty guid", testSecret[:22] + "AAAAAAAAAAAAAAAAAAAAAA"},
	} {
		if _, err := EnvID(tc.secret); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: EnvID error = %v, want ErrMalformed", tc.name, err)
		}
	}
}

func TestFormatSecret(t *testing.T) {
	env := uuid.MustParse("8dc61769-5af3-4d9f-8cb3-d7342e24c3eb")
	s := FormatSecret(uuid.New(), env)
	if len(s) != SecretLength {
		t.Fatalf("len = %d", len(s))
	}
	if s[22:] != testSecret[22:] {
		t.Errorf("env part = %q, want %q", s[22:], testSecret[22:])
	}
	got, err := EnvID(s)
	if err != nil || got != env {
		t.Errorf("EnvID = %v, %v", got, err)
	}
}
