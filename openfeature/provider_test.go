package openfeature

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	of "github.com/open-feature/go-sdk/openfeature"
)

// Every flag type, every way a variation is served, through the OpenFeature client API.
func TestEvaluations(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(
		fbtest.Flag("off").On(false),
		fbtest.Flag("targeted").Target(1, "alice"),
		fbtest.Flag("ruled").Rule("pros", 1, fbtest.Cond("plan", "Equal", "pro")),
		fbtest.Flag("rule-split").RuleRollout("pros", "", []float64{1, 1}, fbtest.Cond("plan", "Equal", "pro")),
		fbtest.Flag("default").Fallthrough(1),
		fbtest.Flag("split").Rollout(1, 1),
		fbtest.Flag("all-in-one-share").Rollout(0, 1),
		fbtest.Flag("color").Strings("blue", "green").Fallthrough(1),
		fbtest.Flag("limit").Numbers(10, 250).Fallthrough(1),
		fbtest.Flag("ratio").Numbers(0.25, 0.5).Fallthrough(1),
		fbtest.Flag("banner").JSON(`{"text":"hi","size":3,"tags":["a"]}`, `[1,2]`).Fallthrough(0),
	)
	client := streaming(t, srv, srv.Secret())
	h := newHarness(t, client)
	h.ready(t)
	ctx := testCtx(t)

	type want struct {
		reason    of.Reason
		variation int // index of the served variation
	}
	bools := []struct {
		flag, user string
		plan       string
		value      bool
		want       want
	}{
		{"off", "bob", "", false, want{of.DisabledReason, 1}},
		{"targeted", "alice", "", false, want{of.TargetingMatchReason, 1}},
		{"targeted", "bob", "", true, want{of.DefaultReason, 0}},
		{"ruled", "bob", "pro", false, want{of.TargetingMatchReason, 1}},
		{"ruled", "bob", "free", true, want{of.DefaultReason, 0}},
		{"default", "bob", "", false, want{of.DefaultReason, 1}},
		{"all-in-one-share", "bob", "", false, want{of.DefaultReason, 1}},
	}
	for _, c := range bools {
		ec := user(c.user, map[string]any{"plan": c.plan})
		d, err := h.flags.BooleanValueDetails(ctx, c.flag, !c.value, ec)
		require.NoError(t, err, c.flag)
		assert.Equal(t, c.value, d.Value, c.flag)
		assert.Equal(t, c.want.reason, d.Reason, c.flag)
		assert.Equal(t, fbtest.VariationID(c.flag, c.want.variation), d.Variant, c.flag)
		assert.Empty(t, d.ErrorCode, c.flag)
	}

	// Percentage rollouts: SPLIT, with the variation the client serves to the same user.
	for _, flag := range []string{"split", "rule-split"} {
		for _, key := range []string{"u1", "u2", "u3", "u4"} {
			ec := user(key, map[string]any{"plan": "pro"})
			d, err := h.flags.BooleanValueDetails(ctx, flag, false, ec)
			require.NoError(t, err)
			v, fd := client.BoolVariationDetail(flag, fbclient.NewUser(key).WithCustom("plan", "pro"), false)
			assert.Equal(t, v, d.Value)
			assert.Equal(t, fd.VariationID, d.Variant)
			assert.Equal(t, of.SplitReason, d.Reason, "%s %s", flag, key)
		}
	}

	ec := user("bob", nil)
	s, err := h.flags.StringValueDetails(ctx, "color", "red", ec)
	require.NoError(t, err)
	assert.Equal(t, "green", s.Value)
	assert.Equal(t, fbtest.VariationID("color", 1), s.Variant)
	assert.Equal(t, of.DefaultReason, s.Reason)
	assert.Equal(t, "fall through all rules", s.FlagMetadata[MetadataReason])
	assert.Equal(t, true, s.FlagMetadata[MetadataInExperiment])

	i, err := h.flags.IntValueDetails(ctx, "limit", 1, ec)
	require.NoError(t, err)
	assert.Equal(t, int64(250), i.Value)
	assert.Equal(t, fbtest.VariationID("limit", 1), i.Variant)

	f, err := h.flags.FloatValueDetails(ctx, "ratio", 1, ec)
	require.NoError(t, err)
	assert.Equal(t, 0.5, f.Value)

	o, err := h.flags.ObjectValueDetails(ctx, "banner", nil, ec)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"text": "hi", "size": 3.0, "tags": []any{"a"}}, o.Value)
	assert.Equal(t, fbtest.VariationID("banner", 0), o.Variant)

	// Every flag type is a string in FeatBit.
	str, err := h.flags.StringValue(ctx, "limit", "", ec)
	require.NoError(t, err)
	assert.Equal(t, "250", str)
}

// Fallbacks return the caller's default with reason ERROR and the error code that says why.
func TestEvaluationErrors(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(
		fbtest.Flag("color").Strings("blue", "green"),
		fbtest.Flag("ratio").Numbers(2.5),
		fbtest.Flag("gone").Archived(),
	)
	h := newHarness(t, streaming(t, srv, srv.Secret()))
	h.ready(t)

	cases := []struct {
		name string
		eval evalFunc
		ec   of.EvaluationContext
		code of.ErrorCode
	}{
		{"unknown flag", boolEval(h, "nope"), user("bob", nil), of.FlagNotFoundCode},
		{"archived flag", boolEval(h, "gone"), user("bob", nil), of.FlagNotFoundCode},
		{"string flag as bool", boolEval(h, "color"), user("bob", nil), of.TypeMismatchCode},
		{"fraction as int", intEval(h, "ratio"), user("bob", nil), of.TypeMismatchCode},
		{"string as object", objectEval(h, "color"), user("bob", nil), of.TypeMismatchCode},
		{"no targeting key", boolEval(h, "color"), of.NewTargetlessEvaluationContext(map[string]any{"plan": "pro"}), of.TargetingKeyMissingCode},
		{"blank targeting key", boolEval(h, "color"), user("  ", nil), of.TargetingKeyMissingCode},
		{"targeting key not a string", boolEval(h, "color"), of.NewTargetlessEvaluationContext(map[string]any{of.TargetingKey: 7}), of.TargetingKeyMissingCode},
		{"attribute with no string form", boolEval(h, "color"), user("bob", map[string]any{"ch": make(chan int)}), of.InvalidContextCode},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, isDefault, err := c.eval(c.ec)
			require.Error(t, err)
			assert.True(t, isDefault)
			assert.Equal(t, c.code, d.ErrorCode)
			assert.Equal(t, of.ErrorReason, d.Reason)
			assert.Empty(t, d.Variant)
			assert.NotEmpty(t, d.ErrorMessage)
		})
	}
}

// evalFunc evaluates a flag for ec and reports whether the caller's default came back.
type evalFunc func(ec of.EvaluationContext) (d of.EvaluationDetails, isDefault bool, err error)

func boolEval(h *harness, flag string) evalFunc {
	return func(ec of.EvaluationContext) (of.EvaluationDetails, bool, error) {
		d, err := h.flags.BooleanValueDetails(context.Background(), flag, true, ec)
		return d.EvaluationDetails, d.Value, err
	}
}

func intEval(h *harness, flag string) evalFunc {
	return func(ec of.EvaluationContext) (of.EvaluationDetails, bool, error) {
		d, err := h.flags.IntValueDetails(context.Background(), flag, 42, ec)
		return d.EvaluationDetails, d.Value == 42, err
	}
}

func objectEval(h *harness, flag string) evalFunc {
	return func(ec of.EvaluationContext) (of.EvaluationDetails, bool, error) {
		def := map[string]any{"default": true}
		d, err := h.flags.ObjectValueDetails(context.Background(), flag, def, ec)
		m, _ := d.Value.(map[string]any)
		return d.EvaluationDetails, m["default"] == true, err
	}
}
