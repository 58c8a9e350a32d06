package fbclient

import (
	"slices"
	"sync"
)

// ValueChange tells a value-change listener (Client.OnValueChange) that the value its user
// gets from its flag changed.
type ValueChange struct {
	FlagKey string // the flag
	User    User   // the user the flag is evaluated for
	Old     string // the value before the change, as Variation returns it
	New     string // the value after the change, as Variation returns it
}

// OnValueChange calls fn when a data change alters the value that user gets from the flag
// flagKey, as Variation(flagKey, user, defaultValue) returns it, and returns a function
// that unregisters it. The value is taken when OnValueChange is called; after every change
// of the flag, directly or through a segment it uses, and when the client becomes ready,
// the flag is evaluated again for user (without recording an insight event) and fn is
// called if the value differs from the last one. A change that leaves the value as it was
// calls nothing. The default value counts as a value: fn is called when the flag is deleted
// or archived (New is defaultValue) and when the client gets its first data set.
//
// fn runs on the listener's own goroutine, like a listener registered with On, and the
// options are On's. Changes that follow each other faster than fn returns may be reported
// as one: fn is always told the value it was last told (Old) and the current one (New).
// A client that is never ready, or an invalid user, gets defaultValue throughout and fn is
// never called.
func (c *Client) OnValueChange(flagKey string, user User, defaultValue string, fn func(ValueChange), opts ...ListenerOption) (off func()) {
	if c == nil || fn == nil {
		return func() {}
	}
	w := &valueWatch{c: c, key: flagKey, user: user, def: defaultValue, fn: fn}
	w.mu.Lock() // the first event waits for the value taken below
	defer w.mu.Unlock()
	opts = append([]ListenerOption{func(o *listenerOptions) { o.kind = "value of flag " + flagKey }}, opts...)
	off = c.listeners.add([]EventType{EventClientReady, EventFlagChanged}, w.handle, nil, opts...)
	// Taken after registration: a change committed before it is in this value, and one
	// committed after it reaches the listener.
	w.value = w.eval()
	return off
}

// valueWatch is the state of one value-change listener.
type valueWatch struct {
	c     *Client
	key   string
	user  User
	def   string
	fn    func(ValueChange)
	mu    sync.Mutex // guards value; taken by OnValueChange until value is set
	value string     // the value fn was last told, or the first one
}

// handle re-evaluates the flag after an event that may have changed its value: a change of
// this flag, readiness, or missed events (which may have been such changes).
func (w *valueWatch) handle(e Event) {
	if e.Type == EventFlagChanged && !slices.Contains(e.FlagKeys, w.key) {
		return
	}
	w.mu.Lock()
	old, now := w.value, w.eval()
	w.value = now
	w.mu.Unlock()
	if now != old {
		w.fn(ValueChange{FlagKey: w.key, User: w.user, Old: old, New: now})
	}
}

// eval is the value Variation would return, without recording an evaluation.
func (w *valueWatch) eval() string {
	if _, r := w.c.evaluate(w.key, &w.user); r.v != nil {
		return r.v.value
	}
	return w.def
}
