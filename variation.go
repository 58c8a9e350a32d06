package fbclient

import (
	"encoding/json"
	"fmt"
	"iter"
	"sort"
)

// evaluate looks the flag up in the current snapshot and evaluates it, with FeatBit's SDK
// order of checks: client ready, flag exists, user valid, then the flag's rules.
func (c *Client) evaluate(key string, u *User) (*flag, result) {
	if c == nil {
		return nil, result{reason: ReasonClientNotReady, err: ErrClientNotReady}
	}
	snap := c.store.load()
	if snap == nil {
		return nil, result{reason: ReasonClientNotReady, err: ErrClientNotReady}
	}
	f := snap.flag(key)
	if f == nil {
		return nil, result{reason: ReasonFlagNotFound, err: ErrFlagNotFound}
	}
	if !u.Valid() {
		return f, result{reason: ReasonUserNotSpecified, err: ErrInvalidUser}
	}
	return f, evaluate(f, u)
}

var wrongType = result{reason: ReasonWrongType, err: ErrWrongType}

// record hands a successful typed evaluation to the event pipeline.
func (c *Client) record(f *flag, r *result, u *User) {
	if c.events.wanted() {
		c.events.putEvaluation(f, r.v, r.reason, r.inExpt, u)
	}
}

func detail(key string, r *result, value string) EvalDetail {
	d := EvalDetail{FlagKey: key, Value: value, Reason: r.reason, InExperiment: r.inExpt, Err: r.err}
	if r.v != nil {
		d.VariationID = r.v.id
	}
	return d
}

// Variation returns the value of the variation the flag serves to user, as FeatBit stores it
// (every flag type has a string value; "true", "42" and JSON text included), or
// defaultValue if the flag cannot be evaluated.
func (c *Client) Variation(flagKey string, user User, defaultValue string) string {
	f, r := c.evaluate(flagKey, &user)
	if r.v == nil {
		return defaultValue
	}
	c.record(f, &r, &user)
	return r.v.value
}

// VariationDetail is Variation with the reason for the result. On fallback, Value is
// defaultValue and Err says why.
func (c *Client) VariationDetail(flagKey string, user User, defaultValue string) EvalDetail {
	f, r := c.evaluate(flagKey, &user)
	if r.v == nil {
		return detail(flagKey, &r, defaultValue)
	}
	c.record(f, &r, &user)
	return detail(flagKey, &r, r.v.value)
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

// BoolVariation returns the flag's value as a bool, or defaultValue if the flag cannot be
// evaluated or its value is not a bool: "true" or "false" in any case, or one of Go's
// strconv.ParseBool forms "1", "t", "T", "0", "f", "F". A number flag is never a bool.
func (c *Client) BoolVariation(flagKey string, user User, defaultValue bool) bool {
	f, r := c.evaluate(flagKey, &user)
	if r.v == nil || !r.v.boolOK {
		return defaultValue
	}
	c.record(f, &r, &user)
	return r.v.boolVal
}

// BoolVariationDetail is BoolVariation with the reason for the result. The detail's Value
// is the served string, "" on fallback.
func (c *Client) BoolVariationDetail(flagKey string, user User, defaultValue bool) (bool, EvalDetail) {
	return typedDetail(c, flagKey, &user, defaultValue, func(v *variation) (bool, bool) { return v.boolVal, v.boolOK })
}

// IntVariation returns the flag's value as an int, or defaultValue if the flag cannot be
// evaluated or its value is not a whole number that fits an int ("2.5" and "1e30" are
// ReasonWrongType). Number, string and json flags can serve ints.
func (c *Client) IntVariation(flagKey string, user User, defaultValue int) int {
	f, r := c.evaluate(flagKey, &user)
	if r.v == nil || !r.v.intOK {
		return defaultValue
	}
	c.record(f, &r, &user)
	return r.v.intVal
}

// IntVariationDetail is IntVariation with the reason for the result. The detail's Value is
// the served string, "" on fallback.
func (c *Client) IntVariationDetail(flagKey string, user User, defaultValue int) (int, EvalDetail) {
	return typedDetail(c, flagKey, &user, defaultValue, func(v *variation) (int, bool) { return v.intVal, v.intOK })
}

// Float64Variation returns the flag's value as a float64, or defaultValue if the flag cannot
// be evaluated or its value is not a finite number. Number, string and json flags can serve
// numbers.
func (c *Client) Float64Variation(flagKey string, user User, defaultValue float64) float64 {
	f, r := c.evaluate(flagKey, &user)
	if r.v == nil || !r.v.floatOK {
		return defaultValue
	}
	c.record(f, &r, &user)
	return r.v.floatVal
}

// Float64VariationDetail is Float64Variation with the reason for the result. The detail's
// Value is the served string, "" on fallback.
func (c *Client) Float64VariationDetail(flagKey string, user User, defaultValue float64) (float64, EvalDetail) {
	return typedDetail(c, flagKey, &user, defaultValue, func(v *variation) (float64, bool) { return v.floatVal, v.floatOK })
}

// JSONVariation decodes the flag's value into a new T with encoding/json and returns it, or
// defaultValue if the flag cannot be evaluated or its value does not decode into T
// (ReasonWrongType). Any flag type can be decoded; json flags are the usual case:
//
//	type Banner struct{ Text string; Color string }
//	banner := fbclient.JSONVariation(client, "banner", user, Banner{Text: "Welcome"})
func JSONVariation[T any](c *Client, flagKey string, user User, defaultValue T) T {
	v, _ := JSONVariationDetail(c, flagKey, user, defaultValue)
	return v
}

// JSONVariationDetail is JSONVariation with the reason for the result. The detail's Value
// is the served JSON text, "" on fallback; on a decoding failure Err matches ErrWrongType
// and wraps the decoder's error.
func JSONVariationDetail[T any](c *Client, flagKey string, user User, defaultValue T) (T, EvalDetail) {
	f, r := c.evaluate(flagKey, &user)
	if r.v == nil {
		return defaultValue, detail(flagKey, &r, "")
	}
	var out T
	if err := json.Unmarshal([]byte(r.v.value), &out); err != nil {
		r = result{reason: ReasonWrongType, err: fmt.Errorf("%w: %w", ErrWrongType, err)}
		return defaultValue, detail(flagKey, &r, "")
	}
	c.record(f, &r, &user)
	return out, detail(flagKey, &r, r.v.value)
}

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
