package fbclient

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/internal/wire"
)

// attrOf reads an attribute of u the way the protocol document says FeatBit's server does
// (section 6.1), independently of the SDK's selectors.
func attrOf(u User, name string) (string, bool) {
	switch name {
	case "keyId":
		return u.Key(), true
	case "name":
		return u.Name(), true
	}
	return u.Custom(name)
}

// Explain on FeatBit's fixture flags, for the users of the protocol document's table
// (section 10): its result is VariationDetail's, and its steps are consistent with it.
func TestExplainFixture(t *testing.T) {
	c := newOffline(t, "testdata/featbit_test_data.json")
	require.Empty(t, c.FlagProblems(), "FeatBit's fixture flags are sound")
	user := func(key string, kv ...string) User {
		u := NewUser(key)
		for i := 0; i+1 < len(kv); i += 2 {
			u = u.WithCustom(kv[i], kv[i+1])
		}
		return u
	}
	cases := []struct {
		flag  string
		user  User
		value string
	}{
		{"ff-test-bool", user("test-user-1", "country", "us"), "true"},
		{"ff-test-bool", user("test-user-3", "country", "cn", "major", "cs"), "false"},
		{"ff-test-bool", user("test-user-4", "country", "uk", "major", "physics"), "true"},
		{"ff-test-number", user("test-user-2", "country", "fr"), "33"},
		{"ff-test-number", user("test-user-4", "country", "uk"), "9999"},
		{"ff-test-string", NewUser("18555358000").WithName("test-user-5"), "phone number"},
		{"ff-test-string", NewUser("0603111111").WithName("test-user-6"), "phone number"},
		{"ff-test-string", NewUser("test-user-7@featbit.com"), "email"},
		{"ff-test-string", NewUser("test-user-1"), "others"},
		{"ff-test-seg", NewUser("test-user-1"), "teamA"},
		{"ff-test-seg", NewUser("test-user-2"), "teamB"},
		{"ff-test-seg", user("test-user-3", "major", "cs"), "teamA"},
		{"ff-test-off", NewUser("anyone"), "false"},
		{"ff-evaluation-test", NewUser("test-target-user"), "teamB"},
		{"ff-evaluation-test", user("test-true-user", "graduated", "true"), "teamC"},
		{"ff-evaluation-test", user("test-equal-user", "country", "CHN"), "teamD"},
		{"ff-evaluation-test", user("test-than-user", "salary", "2500"), "teamE"},
		{"ff-evaluation-test", user("test-contain-user", "email", "test-contain-user@gmail.com"), "teamF"},
		{"ff-evaluation-test", user("test-isoneof-user", "major", "CS"), "teamG"},
		{"ff-evaluation-test", NewUser("group-admin-user"), "teamH"},
		{"ff-evaluation-test", user("test-regex-user", "phone", "18555358000"), "teamI"},
		{"ff-evaluation-test", NewUser("test-fallthrough-user"), "teamA"},
	}
	for _, tc := range cases {
		t.Run(tc.flag+"/"+tc.user.Key(), func(t *testing.T) {
			x := c.Explain(tc.flag, tc.user)
			d := c.VariationDetail(tc.flag, tc.user, "")
			assert.Equal(t, d, x.Result)
			assert.Equal(t, tc.value, x.Result.Value)
			assert.Equal(t, tc.flag, x.FlagKey)
			assert.NotEmpty(t, x.FlagName)
			assert.Empty(t, x.Problems)
			assert.Contains(t, x.String(), x.Result.Value)

			assert.Equal(t, d.Reason != ReasonOff, x.Enabled)
			assert.Equal(t, d.Reason == ReasonTargetMatch, x.Targeted)
			if d.Reason == ReasonOff || d.Reason == ReasonTargetMatch {
				assert.Nil(t, x.Rules)
				assert.Nil(t, x.Rollout)
				return
			}
			for i, r := range x.Rules {
				last := i == len(x.Rules)-1
				assert.Equal(t, last && d.Reason == ReasonRuleMatch, r.Matched, "rule %d", i)
				checked := true
				for _, cond := range r.Conditions {
					assert.Equal(t, checked, cond.Evaluated, "conditions are checked up to the first false one")
					checked = checked && cond.Matched
					if cond.Attribute != "" {
						v, ok := attrOf(tc.user, cond.Attribute)
						assert.Equal(t, v, cond.Value)
						assert.Equal(t, ok, cond.Present)
					}
				}
				assert.Equal(t, r.Matched, checked)
			}
			require.NotNil(t, x.Rollout)
			if d.Reason == ReasonFallthrough {
				assert.Equal(t, "default rule", x.Rollout.Rule)
			} else {
				assert.Contains(t, x.Rollout.Rule, x.Rules[len(x.Rules)-1].Name)
			}
			require.GreaterOrEqual(t, x.Rollout.Served, 0)
			assert.Equal(t, d.VariationID, x.Rollout.Slices[x.Rollout.Served].VariationID)
			assert.Equal(t, d.Value, x.Rollout.Slices[x.Rollout.Served].Value)
			v, _ := attrOf(tc.user, x.Rollout.DispatchKey)
			assert.Equal(t, v, x.Rollout.DispatchValue)
			assert.Equal(t, bucket(tc.flag+v), x.Rollout.Bucket)
			assert.True(t, d.InExperiment)
			assert.NotEmpty(t, x.Experiment)
		})
	}

	t.Run("details", func(t *testing.T) {
		// The buckets of the protocol document's test vectors (section 6.6), by name.
		x := c.Explain("ff-test-bool", NewUser("test-user-3"))
		assert.Equal(t, "name", x.Rollout.DispatchKey)
		assert.Equal(t, 0.645237626042217, x.Rollout.Bucket)
		assert.Equal(t, 1, x.Rollout.Served)
		assert.Equal(t, []SliceExplanation{
			{VariationID: x.Rollout.Slices[0].VariationID, Value: "true", From: 0, To: 0.5},
			{VariationID: x.Rollout.Slices[1].VariationID, Value: "false", From: 0.5, To: 1},
		}, x.Rollout.Slices)
		assert.Equal(t, 0.1994927953928709, c.Explain("ff-test-bool", NewUser("test-user-4")).Rollout.Bucket)

		// ff-evaluation-test's rules, in the fixture's order.
		x = c.Explain("ff-evaluation-test", NewUser("test-than-user").WithCustom("salary", "2500"))
		require.Len(t, x.Rules, 3)
		assert.Equal(t, RuleExplanation{Name: "True Rule", Conditions: []ConditionExplanation{
			{Attribute: "graduated", Operator: "IsTrue", Expected: "IsTrue", Evaluated: true}}}, x.Rules[0])
		assert.Equal(t, RuleExplanation{Name: "Equal Rule", Conditions: []ConditionExplanation{
			{Attribute: "country", Operator: "Equal", Expected: "CHN", Evaluated: true}}}, x.Rules[1])
		assert.Equal(t, RuleExplanation{Name: "Than Rule", Matched: true, Conditions: []ConditionExplanation{
			{Attribute: "salary", Value: "2500", Present: true, Operator: "BiggerEqualThan", Expected: "1000", Evaluated: true, Matched: true},
			{Attribute: "salary", Value: "2500", Present: true, Operator: "LessEqualThan", Expected: "3000", Evaluated: true, Matched: true}}}, x.Rules[2])

		// A false first condition: the second is not checked.
		x = c.Explain("ff-evaluation-test", NewUser("poor").WithCustom("salary", "500"))
		assert.Equal(t, []ConditionExplanation{
			{Attribute: "salary", Value: "500", Present: true, Operator: "BiggerEqualThan", Expected: "1000", Evaluated: true},
			{Attribute: "salary", Value: "500", Present: true, Operator: "LessEqualThan", Expected: "3000"}}, x.Rules[2].Conditions)
		assert.Len(t, x.Rules, 7)

		// Segments: the user is excluded from team-seg.
		x = c.Explain("ff-test-seg", NewUser("test-user-2"))
		cond := x.Rules[0].Conditions[0]
		assert.Equal(t, wire.SegmentIn, cond.Operator)
		assert.Empty(t, cond.Attribute)
		assert.False(t, cond.Matched)
		assert.Contains(t, cond.Note, "a0832b1c-fe73-479f-9a30-af8f003c34bf")
	})

	t.Run("fallbacks", func(t *testing.T) {
		for _, tc := range []struct {
			flag   string
			user   User
			reason Reason
		}{
			{"ff-not-existed", NewUser("u"), ReasonFlagNotFound},
			{"ff-test-bool", NewUser(" "), ReasonUserNotSpecified},
		} {
			x := c.Explain(tc.flag, tc.user)
			assert.Equal(t, tc.reason, x.Result.Reason)
			assert.Equal(t, c.VariationDetail(tc.flag, tc.user, ""), x.Result)
			assert.False(t, x.Enabled)
			assert.Nil(t, x.Rules)
			assert.Contains(t, x.String(), tc.reason.String())
		}
		var nilClient *Client
		assert.Equal(t, ReasonClientNotReady, nilClient.Explain("f", NewUser("u")).Result.Reason)
	})

	t.Run("no event", func(t *testing.T) {
		evals := newCollector()
		defer c.On(EventEvaluation, evals.add)()
		c.Explain("ff-test-bool", NewUser("test-user-1"))
		c.BoolVariation("ff-test-off", NewUser("test-user-1"), true)
		assert.Equal(t, "ff-test-off", evals.wait(t, 1)[0].Evaluation.FlagKey, "Explain recorded nothing")
	})
}

// Explain on flags the fixture does not have: experiment decisions, a rollout gap, an
// unknown operator, an archived flag.
func TestExplainEdges(t *testing.T) {
	expt := boolFlag("expt", true, 1)
	expt.Fallthrough = wire.Fallthrough{IncludedInExpt: true, Variations: []wire.RolloutVariation{
		{ID: "v-true", Rollout: []float64{0, 1}, ExptRollout: 0.3}}}
	notIncluded := boolFlag("not-included", true, 1)
	notIncluded.Fallthrough.Variations[0].ExptRollout = 1
	gap := boolFlag("gap", true, 1)
	gap.Fallthrough.Variations = []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 0}}}
	typo := boolFlag("typo", false, 1)
	typo.Rules = []wire.Rule{{Name: "adults", Conditions: []wire.Condition{{Property: "age", Op: "IsGreaterThn", Value: "18"}},
		Variations: []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 1}}}}}
	archived := boolFlag("archived", true, 1)
	archived.IsArchived = true
	c, _ := offlineData(t, []wire.Flag{expt, notIncluded, gap, typo, archived})

	seen := map[bool]bool{}
	for _, key := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		x := c.Explain("expt", NewUser(key))
		want := bucket("exptexpt"+key) <= 0.3
		assert.Equal(t, want, x.Result.InExperiment, key)
		assert.Contains(t, x.Experiment, map[bool]string{true: "included", false: "not included"}[want])
		seen[want] = true
	}
	assert.Len(t, seen, 2, "both decisions are covered")
	x := c.Explain("not-included", NewUser("u"))
	assert.False(t, x.Result.InExperiment)
	assert.Contains(t, x.Experiment, "not included")

	x = c.Explain("gap", NewUser("u"))
	assert.Equal(t, ReasonError, x.Result.Reason)
	require.NotNil(t, x.Rollout)
	assert.Equal(t, -1, x.Rollout.Served)
	assert.Empty(t, x.Experiment)

	x = c.Explain("typo", NewUser("u").WithCustom("age", "30"))
	assert.Equal(t, ReasonFallthrough, x.Result.Reason)
	require.Len(t, x.Problems, 1)
	cond := x.Rules[0].Conditions[0]
	assert.Equal(t, "IsGreaterThn", cond.Operator)
	assert.Equal(t, "30", cond.Value)
	assert.False(t, cond.Matched)
	assert.Contains(t, cond.Note, "IsGreaterThn")

	x = c.Explain("archived", NewUser("u"))
	assert.Equal(t, ReasonFlagArchived, x.Result.Reason)
	assert.ErrorIs(t, x.Result.Err, ErrFlagArchived)
}
