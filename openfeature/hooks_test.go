package openfeature

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	of "github.com/open-feature/go-sdk/openfeature"
)

// requestKey and spanKey are context keys: the first is set by the caller of the
// OpenFeature client, the second by a client hook for its own AfterEvaluation.
type (
	requestKey struct{}
	spanKey    struct{}
)

// trail records the calls of hooks, in order.
type trail struct {
	mu    sync.Mutex
	calls []string
}

func (tr *trail) add(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.calls = append(tr.calls, fmt.Sprintf(format, args...))
}

// take returns the calls recorded since the last take.
func (tr *trail) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	calls := tr.calls
	tr.calls = nil
	return calls
}

// ofHook is an OpenFeature hook that records its stages and the request value of the
// context it is given.
type ofHook struct{ tr *trail }

func (h ofHook) Before(ctx context.Context, hc of.HookContext, _ of.HookHints) (*of.EvaluationContext, error) {
	h.tr.add("of before %s %v", hc.FlagKey(), ctx.Value(requestKey{}))
	return nil, nil
}

func (h ofHook) After(ctx context.Context, hc of.HookContext, d of.InterfaceEvaluationDetails, _ of.HookHints) error {
	h.tr.add("of after %s %s", hc.FlagKey(), d.Reason)
	return nil
}

func (h ofHook) Error(ctx context.Context, hc of.HookContext, err error, _ of.HookHints) {
	h.tr.add("of error %s", hc.FlagKey())
}

func (h ofHook) Finally(ctx context.Context, hc of.HookContext, d of.InterfaceEvaluationDetails, _ of.HookHints) {
	h.tr.add("of finally %s %s", hc.FlagKey(), d.ErrorCode)
}

// The client's hooks (fbclient.Config.Hooks) run inside the provider's evaluation, with the
// Go context given to the OpenFeature client: after OpenFeature's before hooks and before
// its after, error and finally hooks. They see the flag key, the method the provider
// called, the user mapped from the evaluation context, and FeatBit's reason.
func TestHooks(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewUnstartedServer()
	srv.SetFlags(
		fbtest.Flag("checkout").Fallthrough(1),
		fbtest.Flag("color").Strings("blue", "green").Target(1, "bob"),
		fbtest.Flag("limit").Numbers(10, 250).Fallthrough(1),
		fbtest.Flag("ratio").Numbers(0.25, 0.5).Fallthrough(1),
		fbtest.Flag("banner").JSON(`{"text":"hi"}`).On(false).OffVariation(0),
	)
	tr := &trail{}
	client, err := fbclient.New(fbclient.Config{
		Offline: true,
		Data:    srv.DataFile(),
		Hooks: []fbclient.Hook{{
			Name: "recorder",
			BeforeEvaluation: func(ctx context.Context, e fbclient.EvalCall) context.Context {
				tr.add("fb before %s %s %s %v", e.FlagKey, e.Method, e.User.Key(), ctx.Value(requestKey{}))
				return context.WithValue(ctx, spanKey{}, "span of "+e.FlagKey)
			},
			AfterEvaluation: func(ctx context.Context, e fbclient.EvalCall) {
				tr.add("fb after %s %s %v %v", e.FlagKey, e.Detail.Reason, ctx.Value(requestKey{}), ctx.Value(spanKey{}))
			},
			AfterTrack: func(_ context.Context, c fbclient.TrackCall) {
				tr.add("fb track %s %s %v", c.EventName, c.User.Key(), c.Value)
			},
		}},
	})
	require.NoError(t, err)
	h := newHarness(t, client)
	h.ready(t)
	h.flags.AddHooks(ofHook{tr})

	ctx := context.WithValue(testCtx(t), requestKey{}, "request 42")
	bob := user("bob", map[string]any{"plan": "pro"})
	evals := []struct {
		flag, method string
		reason       fbclient.Reason
		ofReason     of.Reason
		eval         func() error
	}{
		{"checkout", "BoolVariationDetail", fbclient.ReasonFallthrough, of.DefaultReason, func() error {
			_, err := h.flags.BooleanValue(ctx, "checkout", false, bob)
			return err
		}},
		{"color", "VariationDetail", fbclient.ReasonTargetMatch, of.TargetingMatchReason, func() error {
			_, err := h.flags.StringValue(ctx, "color", "red", bob)
			return err
		}},
		{"limit", "IntVariationDetail", fbclient.ReasonFallthrough, of.DefaultReason, func() error {
			_, err := h.flags.IntValue(ctx, "limit", 1, bob)
			return err
		}},
		{"ratio", "Float64VariationDetail", fbclient.ReasonFallthrough, of.DefaultReason, func() error {
			_, err := h.flags.FloatValue(ctx, "ratio", 1, bob)
			return err
		}},
		{"banner", "JSONVariationDetail", fbclient.ReasonOff, of.DisabledReason, func() error {
			_, err := h.flags.ObjectValue(ctx, "banner", nil, bob)
			return err
		}},
	}
	for _, c := range evals {
		require.NoError(t, c.eval(), c.flag)
		assert.Equal(t, []string{
			"of before " + c.flag + " request 42",
			"fb before " + c.flag + " " + c.method + " bob request 42",
			"fb after " + c.flag + " " + c.reason.String() + " request 42 span of " + c.flag,
			"of after " + c.flag + " " + string(c.ofReason),
			"of finally " + c.flag + " ",
		}, tr.take(), c.flag)
	}

	// A fallback: the client's hooks see FeatBit's reason, OpenFeature's error hooks run.
	_, err = h.flags.BooleanValue(ctx, "nope", false, bob)
	require.Error(t, err)
	assert.Equal(t, []string{
		"of before nope request 42",
		"fb before nope BoolVariationDetail bob request 42",
		"fb after nope " + fbclient.ReasonFlagNotFound.String() + " request 42 span of nope",
		"of error nope",
		"of finally nope " + string(of.FlagNotFoundCode),
	}, tr.take())

	// A context the provider cannot map to a user never reaches the client: no client hook.
	_, err = h.flags.BooleanValue(ctx, "checkout", false, of.NewTargetlessEvaluationContext(nil))
	require.Error(t, err)
	assert.Equal(t, []string{
		"of before checkout request 42",
		"of error checkout",
		"of finally checkout " + string(of.TargetingKeyMissingCode),
	}, tr.take())

	// Track reaches the client's AfterTrack hooks through TrackMetric.
	h.flags.Track(ctx, "purchase", bob, of.NewTrackingEventDetails(99.5))
	assert.Equal(t, []string{"fb track purchase bob 99.5"}, tr.take())
}
