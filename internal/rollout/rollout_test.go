package rollout

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Vectors of FeatBit's evaluation server's dispatch algorithm.
func TestPercentageVectors(t *testing.T) {
	cases := []struct {
		key  string
		want float64
	}{
		{"test-value", 0.14653629204258323},
		{"qKPKh1S3FolC", 0.9105919692665339},
		{"3eacb184-2d79-49df-9ea7-edd4f10e4c6f", 0.08994403155520558},
		{"ff-test-booltest-user-3", 0.645237626042217},
		{"ff-test-booltest-user-1", 0.5168836321681738},
		{"ff-test-booltest-user-4", 0.1994927953928709},
		{"ff-test-jsontest-user-1", 0.11303814221173525},
		{"ff-test-jsontest-user-2", 0.9716241317801178},
		{"return-10p-true3db19c81-e149-4b97-8a0d-79d34531fe59", 0.6181446979753673},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			assert.Equal(t, c.want, Percentage("", c.key, ""))
			// The split between the parts does not matter, only the concatenation.
			for i := 0; i <= len(c.key); i++ {
				assert.Equal(t, c.want, Percentage("", c.key[:i], c.key[i:]))
			}
		})
	}
}

func TestPercentageLongKey(t *testing.T) {
	long := strings.Repeat("k", 500)
	short := Percentage("", long[:bufSize], "")
	assert.Equal(t, Percentage("expt", long, "x"), Percentage("", "expt"+long+"x", ""))
	assert.NotEqual(t, short, Percentage("", long, ""))
}

func TestInRange(t *testing.T) {
	cases := []struct {
		pct, lo, hi float64
		want        bool
	}{
		{0.5, 0, 1, true},
		{1, 0, 1, true},
		{0.999999, 0, 0.99999, true}, // full-range shortcut within 1e-5
		{0.999999, 0, 0.9999, false},
		{0, 0, 0, false}, // zero range holds no one
		{0.5, 0.5, 1, true},
		{0.5, 0, 0.5, true}, // closed at both ends
		{0.50001, 0, 0.5, false},
		{0.2, 0.5, 1, false},
		{0.7, 0.2, 0.6, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, InRange(c.pct, c.lo, c.hi), "%v in [%v,%v]", c.pct, c.lo, c.hi)
	}
}

func BenchmarkPercentage(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Percentage("", "ff-test-bool", "test-user-3")
	}
}
