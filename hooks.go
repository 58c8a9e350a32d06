package fbclient

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Hook observes evaluations and tracked events synchronously, on the caller's goroutine, for
// tracing, auditing or metrics. Register hooks with Config.Hooks; each needs at least one of
// its functions. Unlike EventEvaluation listeners, which are told asynchronously and only
// about evaluations that served a variation, hooks see every evaluation made through the
// typed variation methods and JSONVariation, fallbacks included (client not ready, flag not
// found, invalid user, wrong type, malformed flag). AllVariations runs no hooks: it evaluates
// every flag at once to render or bootstrap a page, which is not a use of any one flag.
//
// For one evaluation, with hooks A, B and C registered in that order:
//
//	A.BeforeEvaluation, B.BeforeEvaluation, C.BeforeEvaluation,
//	the evaluation,
//	C.AfterEvaluation, B.AfterEvaluation, A.AfterEvaluation
//
// like nested middleware; a hook whose Enabled says no for the evaluation's context is left
// out. The context passes from each BeforeEvaluation to the next: A's receives the caller's
// context (ContextClient's, or context.Background() for the Client methods), B's receives
// what A's returned, and so on; each AfterEvaluation receives the context its own hook's
// BeforeEvaluation returned (or, for a hook without one, the context its BeforeEvaluation
// would have received). That is how a hook carries data from before to after, such as a
// tracing span started in BeforeEvaluation and ended in AfterEvaluation. The evaluation
// itself does not read the context.
//
// Hooks run on every evaluation, concurrently from every goroutine that evaluates, so they
// must be fast and safe for concurrent use; the caller waits for them. A hook that panics is
// contained: the panic is logged to Config.Logger (and EventLogWarning listeners) at most once
// a minute per hook, with the number of panics in between, and the caller still gets its
// value and the other hooks still run. If a hook's BeforeEvaluation panics, its
// AfterEvaluation is skipped for that evaluation; if its Enabled panics, it is not enabled.
// A hook may evaluate flags itself, which runs the hooks again for that evaluation.
type Hook struct {
	// Name identifies the hook in log records. Optional.
	Name string

	// Enabled reports whether the hook observes an evaluation made with ctx; if it returns
	// false, the hook's BeforeEvaluation and AfterEvaluation are not called for that
	// evaluation, and if no hook is enabled, the evaluation costs what it costs without
	// hooks. A tracing hook, for example, can observe only the evaluations made in a
	// recording span. It is called first, for every evaluation. Optional: nil means always.
	// It does not apply to AfterTrack.
	Enabled func(ctx context.Context) bool

	// BeforeEvaluation is called before a flag is evaluated, with the context to pass on. It
	// returns the context for the next hook and for its own AfterEvaluation: ctx itself, or
	// a context derived from it. A nil return means ctx. Optional.
	BeforeEvaluation func(ctx context.Context, e EvalCall) context.Context

	// AfterEvaluation is called after a flag is evaluated, with e.Detail (and e.Duration if
	// Timed) set. Optional.
	AfterEvaluation func(ctx context.Context, e EvalCall)

	// AfterTrack is called for each Track or TrackMetric call that is accepted: its
	// arguments are valid and the client is not closed (a call that returns an error is not
	// reported). The hooks' AfterTrack functions run in registration order, before the event
	// is queued, whether or not events are sent (Offline, DisableEvents). ctx is
	// context.Background(): Track and TrackMetric take no context. Optional.
	AfterTrack func(ctx context.Context, t TrackCall)

	// Timed asks for EvalCall.Duration in AfterEvaluation: the time the evaluation took,
	// hooks excluded. Measuring it reads the clock twice per evaluation, which costs more
	// than an evaluation on some machines, so it is off by default (Duration is 0). If any
	// hook is Timed, every hook's AfterEvaluation sees the duration.
	Timed bool
}

// EvalCall describes one call of an evaluation method to hooks. BeforeEvaluation receives
// what the caller asked; AfterEvaluation receives the same with Detail, and Duration, set.
type EvalCall struct {
	// FlagKey is the key of the flag evaluated.
	FlagKey string
	// User is the user the flag is evaluated for.
	User User
	// Method is the name of the method called, such as "BoolVariation" or
	// "JSONVariationDetail"; ContextClient's methods have the names of Client's.
	Method string
	// Detail is the result, in AfterEvaluation, as the method's Detail form returns it: the
	// variation served (VariationID, Value, Reason, InExperiment, Split) or the fallback
	// reason and error (Reason, Err). Detail.Value is the served value as FeatBit stores it;
	// on fallback it is the default for Variation and VariationDetail, "" for the others.
	Detail EvalDetail
	// Duration is the time the evaluation took, hooks excluded, in AfterEvaluation when a
	// hook is Timed; 0 otherwise.
	Duration time.Duration

	def defaultValue
}

// Default returns the default value the caller passed: a bool for BoolVariation, an int
// for IntVariation, a float64 for Float64Variation, a string for Variation, a T for
// JSONVariation[T].
func (e EvalCall) Default() any { return e.def.value() }

// TrackCall is a custom event given to Track or TrackMetric, as AfterTrack receives it.
type TrackCall struct {
	// User is the user who performed the event.
	User User
	// EventName is FeatBit's event name.
	EventName string
	// Value is the metric's value, 1 for Track.
	Value float64
}

// defaultValue holds an evaluation's default value without boxing it, so that a hook that
// does not ask for it costs no allocation.
type defaultValue struct {
	kind defaultKind
	bits uint64 // bool, int or float64
	str  string
	box  any // JSONVariation's T
}

type defaultKind uint8

const (
	defaultString defaultKind = iota
	defaultBool
	defaultInt
	defaultFloat
	defaultBoxed
)

func (d defaultValue) value() any {
	switch d.kind {
	case defaultBool:
		return d.bits != 0
	case defaultInt:
		return int(d.bits)
	case defaultFloat:
		return math.Float64frombits(d.bits)
	case defaultBoxed:
		return d.box
	}
	return d.str
}

func stringDefault(v string) defaultValue { return defaultValue{kind: defaultString, str: v} }
func intDefault(v int) defaultValue       { return defaultValue{kind: defaultInt, bits: uint64(v)} }
func floatDefault(v float64) defaultValue {
	return defaultValue{kind: defaultFloat, bits: math.Float64bits(v)}
}
func boxedDefault(v any) defaultValue { return defaultValue{kind: defaultBoxed, box: v} }
func boolDefault(v bool) defaultValue {
	d := defaultValue{kind: defaultBool}
	if v {
		d.bits = 1
	}
	return d
}

// panicLogInterval is the least time between two log records about one hook's panics.
const panicLogInterval = time.Minute

// maxHooks is the most hooks a client takes: one bit each in a uint64.
const maxHooks = 64

// hookSet is a client's Config.Hooks, ready to run. A client without hooks has none.
type hookSet struct {
	hooks  []hookState
	always uint64 // the hooks without Enabled, one bit each
	gated  []int  // the indexes of the hooks with Enabled
	timed  bool
	log    func(msg string, args ...any)
	now    func() time.Time // tests only: replaces time.Now
}

// hookState is one hook and the rate limit of the log records about its panics.
type hookState struct {
	Hook
	mu       sync.Mutex // guards panicLog: hooks panic on any goroutine
	panicLog logLimit
}

// newHookSet returns the hooks ready to run, or nil if there are none.
func newHookSet(hooks []Hook, warn func(msg string, args ...any)) *hookSet {
	if len(hooks) == 0 {
		return nil
	}
	hs := &hookSet{hooks: make([]hookState, len(hooks)), log: warn, now: time.Now}
	for i, h := range hooks {
		hs.hooks[i].Hook = h
		hs.hooks[i].panicLog.every = panicLogInterval
		hs.timed = hs.timed || h.Timed
		switch {
		case h.BeforeEvaluation == nil && h.AfterEvaluation == nil:
		case h.Enabled == nil:
			hs.always |= 1 << i
		default:
			hs.gated = append(hs.gated, i)
		}
	}
	return hs
}

// activeHooks returns the hooks to run around an evaluation with ctx, one bit per hook:
// 0 for a nil client, a client without hooks, or when every hook's Enabled says no.
func (c *Client) activeHooks(ctx context.Context) uint64 {
	if c == nil || c.hooks == nil {
		return 0
	}
	return c.hooks.active(ctx)
}

func (hs *hookSet) active(ctx context.Context) uint64 {
	on := hs.always
	for _, i := range hs.gated {
		if hs.hooks[i].enabled(hs, ctx) {
			on |= 1 << i
		}
	}
	return on
}

// hookKey returns a copy of key that hooks may keep: the flag's own key if the flag exists,
// else a clone. Hooks never see the caller's string, so that a key the caller built on its
// stack can stay there: a hook may keep what it is given (in a span, for example), and if
// the caller's key reached the hooks, the compiler would move every caller's key to the
// heap, hooks or not.
func (c *Client) hookKey(key string) string {
	if snap := c.store.load(); snap != nil {
		if f := snap.flag(key); f != nil {
			return f.key
		}
	}
	return strings.Clone(key)
}

// hookRun is the run of the hooks around one evaluation: before, then after.
type hookRun struct {
	hs    *hookSet
	on    uint64 // the hooks that run
	skip  uint64 // the hooks whose BeforeEvaluation panicked
	e     EvalCall
	start time.Time
	ctxs  [4]context.Context // for the AfterEvaluation of the first hooks
	more  []context.Context  // for the others
}

func (r *hookRun) setCtx(i int, ctx context.Context) {
	if i < len(r.ctxs) {
		r.ctxs[i] = ctx
		return
	}
	if r.more == nil {
		r.more = make([]context.Context, len(r.hs.hooks)-len(r.ctxs))
	}
	r.more[i-len(r.ctxs)] = ctx
}

func (r *hookRun) ctx(i int) context.Context {
	if i < len(r.ctxs) {
		return r.ctxs[i]
	}
	return r.more[i-len(r.ctxs)]
}

// before runs the BeforeEvaluation functions in registration order, passing the context
// from each to the next, and keeps the context each AfterEvaluation gets.
func (r *hookRun) before(ctx context.Context) {
	for i := range r.hs.hooks {
		if r.on&(1<<i) == 0 {
			continue
		}
		if h := &r.hs.hooks[i]; h.BeforeEvaluation != nil {
			next, ok := h.before(r.hs, ctx, r.e)
			switch {
			case !ok:
				r.skip |= 1 << i
			case next != nil:
				ctx = next
			}
		}
		r.setCtx(i, ctx)
	}
	if r.hs.timed {
		r.start = r.hs.now()
	}
}

// after runs the AfterEvaluation functions in reverse registration order with the
// evaluation's detail.
func (r *hookRun) after(d *EvalDetail) {
	if r.hs.timed {
		r.e.Duration = r.hs.now().Sub(r.start)
	}
	r.e.Detail = *d
	for i := len(r.hs.hooks) - 1; i >= 0; i-- {
		if (r.on&^r.skip)&(1<<i) == 0 {
			continue
		}
		if h := &r.hs.hooks[i]; h.AfterEvaluation != nil {
			h.after(r.hs, r.ctx(i), r.e)
		}
	}
}

func (h *hookState) enabled(hs *hookSet, ctx context.Context) (on bool) {
	defer func() {
		if p := recover(); p != nil {
			hs.panicked(h, "Enabled", "", p)
			on = false
		}
	}()
	return h.Enabled(ctx)
}

func (h *hookState) before(hs *hookSet, ctx context.Context, e EvalCall) (next context.Context, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			hs.panicked(h, "BeforeEvaluation", e.FlagKey, p)
			ok = false
		}
	}()
	return h.BeforeEvaluation(ctx, e), true
}

func (h *hookState) after(hs *hookSet, ctx context.Context, e EvalCall) {
	defer func() {
		if p := recover(); p != nil {
			hs.panicked(h, "AfterEvaluation", e.FlagKey, p)
		}
	}()
	h.AfterEvaluation(ctx, e)
}

func (h *hookState) track(hs *hookSet, t TrackCall) {
	defer func() {
		if p := recover(); p != nil {
			hs.panicked(h, "AfterTrack", t.EventName, p)
		}
	}()
	h.AfterTrack(context.Background(), t)
}

// afterTrack runs the hooks' AfterTrack for an accepted Track or TrackMetric call, in
// registration order.
func (c *Client) afterTrack(user *User, eventName string, value float64) {
	if c.hooks == nil {
		return
	}
	t := TrackCall{User: *user, EventName: eventName, Value: value}
	for i := range c.hooks.hooks {
		if h := &c.hooks.hooks[i]; h.AfterTrack != nil {
			h.track(c.hooks, t)
		}
	}
}

// panicked logs a hook's panic, at most once per panicLogInterval per hook, with the number
// of panics that were not logged since the last record.
func (hs *hookSet) panicked(h *hookState, phase, key string, p any) {
	now := hs.now()
	h.mu.Lock()
	n, log := h.panicLog.add(1, now)
	h.mu.Unlock()
	if !log {
		return
	}
	hs.log("fbclient: a hook panicked; the SDK carried on without it",
		"hook", h.Name, "phase", phase, "key", key, "panic", fmt.Sprint(p),
		"unloggedPanics", int(n-1), "stack", string(debug.Stack()))
}
