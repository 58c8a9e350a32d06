package fbclient

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/internal/wire"
)

// EvalDetail.Split is true exactly when the served share of a rollout is neither everyone
// nor no one.
func TestEvalDetailSplit(t *testing.T) {
	u := NewUser("split-user")
	pct := bucket("split" + u.Key())
	cases := []struct {
		name   string
		slices []wire.RolloutVariation
		split  bool
	}{
		{"user in the first share", []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, pct}}, {ID: "v-false", Rollout: []float64{pct, 1}}}, true},
		{"user in the second share", []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, pct / 2}}, {ID: "v-false", Rollout: []float64{pct / 2, 1}}}, true},
		{"one variation for everyone", []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 1}}}, false},
		{"no one, then everyone", []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 0}}, {ID: "v-false", Rollout: []float64{0, 1}}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := rolloutFlag("split", "", c.slices...)
			r := evaluate(f, &u)
			require.NotNil(t, r.v)
			d := detail("split", &r, r.v.value)
			assert.Equal(t, c.split, d.Split)
			assert.Equal(t, ReasonFallthrough, d.Reason)
		})
	}
	// Off, targeted and errors are never splits.
	off := rolloutFlag("split", "", wire.RolloutVariation{ID: "v-true", Rollout: []float64{0, 0.5}}, wire.RolloutVariation{ID: "v-false", Rollout: []float64{0.5, 1}})
	off.enabled = false
	r := evaluate(off, &u)
	assert.False(t, detail("split", &r, "").Split)
	gap := rolloutFlag("split", "", wire.RolloutVariation{ID: "v-true", Rollout: []float64{0, 0}})
	r = evaluate(gap, &u)
	assert.False(t, detail("split", &r, "").Split)
}
