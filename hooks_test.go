package fbclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/internal/wire"
)

// newHooked starts an offline client from the fixture file with the given hooks, closed when
// the test ends, and checks that it leaves no goroutine behind.
func newHooked(t *testing.T, cfg Config, hooks ...Hook) *Client {
	t.Helper()
	checkLeaks(t)
	cfg.Offline, cfg.DataFile, cfg.Hooks = true, fixture, hooks
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// trace records hook calls in the order they are made.
type trace struct {
	mu    sync.Mutex
	calls []string
	ctxs  []context.Context
	evals []EvalCall
	track []TrackCall
}

func (tr *trace) add(call string, ctx context.Context, e *EvalCall, t *TrackCall) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.calls = append(tr.calls, call)
	tr.ctxs = append(tr.ctxs, ctx)
	if e != nil {
		tr.evals = append(tr.evals, *e)
	}
	if t != nil {
		tr.track = append(tr.track, *t)
	}
}

func (tr *trace) reset() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.calls, tr.ctxs, tr.evals, tr.track = nil, nil, nil, nil
}

type ctxKey string

// tracing returns a hook named name that records its calls in tr. If before, it has a
// BeforeEvaluation that returns a context carrying name (under the key name); if after, an
// AfterEvaluation; if track, an AfterTrack.
func tracing(tr *trace, name string, before, after, track bool) Hook {
	h := Hook{Name: name}
	if before {
		h.BeforeEvaluation = func(ctx context.Context, e EvalCall) context.Context {
			tr.add(name+".before", ctx, &e, nil)
			return context.WithValue(ctx, ctxKey(name), name)
		}
	}
	if after {
		h.AfterEvaluation = func(ctx context.Context, e EvalCall) { tr.add(name+".after", ctx, &e, nil) }
	}
	if track {
		h.AfterTrack = func(ctx context.Context, t TrackCall) { tr.add(name+".track", ctx, nil, &t) }
	}
	return h
}

// Before in registration order, after in reverse; each BeforeEvaluation gets the context
// the previous one returned, each AfterEvaluation the context its own BeforeEvaluation
// returned, or for a hook without one, the context at its place in the chain.
func TestHookOrderAndContexts(t *testing.T) {
	tr := &trace{}
	c := newHooked(t, Config{},
		tracing(tr, "A", true, true, false),
		tracing(tr, "B", true, true, false),
		tracing(tr, "C", false, true, false), // after only
		Hook{Name: "D", BeforeEvaluation: func(ctx context.Context, e EvalCall) context.Context {
			tr.add("D.before", ctx, &e, nil)
			return nil // nil: unchanged
		}},
		tracing(tr, "E", true, true, false),
	)
	caller := context.WithValue(context.Background(), ctxKey("caller"), "request")
	assert.True(t, c.WithContext(caller).BoolVariation("ff-test-bool", NewUser("test-user-1"), false))

	assert.Equal(t, []string{"A.before", "B.before", "D.before", "E.before", "E.after", "C.after", "B.after", "A.after"}, tr.calls)
	ctx := map[string]context.Context{}
	for i, call := range tr.calls {
		ctx[call] = tr.ctxs[i]
	}
	assert.Equal(t, caller, ctx["A.before"], "the first hook gets the caller's context itself")
	for call, want := range map[string][]string{
		"A.before": {"caller"},
		"B.before": {"caller", "A"},
		"D.before": {"caller", "A", "B"},
		"E.before": {"caller", "A", "B"},
		"E.after":  {"caller", "A", "B", "E"},
		"C.after":  {"caller", "A", "B"},
		"B.after":  {"caller", "A", "B"},
		"A.after":  {"caller", "A"},
	} {
		var got []string
		for _, k := range []string{"caller", "A", "B", "C", "D", "E"} {
			if ctx[call].Value(ctxKey(k)) != nil {
				got = append(got, k)
			}
		}
		assert.Equal(t, want, got, call)
	}
	assert.Same(t, ctx["D.before"], ctx["E.before"], "a nil return passes the context on unchanged")
	assert.Same(t, ctx["B.before"], ctx["A.after"], "A's after gets what A's before returned")
}

// More hooks than the frames kept on the stack: the order holds.
func TestManyHooks(t *testing.T) {
	tr := &trace{}
	var hooks []Hook
	var before, after []string
	for i := range 9 {
		name := fmt.Sprint(i)
		hooks = append(hooks, tracing(tr, name, true, true, false))
		before = append(before, name+".before")
		after = append([]string{name + ".after"}, after...)
	}
	c := newHooked(t, Config{}, hooks...)
	c.Variation("ff-test-string", NewUser("u"), "d")
	assert.Equal(t, append(before, after...), tr.calls)
	assert.Equal(t, "8", tr.ctxs[len(tr.ctxs)/2].Value(ctxKey("8")), "the last before's context reaches the first after")
}

// The Client's methods pass context.Background(); a ContextClient passes its context
// itself; a nil context is context.Background().
func TestHookContextPassedThrough(t *testing.T) {
	tr := &trace{}
	c := newHooked(t, Config{}, tracing(tr, "A", false, true, false))
	u := NewUser("u")
	caller, cancel := context.WithCancel(context.Background())
	defer cancel()

	c.BoolVariation("ff-test-bool", u, false)
	c.WithContext(caller).BoolVariation("ff-test-bool", u, false)
	JSONVariation(c.WithContext(caller), "ff-test-json", u, map[string]any(nil))
	c.WithContext(nil).BoolVariation("ff-test-bool", u, false) //nolint:staticcheck // nil is documented
	JSONVariation(c, "ff-test-json", u, 0)

	require.Len(t, tr.ctxs, 5)
	assert.Equal(t, context.Background(), tr.ctxs[0])
	assert.Equal(t, caller, tr.ctxs[1])
	assert.Equal(t, caller, tr.ctxs[2])
	assert.Equal(t, context.Background(), tr.ctxs[3])
	assert.Equal(t, context.Background(), tr.ctxs[4])
}

// method is one evaluation method called through an Evaluator (a *Client or a
// ContextClient): its result as text, its detail, and the default it was given.
type method struct {
	name string
	call func(ev Evaluator, key string, u User) (value string, d EvalDetail, hasDetail bool)
	def  any
}

// methods calls every evaluation method with distinct defaults.
var methods = []method{
	{"Variation", func(ev Evaluator, k string, u User) (string, EvalDetail, bool) {
		return on(ev).Variation(k, u, "dflt"), EvalDetail{}, false
	}, "dflt"},
	{"VariationDetail", func(ev Evaluator, k string, u User) (string, EvalDetail, bool) {
		d := on(ev).VariationDetail(k, u, "dflt")
		return d.Value, d, true
	}, "dflt"},
	{"BoolVariation", func(ev Evaluator, k string, u User) (string, EvalDetail, bool) {
		return fmt.Sprint(on(ev).BoolVariation(k, u, true)), EvalDetail{}, false
	}, true},
	{"BoolVariationDetail", func(ev Evaluator, k string, u User) (string, EvalDetail, bool) {
		v, d := on(ev).BoolVariationDetail(k, u, true)
		return fmt.Sprint(v), d, true
	}, true},
	{"IntVariation", func(ev Evaluator, k string, u User) (string, EvalDetail, bool) {
		return fmt.Sprint(on(ev).IntVariation(k, u, 1234)), EvalDetail{}, false
	}, 1234},
	{"IntVariationDetail", func(ev Evaluator, k string, u User) (string, EvalDetail, bool) {
		v, d := on(ev).IntVariationDetail(k, u, 1234)
		return fmt.Sprint(v), d, true
	}, 1234},
	{"Float64Variation", func(ev Evaluator, k string, u User) (string, EvalDetail, bool) {
		return fmt.Sprint(on(ev).Float64Variation(k, u, 0.25)), EvalDetail{}, false
	}, 0.25},
	{"Float64VariationDetail", func(ev Evaluator, k string, u User) (string, EvalDetail, bool) {
		v, d := on(ev).Float64VariationDetail(k, u, 0.25)
		return fmt.Sprint(v), d, true
	}, 0.25},
	{"JSONVariation", func(ev Evaluator, k string, u User) (string, EvalDetail, bool) {
		return fmt.Sprint(JSONVariation(ev, k, u, jsonDefault{Code: -1})), EvalDetail{}, false
	}, jsonDefault{Code: -1}},
	{"JSONVariationDetail", func(ev Evaluator, k string, u User) (string, EvalDetail, bool) {
		v, d := JSONVariationDetail(ev, k, u, jsonDefault{Code: -1})
		return fmt.Sprint(v), d, true
	}, jsonDefault{Code: -1}},
}

type jsonDefault struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// on returns the ContextClient of ev: a *Client is bound to context.Background().
func on(ev Evaluator) ContextClient {
	if cc, ok := ev.(ContextClient); ok {
		return cc
	}
	return ev.(*Client).WithContext(context.Background())
}

// Hooks change nothing the caller gets, and see what the caller asked and got: every
// method, through a Client and a ContextClient, for every flag of the fixture and the
// fallbacks, compared with a client without hooks.
func TestHooksSeeEveryMethodAndChangeNothing(t *testing.T) {
	plain := newOffline(t, fixture)
	tr := &trace{}
	hooked := newHooked(t, Config{}, tracing(tr, "A", true, true, false))
	ctx := context.WithValue(context.Background(), ctxKey("caller"), "request")

	users := []User{NewUser("test-user-1").WithCustom("country", "us"), NewUser("test-user-3").WithCustom("country", "cn"), NewUser("")}
	keys := []string{"ff-test-bool", "ff-test-number", "ff-test-string", "ff-test-json", "ff-test-seg", "ff-test-off", "ff-evaluation-test", "no-such-flag"}
	for _, m := range methods {
		for _, key := range keys {
			for _, u := range users {
				for _, ev := range []Evaluator{hooked, hooked.WithContext(ctx)} {
					tr.reset()
					want, wantD, _ := m.call(plain, key, u)
					got, gotD, hasDetail := m.call(ev, key, u)
					what := fmt.Sprintf("%s %s %q", m.name, key, u.Key())
					assert.Equal(t, want, got, what)
					if hasDetail {
						assert.Equal(t, wantD, gotD, what)
					}
					require.Equal(t, []string{"A.before", "A.after"}, tr.calls, what)
					for _, e := range tr.evals {
						assert.Equal(t, key, e.FlagKey, what)
						assert.Equal(t, u, e.User, what)
						assert.Equal(t, m.name, e.Method, what)
						assert.Equal(t, m.def, e.Default(), what)
						assert.Zero(t, e.Duration, what)
					}
					assert.Zero(t, tr.evals[0].Detail, "before the evaluation, no detail")
					// The detail the hook sees is the detail form's result (Variation's
					// Value is the default on fallback, the typed forms' is "").
					detailForm := methods[0]
					for _, dm := range methods {
						if dm.name == m.name || dm.name == m.name+"Detail" {
							detailForm = dm
						}
					}
					_, d, _ := detailForm.call(plain, key, u)
					assert.Equal(t, d, tr.evals[1].Detail, what)
				}
			}
		}
	}
}

// Hooks see the evaluations that fall back to the default, each with its reason and error.
func TestHooksSeeFallbacks(t *testing.T) {
	malformed := boolFlag("malformed", true, 1)
	malformed.IsEnabled, malformed.DisabledVariationID = false, "missing"
	tr := &trace{}
	c := newHooked(t, Config{}, tracing(tr, "A", false, true, false))
	res := c.store.apply(full([]wire.Flag{boolFlag("bool", true, 2), malformed}))
	require.Empty(t, res.skipped)
	u := NewUser("u")

	cases := []struct {
		name   string
		eval   func()
		reason Reason
		err    error
	}{
		{"flag not found", func() { c.BoolVariation("nope", u, false) }, ReasonFlagNotFound, ErrFlagNotFound},
		{"invalid user", func() { c.BoolVariation("bool", NewUser(" "), false) }, ReasonUserNotSpecified, ErrInvalidUser},
		{"wrong type", func() { c.IntVariation("bool", u, 7) }, ReasonWrongType, ErrWrongType},
		{"json wrong type", func() { JSONVariation(c, "bool", u, "text") }, ReasonWrongType, ErrWrongType},
		{"malformed flag", func() { c.Variation("malformed", u, "d") }, ReasonError, ErrEvaluation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr.reset()
			tc.eval()
			require.Len(t, tr.evals, 1)
			d := tr.evals[0].Detail
			assert.Equal(t, tc.reason, d.Reason)
			assert.ErrorIs(t, d.Err, tc.err)
			assert.Empty(t, d.VariationID)
		})
	}
}

// A client that has no data yet: hooks see ReasonClientNotReady, then the real evaluation
// once the data arrives.
func TestHooksSeeClientNotReady(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("flag").Boolean().Fallthrough(0))
	srv.HoldDataSync()
	tr := &trace{}
	c, err := New(Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL(), StartWait: -1, DisableEvents: true,
		Hooks: []Hook{tracing(tr, "A", false, true, false)}})
	require.NoError(t, err)
	defer c.Close()

	assert.False(t, c.BoolVariation("flag", NewUser("u"), false))
	require.Len(t, tr.evals, 1)
	assert.Equal(t, ReasonClientNotReady, tr.evals[0].Detail.Reason)
	assert.ErrorIs(t, tr.evals[0].Detail.Err, ErrClientNotReady)

	srv.ReleaseDataSync()
	require.NoError(t, c.WaitForInitialization(testCtx(t)))
	assert.True(t, c.BoolVariation("flag", NewUser("u"), false))
	require.Len(t, tr.evals, 2)
	assert.Equal(t, ReasonFallthrough, tr.evals[1].Detail.Reason)
	assert.Equal(t, fbtest.VariationID("flag", 0), tr.evals[1].Detail.VariationID)
}

// recordHandler keeps the log records it is given.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// attrs returns the attributes of the records with the given message.
func (h *recordHandler) attrs(msg string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		m := map[string]any{}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.Any()
			return true
		})
		out = append(out, m)
	}
	return out
}

const panicMsg = "fbclient: a hook panicked; the SDK carried on without it"

// A panicking hook costs the caller nothing: it gets its value, the other hooks run, and
// the panics are logged at most once a minute per hook, with a count of those not logged.
func TestHookPanicsAreContained(t *testing.T) {
	tr := &trace{}
	logs := &recordHandler{}
	panicky := func(ctx context.Context, e EvalCall) context.Context { panic("before " + e.FlagKey) }
	c := newHooked(t, Config{Logger: slog.New(logs)},
		tracing(tr, "first", true, true, true),
		Hook{Name: "P", BeforeEvaluation: panicky, AfterEvaluation: func(context.Context, EvalCall) { tr.add("P.after", nil, nil, nil) }},
		Hook{Name: "Q", AfterEvaluation: func(context.Context, EvalCall) { panic(errors.New("after")) }},
		Hook{Name: "T", AfterTrack: func(context.Context, TrackCall) { panic("track") }},
		tracing(tr, "last", true, true, true),
	)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.hooks.now = func() time.Time { return now }
	plain := newOffline(t, fixture)
	u := NewUser("test-user-1").WithCustom("country", "us")

	for range 3 {
		tr.reset()
		assert.Equal(t, plain.IntVariation("ff-test-number", u, 0), c.IntVariation("ff-test-number", u, 0))
		assert.Equal(t, []string{"first.before", "last.before", "last.after", "first.after"}, tr.calls,
			"P's after is skipped when its before panicked; the others run")
		require.NoError(t, c.Track(u, "clicked"))
		assert.Equal(t, []string{"first.before", "last.before", "last.after", "first.after", "first.track", "last.track"}, tr.calls)
	}
	got := logs.attrs(panicMsg)
	require.Len(t, got, 3, "one record per hook")
	for i, want := range []map[string]any{
		{"hook": "P", "phase": "BeforeEvaluation", "key": "ff-test-number", "panic": "before ff-test-number", "unloggedPanics": int64(0)},
		{"hook": "Q", "phase": "AfterEvaluation", "key": "ff-test-number", "panic": "after", "unloggedPanics": int64(0)},
		{"hook": "T", "phase": "AfterTrack", "key": "clicked", "panic": "track", "unloggedPanics": int64(0)},
	} {
		assert.Contains(t, got[i]["stack"], "hooks_test.go")
		delete(got[i], "stack")
		assert.Equal(t, want, got[i])
	}

	now = now.Add(panicLogInterval - time.Nanosecond)
	c.IntVariation("ff-test-number", u, 0)
	assert.Len(t, logs.attrs(panicMsg), 3, "within the interval, nothing more is logged")

	now = now.Add(time.Nanosecond)
	c.BoolVariation("ff-test-bool", u, false)
	got = logs.attrs(panicMsg)
	require.Len(t, got, 5)
	assert.Equal(t, "P", got[3]["hook"])
	assert.Equal(t, int64(3), got[3]["unloggedPanics"], "two from the first round, one within the interval")
	assert.Equal(t, "ff-test-bool", got[3]["key"])
	assert.Equal(t, "Q", got[4]["hook"])
}

// A hook that panics with nil is contained too.
func TestHookPanicNil(t *testing.T) {
	c := newHooked(t, Config{}, Hook{AfterEvaluation: func(context.Context, EvalCall) { panic(nil) }})
	plain := newOffline(t, fixture)
	u := NewUser("18555358000")
	assert.Equal(t, plain.Variation("ff-test-string", u, "d"), c.Variation("ff-test-string", u, "d"))
}

// Track and TrackMetric calls that are accepted reach AfterTrack, in registration order,
// with or without events being sent; rejected calls do not.
func TestTrackHooks(t *testing.T) {
	tr := &trace{}
	c := newHooked(t, Config{}, tracing(tr, "A", true, true, true), tracing(tr, "B", false, false, true))
	u := NewUser("u").WithCustom("plan", "pro")

	require.NoError(t, c.Track(u, "clicked"))
	require.NoError(t, c.TrackMetric(u, "paid", 9.5))
	assert.ErrorIs(t, c.Track(u, " "), ErrInvalidEvent)
	assert.ErrorIs(t, c.Track(NewUser(""), "clicked"), ErrInvalidUser)
	assert.ErrorIs(t, c.TrackMetric(u, "paid", math.NaN()), ErrInvalidMetricValue)
	assert.Equal(t, []string{"A.track", "B.track", "A.track", "B.track"}, tr.calls)
	assert.Equal(t, []TrackCall{{u, "clicked", 1}, {u, "clicked", 1}, {u, "paid", 9.5}, {u, "paid", 9.5}}, tr.track)
	for _, ctx := range tr.ctxs {
		assert.Equal(t, context.Background(), ctx)
	}

	require.NoError(t, c.Close())
	assert.ErrorIs(t, c.Track(u, "clicked"), ErrClosed)
	assert.Len(t, tr.calls, 4, "a closed client reports nothing")
}

// Track hooks on a client that sends events: the event still reaches FeatBit.
func TestTrackHooksWithEvents(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	tr := &trace{}
	c, err := New(Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL(), Hooks: []Hook{tracing(tr, "A", false, false, true)}})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.WaitForInitialization(testCtx(t)))

	require.NoError(t, c.TrackMetric(NewUser("u"), "paid", 3))
	require.NoError(t, c.FlushAndWait(testCtx(t)))
	assert.Equal(t, []TrackCall{{NewUser("u"), "paid", 3}}, tr.track)
	var metrics int
	for _, e := range srv.Events() {
		metrics += len(e.Metrics)
	}
	assert.Equal(t, 1, metrics)
}

// A Timed hook gets the time the evaluation took, measured with the hooks' clock around
// the evaluation alone; every hook sees it. Without a Timed hook, Duration is 0.
func TestHookDuration(t *testing.T) {
	tr := &trace{}
	timed := tracing(tr, "timed", true, true, false)
	timed.Timed = true
	c := newHooked(t, Config{}, timed, tracing(tr, "other", false, true, false))
	var ticks atomic.Int64
	c.hooks.now = func() time.Time {
		return time.Unix(0, 0).Add(time.Duration(ticks.Add(1)) * time.Millisecond)
	}
	c.BoolVariation("ff-test-bool", NewUser("u"), false)
	require.Len(t, tr.evals, 3)
	assert.Zero(t, tr.evals[0].Duration, "before")
	assert.Equal(t, time.Millisecond, tr.evals[1].Duration)
	assert.Equal(t, time.Millisecond, tr.evals[2].Duration)
	assert.Equal(t, int64(2), ticks.Load(), "two clock reads per evaluation")
}

// A hook whose Enabled says no for a context is not called for evaluations made with it;
// the other hooks are. Enabled does not apply to AfterTrack; a panic in it is contained and
// means "not enabled".
func TestHookEnabled(t *testing.T) {
	tr := &trace{}
	gated := tracing(tr, "gated", true, true, true)
	gated.Enabled = func(ctx context.Context) bool { return ctx.Value(ctxKey("span")) != nil }
	logs := &recordHandler{}
	c := newHooked(t, Config{Logger: slog.New(logs)},
		tracing(tr, "always", true, true, false),
		gated,
		Hook{Name: "P", Enabled: func(context.Context) bool { panic("enabled") }, AfterEvaluation: func(context.Context, EvalCall) { tr.add("P.after", nil, nil, nil) }},
	)
	u := NewUser("u")
	span := context.WithValue(context.Background(), ctxKey("span"), "s")

	c.BoolVariation("ff-test-bool", u, false)
	assert.Equal(t, []string{"always.before", "always.after"}, tr.calls)
	tr.reset()
	c.WithContext(span).BoolVariation("ff-test-bool", u, false)
	assert.Equal(t, []string{"always.before", "gated.before", "gated.after", "always.after"}, tr.calls)
	tr.reset()
	require.NoError(t, c.Track(u, "clicked"))
	assert.Equal(t, []string{"gated.track"}, tr.calls)
	got := logs.attrs(panicMsg)
	require.Len(t, got, 1)
	assert.Equal(t, "Enabled", got[0]["phase"])

	// With no hook enabled, nothing runs.
	tr2 := &trace{}
	only := tracing(tr2, "only", true, true, false)
	only.Enabled = gated.Enabled
	c2 := newHooked(t, Config{}, only)
	assert.True(t, c2.BoolVariation("ff-test-bool", NewUser("test-user-1"), false))
	assert.Empty(t, tr2.calls)
	assert.True(t, c2.WithContext(span).BoolVariation("ff-test-bool", NewUser("test-user-1"), false))
	assert.Equal(t, []string{"only.before", "only.after"}, tr2.calls)
}

// AllVariations runs no hooks.
func TestAllVariationsRunsNoHooks(t *testing.T) {
	tr := &trace{}
	c := newHooked(t, Config{}, tracing(tr, "A", true, true, true))
	assert.NotZero(t, c.AllVariations(NewUser("u")).Len())
	assert.Empty(t, tr.calls)
}

// Hooks run concurrently from every evaluating goroutine.
func TestHooksConcurrent(t *testing.T) {
	var before, after atomic.Int64
	c := newHooked(t, Config{}, Hook{
		BeforeEvaluation: func(ctx context.Context, _ EvalCall) context.Context { before.Add(1); return ctx },
		AfterEvaluation:  func(context.Context, EvalCall) { after.Add(1) },
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				c.BoolVariation("ff-test-bool", NewUser("u"), false)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(400), before.Load())
	assert.Equal(t, int64(400), after.Load())
}

func TestHooksConfig(t *testing.T) {
	checkLeaks(t)
	noop := func(context.Context, TrackCall) {}
	_, err := New(Config{Offline: true, Hooks: []Hook{{AfterTrack: noop}, {Name: "empty"}}})
	assert.ErrorIs(t, err, ErrInvalidConfig)
	assert.ErrorContains(t, err, `Hooks[1] "empty"`)
	_, err = New(Config{Offline: true, Hooks: []Hook{{}}})
	assert.ErrorIs(t, err, ErrInvalidConfig)
	_, err = New(Config{Offline: true, Hooks: []Hook{{Enabled: func(context.Context) bool { return true }}}})
	assert.ErrorIs(t, err, ErrInvalidConfig, "Enabled alone observes nothing")
	many := make([]Hook, maxHooks+1)
	for i := range many {
		many[i].AfterTrack = noop
	}
	_, err = New(Config{Offline: true, Hooks: many})
	assert.ErrorIs(t, err, ErrInvalidConfig)
	c, err := New(Config{Offline: true, Hooks: many[:maxHooks]})
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

// A nil client and a zero ContextClient return defaults, as a nil Client does, and so does a
// nil Evaluator.
func TestNilContextClient(t *testing.T) {
	var cc ContextClient
	assert.True(t, cc.BoolVariation("f", NewUser("u"), true))
	_, d := cc.IntVariationDetail("f", NewUser("u"), 3)
	assert.Equal(t, ReasonClientNotReady, d.Reason)
	var c *Client
	assert.Equal(t, "d", c.WithContext(context.Background()).Variation("f", NewUser("u"), "d"))
	assert.Equal(t, 5, JSONVariation(nil, "f", NewUser("u"), 5))
	assert.Equal(t, 5, JSONVariation(c, "f", NewUser("u"), 5))
	assert.Equal(t, 5, JSONVariation(cc, "f", NewUser("u"), 5))
}
