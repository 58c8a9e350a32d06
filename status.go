package fbclient

import (
	"fmt"
	"time"
)

// State is the client's sync state.
type State uint8

// States.
const (
	// StateNotReady: no data set yet; evaluations return defaults with ReasonClientNotReady.
	StateNotReady State = iota
	// StateReady: the client has data and its last sync succeeded.
	StateReady
	// StateStale: the connection to FeatBit is lost or failing (or Config.DataSource reported
	// a failure); the client serves the last data it received, or the data set it loaded
	// from Config.Cache (Status.FromCache), and keeps trying to reconnect. It becomes ready again when a data-sync message arrives, not
	// on a mere reconnect; after a warm start from the cache, only a full data set does.
	StateStale
	// StateFailed: FeatBit rejected the credentials (close code 4003 when streaming, HTTP 401
	// or 403 when polling), or a Config.DataSource stopped for good; sync has stopped. The
	// client serves the data it has, if any. Status.Err matches ErrInitializationFailed.
	StateFailed
	// StateClosed: Close was called.
	StateClosed
)

// String returns the state in lower case, such as "not ready" or "stale".
func (s State) String() string {
	switch s {
	case StateNotReady:
		return "not ready"
	case StateReady:
		return "ready"
	case StateStale:
		return "stale"
	case StateFailed:
		return "failed"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Status is a snapshot of the client's sync state.
type Status struct {
	// State is the current state.
	State State
	// Since is when State last changed.
	Since time.Time
	// Err is the last sync error since the client was last ready, nil if none.
	Err error
	// FromCache is set while the data served is the data set loaded from Config.Cache at
	// start (a warm start), possibly with patches from the source on top, and no full data
	// set has come from the source yet; State is then StateStale (or a later StateFailed or
	// StateClosed). It is cleared by the first full data set from the source.
	FromCache bool
	// CachedAt is when the data set served was saved to the cache, while FromCache is set;
	// time.Since(CachedAt) is its age. It is the zero time otherwise, and when the Cache did
	// not say (see DataSet.WithSavedAt).
	CachedAt time.Time
}

// StatusChange reports a change of the client's state: the payload of EventStatusChanged.
type StatusChange struct {
	// Status is the new status.
	Status Status
	// Previous is the state before the change.
	Previous State
}

// Status returns the client's current sync state. It is cheap enough to call from a
// readiness probe on every request.
func (c *Client) Status() Status {
	if c == nil {
		return Status{State: StateClosed}
	}
	return *c.status.Load()
}

// setStatus changes the status and emits the change, if any, at once.
func (c *Client) setStatus(s State, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emitStatus(c.setStatusLocked(s, err))
}

// setStatusLocked changes the status (a closed or failed client stays so) and returns the
// EventStatusChanged event that reports the change, nil if the state stayed the same: a new
// Err alone is not a change of state. The caller emits it (emitStatus) after the event that
// caused the change, so that listeners hear the cause first.
func (c *Client) setStatusLocked(s State, err error) *Event {
	cur := c.status.Load()
	if cur != nil {
		if cur.State == StateClosed || (cur.State == StateFailed && s != StateClosed) {
			return nil
		}
		if cur.State == s && cur.Err == err {
			return nil
		}
	}
	st := &Status{State: s, Since: time.Now(), Err: err, FromCache: c.fromCache.Load()}
	if st.FromCache {
		st.CachedAt = c.cachedAt
	}
	if cur != nil && cur.State == s {
		st.Since = cur.Since
	}
	c.status.Store(st)
	if cur == nil || cur.State == s {
		return nil
	}
	return &Event{Type: EventStatusChanged, Time: st.Since, Message: cur.State.String() + " -> " + s.String(),
		StatusChange: &StatusChange{Status: *st, Previous: cur.State}, Err: err}
}

// emitStatus emits a status change returned by setStatusLocked, if any.
func (c *Client) emitStatus(e *Event) {
	if e != nil {
		c.listeners.emit(*e)
	}
}
