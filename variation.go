package fbclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strings"
)

// evaluate looks the flag up in the current snapshot and evaluates it, with FeatBit's SDK
// order of checks: client ready, then those of snapshot.evaluate.
func (c *Client) evaluate(key string, u *User) (*flag, result) {
	if c == nil {
		return nil, result{reason: ReasonClientNotReady, err: ErrClientNotReady}
	}
	snap := c.store.load()
	if snap == nil {
		return nil, result{reason: ReasonClientNotReady, err: ErrClientNotReady}
	}
	ec := evalCtx{u: u}
	f, r := snap.evaluate(key, &ec)
	if ec.regexTimedOut {
		c.reportRegexTimeouts(f)
	}
	return f, r
}

var wrongType = result{reason: ReasonWrongType, err: ErrWrongType}

// record hands a successful typed evaluation to the event pipeline.
func (c *Client) record(f *flag, r *result, u *User) {
	if c.events.wanted() {
		c.events.putEvaluation(f, r.v, r.reason, r.inExpt(), u)
	}
}

func detail(key string, r *result, value string) EvalDetail {
	d := EvalDetail{FlagKey: key, Value: value, Reason: r.reason, InExperiment: r.inExpt(), Split: r.split(), Err: r.err}
	if r.v != nil {
		d.VariationID = r.v.id
	}
	return d
}

// Names of the evaluation methods, for EvalCall.Method.
const (
	methodString       = "Variation"
	methodStringDetail = "VariationDetail"
	methodBool         = "BoolVariation"
	methodBoolDetail   = "BoolVariationDetail"
	methodInt          = "IntVariation"
	methodIntDetail    = "IntVariationDetail"
	methodFloat        = "Float64Variation"
	methodFloatDetail  = "Float64VariationDetail"
	methodJSON         = "JSONVariation"
	methodJSONDetail   = "JSONVariationDetail"
)

// Each evaluation method has a body that takes the context for the hooks; the Client
// methods pass context.Background(), ContextClient's pass their own. Without hooks to run,
// the body is the plain evaluation.

// Variation returns the value of the variation the flag serves to user, as FeatBit stores it
// (every flag type has a string value; "true", "42" and JSON text included), or
// defaultValue if the flag cannot be evaluated.
func (c *Client) Variation(flagKey string, user User, defaultValue string) string {
	return c.variation(context.Background(), flagKey, &user, defaultValue)
}

func (c *Client) variation(ctx context.Context, key string, user *User, def string) string {
	if on := c.activeHooks(ctx); on != 0 {
		return c.hookedString(ctx, on, methodString, key, user, def).Value
	}
	f, r := c.evaluate(key, user)
	if r.v == nil {
		return def
	}
	c.record(f, &r, user)
	return r.v.value
}

// VariationDetail is Variation with the reason for the result. On fallback, Value is
// defaultValue and Err says why.
func (c *Client) VariationDetail(flagKey string, user User, defaultValue string) EvalDetail {
	if on := c.activeHooks(context.Background()); on != 0 {
		return c.hookedString(context.Background(), on, methodStringDetail, flagKey, &user, defaultValue)
	}
	// stringDetail's body, repeated here and in variationDetail: a call in between costs
	// 6 to 15 ns (the 72-byte result is copied once more).
	f, r := c.evaluate(flagKey, &user)
	if r.v == nil {
		return detail(flagKey, &r, defaultValue)
	}
	c.record(f, &r, &user)
	return detail(flagKey, &r, r.v.value)
}

func (c *Client) variationDetail(ctx context.Context, key string, user *User, def string) EvalDetail {
	if on := c.activeHooks(ctx); on != 0 {
		return c.hookedString(ctx, on, methodStringDetail, key, user, def)
	}
	f, r := c.evaluate(key, user)
	if r.v == nil {
		return detail(key, &r, def)
	}
	c.record(f, &r, user)
	return detail(key, &r, r.v.value)
}

// hookedString is stringDetail with the hooks on around it.
func (c *Client) hookedString(ctx context.Context, on uint64, method, key string, user *User, def string) EvalDetail {
	key = c.hookKey(key)
	r := hookRun{hs: c.hooks, on: on, e: EvalCall{FlagKey: key, User: *user, Method: method, def: stringDefault(def)}}
	r.before(ctx)
	d := stringDetail(c, key, user, def)
	r.after(&d)
	return d
}

// stringDetail is the body of VariationDetail.
func stringDetail(c *Client, key string, user *User, def string) EvalDetail {
	f, r := c.evaluate(key, user)
	if r.v == nil {
		return detail(key, &r, def)
	}
	c.record(f, &r, user)
	return detail(key, &r, r.v.value)
}

// typedDetail is the body of the typed Detail methods: evaluate, convert with conv (a
// conversion the variation has precomputed), and record the evaluation if it served a value.
func typedDetail[T any](c *Client, key string, user *User, def T, conv func(*variation) (T, bool)) (T, EvalDetail) {
	f, r := c.evaluate(key, user)
	var out T
	if r.v != nil {
		var ok bool
		if out, ok = conv(r.v); !ok {
			r = wrongType
		}
	}
	if r.v == nil {
		return def, detail(key, &r, "")
	}
	c.record(f, &r, user)
	return out, detail(key, &r, r.v.value)
}

// hookedDetail is typedDetail with the hooks on around it.
func hookedDetail[T any](c *Client, ctx context.Context, on uint64, method string, key string, user *User, def T, hookDef defaultValue, conv func(*variation) (T, bool)) (T, EvalDetail) {
	key = c.hookKey(key)
	r := hookRun{hs: c.hooks, on: on, e: EvalCall{FlagKey: key, User: *user, Method: method, def: hookDef}}
	r.before(ctx)
	v, d := typedDetail(c, key, user, def, conv)
	r.after(&d)
	return v, d
}

// The typed variation's conversions, precomputed by compile.
func boolOf(v *variation) (bool, bool)     { return v.boolVal, v.boolOK }
func intOf(v *variation) (int, bool)       { return v.intVal, v.intOK }
func floatOf(v *variation) (float64, bool) { return v.floatVal, v.floatOK }

// BoolVariation returns the flag's value as a bool, or defaultValue if the flag cannot be
// evaluated or its value is not a bool: "true" or "false" in any case, or one of Go's
// strconv.ParseBool forms "1", "t", "T", "0", "f", "F". A number flag is never a bool.
func (c *Client) BoolVariation(flagKey string, user User, defaultValue bool) bool {
	return c.boolVariation(context.Background(), flagKey, &user, defaultValue)
}

func (c *Client) boolVariation(ctx context.Context, key string, user *User, def bool) bool {
	if on := c.activeHooks(ctx); on != 0 {
		v, _ := hookedDetail(c, ctx, on, methodBool, key, user, def, boolDefault(def), boolOf)
		return v
	}
	f, r := c.evaluate(key, user)
	if r.v == nil || !r.v.boolOK {
		return def
	}
	c.record(f, &r, user)
	return r.v.boolVal
}

// BoolVariationDetail is BoolVariation with the reason for the result. The detail's Value
// is the served string, "" on fallback.
func (c *Client) BoolVariationDetail(flagKey string, user User, defaultValue bool) (bool, EvalDetail) {
	return c.boolVariationDetail(context.Background(), flagKey, &user, defaultValue)
}

func (c *Client) boolVariationDetail(ctx context.Context, key string, user *User, def bool) (bool, EvalDetail) {
	if on := c.activeHooks(ctx); on != 0 {
		return hookedDetail(c, ctx, on, methodBoolDetail, key, user, def, boolDefault(def), boolOf)
	}
	return typedDetail(c, key, user, def, boolOf)
}

// IntVariation returns the flag's value as an int, or defaultValue if the flag cannot be
// evaluated or its value is not a whole number that fits an int ("2.5" and "1e30" are
// ReasonWrongType). Number, string and json flags can serve ints.
func (c *Client) IntVariation(flagKey string, user User, defaultValue int) int {
	return c.intVariation(context.Background(), flagKey, &user, defaultValue)
}

func (c *Client) intVariation(ctx context.Context, key string, user *User, def int) int {
	if on := c.activeHooks(ctx); on != 0 {
		v, _ := hookedDetail(c, ctx, on, methodInt, key, user, def, intDefault(def), intOf)
		return v
	}
	f, r := c.evaluate(key, user)
	if r.v == nil || !r.v.intOK {
		return def
	}
	c.record(f, &r, user)
	return r.v.intVal
}

// IntVariationDetail is IntVariation with the reason for the result. The detail's Value is
// the served string, "" on fallback.
func (c *Client) IntVariationDetail(flagKey string, user User, defaultValue int) (int, EvalDetail) {
	return c.intVariationDetail(context.Background(), flagKey, &user, defaultValue)
}

func (c *Client) intVariationDetail(ctx context.Context, key string, user *User, def int) (int, EvalDetail) {
	if on := c.activeHooks(ctx); on != 0 {
		return hookedDetail(c, ctx, on, methodIntDetail, key, user, def, intDefault(def), intOf)
	}
	return typedDetail(c, key, user, def, intOf)
}

// Float64Variation returns the flag's value as a float64, or defaultValue if the flag cannot
// be evaluated or its value is not a finite number. Number, string and json flags can serve
// numbers.
func (c *Client) Float64Variation(flagKey string, user User, defaultValue float64) float64 {
	return c.float64Variation(context.Background(), flagKey, &user, defaultValue)
}

func (c *Client) float64Variation(ctx context.Context, key string, user *User, def float64) float64 {
	if on := c.activeHooks(ctx); on != 0 {
		v, _ := hookedDetail(c, ctx, on, methodFloat, key, user, def, floatDefault(def), floatOf)
		return v
	}
	f, r := c.evaluate(key, user)
	if r.v == nil || !r.v.floatOK {
		return def
	}
	c.record(f, &r, user)
	return r.v.floatVal
}

// Float64VariationDetail is Float64Variation with the reason for the result. The detail's
// Value is the served string, "" on fallback.
func (c *Client) Float64VariationDetail(flagKey string, user User, defaultValue float64) (float64, EvalDetail) {
	return c.float64VariationDetail(context.Background(), flagKey, &user, defaultValue)
}

func (c *Client) float64VariationDetail(ctx context.Context, key string, user *User, def float64) (float64, EvalDetail) {
	if on := c.activeHooks(ctx); on != 0 {
		return hookedDetail(c, ctx, on, methodFloatDetail, key, user, def, floatDefault(def), floatOf)
	}
	return typedDetail(c, key, user, def, floatOf)
}

// JSONVariation decodes the flag's value into a new T with encoding/json and returns it, or
// defaultValue if the flag cannot be evaluated or its value does not fit T
// (ReasonWrongType). The decoding is strict, so that a typo in a flag's value cannot pass as
// zeros: a key that T has no field for, a JSON null, or anything after the value is a
// mismatch. A key that the value does not have leaves its field at its zero value; to
// require keys or check values, give T (or *T) a method Validate() error, which is called
// after decoding: an error from it is a mismatch too. Any flag type can be decoded; json
// flags are the usual case:
//
//	type Banner struct{ Text string; Color string }
//	banner := fbclient.JSONVariation(client, "banner", user, Banner{Text: "Welcome"})
//
// c is a *Client, or a ContextClient for the hooks to see its context:
// fbclient.JSONVariation(client.WithContext(ctx), "banner", user, Banner{}).
func JSONVariation[T any](c Evaluator, flagKey string, user User, defaultValue T) T {
	v, _ := jsonVariation(c, methodJSON, flagKey, user, defaultValue)
	return v
}

// JSONVariationDetail is JSONVariation with the reason for the result. The detail's Value
// is the served JSON text, "" on fallback; when the value does not fit T, Err matches
// ErrWrongType and wraps the decoder's (or Validate's) error.
func JSONVariationDetail[T any](c Evaluator, flagKey string, user User, defaultValue T) (T, EvalDetail) {
	return jsonVariation(c, methodJSONDetail, flagKey, user, defaultValue)
}

// jsonVariation is jsonDetail with the hooks around it.
func jsonVariation[T any](ev Evaluator, method, flagKey string, user User, defaultValue T) (T, EvalDetail) {
	c, ctx := boundTo(ev)
	if on := c.activeHooks(ctx); on != 0 {
		flagKey := c.hookKey(flagKey)
		r := hookRun{hs: c.hooks, on: on, e: EvalCall{FlagKey: flagKey, User: user, Method: method, def: boxedDefault(defaultValue)}}
		r.before(ctx)
		v, d := jsonDetail(c, flagKey, user, defaultValue)
		r.after(&d)
		return v, d
	}
	return jsonDetail(c, flagKey, user, defaultValue)
}

// jsonDetail is the body of JSONVariationDetail: evaluate, decode, and record the evaluation
// if it served a value.
func jsonDetail[T any](c *Client, flagKey string, user User, defaultValue T) (T, EvalDetail) {
	f, r := c.evaluate(flagKey, &user)
	if r.v == nil {
		return defaultValue, detail(flagKey, &r, "")
	}
	var out T
	if err := decodeJSON(r.v.value, &out); err != nil {
		r = result{reason: ReasonWrongType, err: fmt.Errorf("%w: %w", ErrWrongType, err)}
		return defaultValue, detail(flagKey, &r, "")
	}
	c.record(f, &r, &user)
	return out, detail(flagKey, &r, r.v.value)
}

// decodeJSON decodes a flag's value into out for JSONVariation: unknown keys, null and
// trailing data are errors, and out's Validate method, if it has one, has the last word.
func decodeJSON[T any](value string, out *T) error {
	if strings.Trim(value, " \t\r\n") == "null" {
		return errNullJSON
	}
	dec := json.NewDecoder(strings.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return err
	}
	if strings.Trim(value[dec.InputOffset():], " \t\r\n") != "" {
		return errTrailingJSON
	}
	if v, ok := any(out).(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

var (
	errNullJSON     = errors.New("the value is null")
	errTrailingJSON = errors.New("data after the JSON value")
)

// AllFlags is the evaluation of every flag for one user, sorted by flag key. Marshaled to
// JSON it is the bootstrap array FeatBit's client-side SDKs accept:
// [{"id":"<flag key>","variation":"<value>","variationType":"boolean",...}].
type AllFlags struct {
	details []EvalDetail
	types   []flagType
}

// Get returns the detail of one flag and whether the flag was evaluated.
func (a AllFlags) Get(flagKey string) (EvalDetail, bool) {
	i := sort.Search(len(a.details), func(i int) bool { return a.details[i].FlagKey >= flagKey })
	if i < len(a.details) && a.details[i].FlagKey == flagKey {
		return a.details[i], true
	}
	return EvalDetail{FlagKey: flagKey, Reason: ReasonFlagNotFound, Err: ErrFlagNotFound}, false
}

// Value returns the value served for one flag, or defaultValue if the flag was not
// evaluated or could not be.
func (a AllFlags) Value(flagKey, defaultValue string) string {
	if d, ok := a.Get(flagKey); ok && d.Err == nil {
		return d.Value
	}
	return defaultValue
}

// Len returns the number of flags evaluated.
func (a AllFlags) Len() int { return len(a.details) }

// All iterates over the flags in key order.
func (a AllFlags) All() iter.Seq2[string, EvalDetail] {
	return func(yield func(string, EvalDetail) bool) {
		for _, d := range a.details {
			if !yield(d.FlagKey, d) {
				return
			}
		}
	}
}

// MarshalJSON encodes the flags that served a variation as FeatBit's client-side bootstrap
// array.
func (a AllFlags) MarshalJSON() ([]byte, error) {
	type flagState struct {
		ID               string `json:"id"`
		Variation        string `json:"variation"`
		VariationType    string `json:"variationType"`
		VariationID      string `json:"variationId"`
		SendToExperiment bool   `json:"sendToExperiment"`
		MatchReason      string `json:"matchReason"`
	}
	out := make([]flagState, 0, len(a.details))
	for i, d := range a.details {
		if d.Err != nil {
			continue
		}
		out = append(out, flagState{d.FlagKey, d.Value, a.types[i].String(), d.VariationID, d.InExperiment, d.Reason.String()})
	}
	return json.Marshal(out)
}

// AllVariations evaluates every flag for user, for server-side rendering or to bootstrap a
// client-side SDK. It records no insight events. Flags that cannot be evaluated are included
// with their error; an invalid user or a client that is not ready gives an empty result.
func (c *Client) AllVariations(user User) AllFlags {
	if c == nil || !user.Valid() {
		return AllFlags{}
	}
	snap := c.store.load()
	if snap == nil {
		return AllFlags{}
	}
	live := snap.live()
	a := AllFlags{details: make([]EvalDetail, len(live)), types: make([]flagType, len(live))}
	for i, f := range live {
		r := evaluate(f, &user)
		v := ""
		if r.v != nil {
			v = r.v.value
		}
		a.details[i] = detail(f.key, &r, v)
		a.types[i] = f.typ
	}
	return a
}
