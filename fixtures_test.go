package fbclient

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/internal/wire"
)

// The expected results of FeatBit's own SDK test suites, run
// against FeatBit's fixture file.
func TestFeatBitFixture(t *testing.T) {
	c := newOffline(t, "testdata/featbit_test_data.json")

	user := func(key string, kv ...string) User {
		u := NewUser(key)
		for i := 0; i+1 < len(kv); i += 2 {
			u = u.WithCustom(kv[i], kv[i+1])
		}
		return u
	}
	u1 := user("test-user-1", "country", "us")
	u2 := user("test-user-2", "country", "fr")
	u3 := user("test-user-3", "country", "cn", "major", "cs")
	u4 := user("test-user-4", "country", "uk", "major", "physics")

	cases := []struct {
		name   string
		user   User
		flag   string
		value  string
		reason Reason
		expt   bool
	}{
		{"bool target 1", u1, "ff-test-bool", "true", ReasonTargetMatch, true},
		{"bool target 2", u2, "ff-test-bool", "true", ReasonTargetMatch, true},
		{"bool rollout 3", u3, "ff-test-bool", "false", ReasonFallthrough, true},
		{"bool rollout 4", u4, "ff-test-bool", "true", ReasonFallthrough, true},
		{"number us", u1, "ff-test-number", "1", ReasonRuleMatch, true},
		{"number fr", u2, "ff-test-number", "33", ReasonRuleMatch, true},
		{"number cn", u3, "ff-test-number", "86", ReasonRuleMatch, true},
		{"number uk", u4, "ff-test-number", "9999", ReasonFallthrough, true},
		{"string cn phone", NewUser("18555358000").WithName("test-user-5"), "ff-test-string", "phone number", ReasonRuleMatch, true},
		{"string fr phone", NewUser("0603111111").WithName("test-user-6"), "ff-test-string", "phone number", ReasonRuleMatch, true},
		{"string email", NewUser("test-user-7@featbit.com"), "ff-test-string", "email", ReasonRuleMatch, true},
		{"string others", u1, "ff-test-string", "others", ReasonFallthrough, true},
		{"seg included", u1, "ff-test-seg", "teamA", ReasonRuleMatch, true},
		{"seg excluded", u2, "ff-test-seg", "teamB", ReasonFallthrough, true},
		{"seg rule", u3, "ff-test-seg", "teamA", ReasonRuleMatch, true},
		{"seg no match", u4, "ff-test-seg", "teamB", ReasonFallthrough, true},
		{"off", u1, "ff-test-off", "false", ReasonOff, false},
		{"eval target", NewUser("test-target-user"), "ff-evaluation-test", "teamB", ReasonTargetMatch, true},
		{"eval IsTrue", user("test-true-user", "graduated", "true"), "ff-evaluation-test", "teamC", ReasonRuleMatch, true},
		{"eval Equal", user("test-equal-user", "country", "CHN"), "ff-evaluation-test", "teamD", ReasonRuleMatch, true},
		{"eval Than", user("test-than-user", "salary", "2500"), "ff-evaluation-test", "teamE", ReasonRuleMatch, true},
		{"eval Contains", user("test-contain-user", "email", "test-contain-user@gmail.com"), "ff-evaluation-test", "teamF", ReasonRuleMatch, true},
		{"eval IsOneOf", user("test-isoneof-user", "major", "CS"), "ff-evaluation-test", "teamG", ReasonRuleMatch, true},
		{"eval StartsEnds", NewUser("group-admin-user"), "ff-evaluation-test", "teamH", ReasonRuleMatch, true},
		{"eval regex", user("test-regex-user", "phone", "18555358000"), "ff-evaluation-test", "teamI", ReasonRuleMatch, true},
		{"eval fallthrough", NewUser("test-fallthrough-user"), "ff-evaluation-test", "teamA", ReasonFallthrough, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := c.VariationDetail(tc.flag, tc.user, "default")
			assert.Equal(t, tc.value, d.Value)
			assert.Equal(t, tc.reason, d.Reason)
			assert.Equal(t, tc.expt, d.InExperiment)
			assert.NoError(t, d.Err)
			assert.NotEmpty(t, d.VariationID)
		})
	}

	t.Run("json", func(t *testing.T) {
		type payload struct {
			Code   int    `json:"code"`
			Reason string `json:"reason"`
		}
		p, d := JSONVariationDetail(c, "ff-test-json", u1, payload{})
		assert.Equal(t, 200, p.Code)
		assert.Equal(t, ReasonFallthrough, d.Reason)
		assert.True(t, d.InExperiment)
		p, d = JSONVariationDetail(c, "ff-test-json", u2, payload{})
		assert.Equal(t, 404, p.Code)
		assert.Equal(t, ReasonFallthrough, d.Reason)
	})

	t.Run("typed", func(t *testing.T) {
		assert.True(t, c.BoolVariation("ff-test-bool", u1, false))
		assert.False(t, c.BoolVariation("ff-test-bool", u3, true))
		assert.Equal(t, 33, c.IntVariation("ff-test-number", u2, -1))
		assert.Equal(t, 86.0, c.Float64Variation("ff-test-number", u3, -1))
		assert.False(t, c.BoolVariation("ff-test-off", u1, true))
	})

	t.Run("wrong type", func(t *testing.T) {
		v, d := c.BoolVariationDetail("ff-test-string", u1, true)
		assert.True(t, v)
		assert.Equal(t, ReasonWrongType, d.Reason)
		assert.ErrorIs(t, d.Err, ErrWrongType)
		assert.Empty(t, d.VariationID)
		n, d := c.IntVariationDetail("ff-test-bool", u1, 7)
		assert.Equal(t, 7, n)
		assert.Equal(t, ReasonWrongType, d.Reason)
	})

	t.Run("empty user", func(t *testing.T) {
		for _, key := range []string{"ff-test-bool", "ff-test-string", "ff-evaluation-test"} {
			d := c.VariationDetail(key, NewUser(""), "default")
			assert.Equal(t, "default", d.Value)
			assert.Equal(t, ReasonUserNotSpecified, d.Reason)
			assert.ErrorIs(t, d.Err, ErrInvalidUser)
			assert.False(t, c.BoolVariation(key, User{}, false))
		}
	})

	t.Run("not found", func(t *testing.T) {
		d := c.VariationDetail("ff-not-existed", u1, "default")
		assert.Equal(t, "default", d.Value)
		assert.Equal(t, ReasonFlagNotFound, d.Reason)
		assert.ErrorIs(t, d.Err, ErrFlagNotFound)
	})
}

// readELSFakes builds a data set from the evaluation server's fake store, which keeps flags
// and segments as two bare arrays.
func readELSFakes(t testing.TB) []byte {
	t.Helper()
	flags, err := os.ReadFile(filepath.Join("testdata", "els", "flags.json"))
	require.NoError(t, err)
	segs, err := os.ReadFile(filepath.Join("testdata", "els", "segments.json"))
	require.NoError(t, err)
	doc, err := json.Marshal(map[string]json.RawMessage{"featureFlags": flags, "segments": segs})
	require.NoError(t, err)
	return doc
}

// The evaluation server's verified snapshot for its test user: every flag serves its
// default rule.
func TestELSFakes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "els.json")
	require.NoError(t, os.WriteFile(path, readELSFakes(t), 0o600))
	c := newOffline(t, path)

	tester := NewUser("3db19c81-e149-4b97-8a0d-79d34531fe59").WithName("tester").
		WithCustom("email", "tester@featbit.com").WithCustom("role", "developer").WithCustom("location", "remote")
	want := map[string]bool{
		"returns-true":             true,
		"return-10p-true":          false,
		"individual-targeting":     true,
		"two-custom-rules":         true,
		"custom-rule-with-segment": true,
	}
	for key, value := range want {
		v, d := c.BoolVariationDetail(key, tester, !value)
		assert.Equal(t, value, v, key)
		assert.Equal(t, ReasonFallthrough, d.Reason, key)
		assert.True(t, d.InExperiment, key)
	}

	// Individual targets, and segment-02's rule (age > 20) through Rule 2.
	assert.True(t, c.BoolVariation("individual-targeting", NewUser("true-7"), false))
	v, d := c.BoolVariationDetail("individual-targeting", NewUser("false-3"), true)
	assert.False(t, v)
	assert.Equal(t, ReasonTargetMatch, d.Reason)
	v, d = c.BoolVariationDetail("custom-rule-with-segment", NewUser("someone").WithCustom("age", "25"), true)
	assert.False(t, v)
	assert.Equal(t, ReasonRuleMatch, d.Reason)
	// false-1 is excluded from segment-01 and has no age: default rule.
	_, d = c.BoolVariationDetail("custom-rule-with-segment", NewUser("false-1"), false)
	assert.Equal(t, ReasonFallthrough, d.Reason)
	// Rule 1 of two-custom-rules needs both conditions.
	v, d = c.BoolVariationDetail("two-custom-rules", NewUser("u").WithName("joe_qa").WithCustom("age", "23"), false)
	assert.True(t, v)
	assert.Equal(t, ReasonRuleMatch, d.Reason)
	_, d = c.BoolVariationDetail("two-custom-rules", NewUser("u").WithName("joe_qa").WithCustom("age", "22"), false)
	assert.Equal(t, ReasonFallthrough, d.Reason)
}

// The evaluation server's patch snapshot for timestamp 1674885300000 holds exactly the items
// updated strictly after it: a check of the millisecond truncation of updatedAt.
func TestELSFakesPatchVersions(t *testing.T) {
	ds, err := wire.DecodeDataSet(readELSFakes(t))
	require.NoError(t, err)
	const ts = 1674885300000
	var newer []string
	for _, f := range ds.FeatureFlags {
		v, err := wire.Version(f.UpdatedAt)
		require.NoError(t, err)
		if v > ts {
			newer = append(newer, f.Key)
		}
	}
	for _, s := range ds.Segments {
		v, err := wire.Version(s.UpdatedAt)
		require.NoError(t, err)
		if v > ts {
			newer = append(newer, s.Name)
		}
	}
	assert.ElementsMatch(t, []string{"custom-rule-with-segment", "segment-02"}, newer)
}
