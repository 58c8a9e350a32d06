package fbclient

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a client's state and counters, for dashboards, health checks and
// debugging. Counters count since the client was created and never go down. Client.Stats
// returns it.
type Stats struct {
	// Time is when the snapshot was taken.
	Time time.Time
	// Status is the client's sync state, as Client.Status returns it.
	Status Status
	// Data describes the flag data the client holds.
	Data DataStats
	// Sync counts what the client's data source reported.
	Sync SyncStats
	// Events counts the insight events sent to FeatBit.
	Events EventStats
	// Listeners counts what the listeners registered with On and Config.Listeners missed.
	Listeners ListenerStats
}

// DataStats describes the flag data a client holds.
type DataStats struct {
	// Flags and Segments are the flags and segments held, archived ones left out.
	Flags, Segments int
	// Version is the data version (see DataSet.Version), 0 without data.
	Version int64
	// LastSync is when the client last received data from its source: a full data set, a
	// patch, or a poll or data-sync reply that found nothing changed; for Offline data, when
	// it was loaded. Zero before any (a data set loaded from Config.Cache does not count).
	LastSync time.Time
	// Age is how long the data may have been out of date when the snapshot was taken: 0
	// while the client is Ready, as its source keeps the data current (a stream receives every
	// change as it is made, a poll has just confirmed it); since the client stopped being
	// Ready while it serves data it can no longer refresh (Stale, Failed, Closed), or since
	// the data set was saved while it serves one loaded from Config.Cache (Status.CachedAt,
	// when the cache tells); 0 without data.
	Age time.Duration
}

// SyncStats counts the requests and failures that a client's data source reported.
type SyncStats struct {
	// Requests counts the requests for data: streaming connections opened (each sends one
	// data-sync request; a connection FeatBit accepts and then rejects counts too), polls.
	Requests uint64
	// Reconnects counts the Requests that followed a failure: streaming connections opened
	// again after one was lost or could not be opened, polls made after a failed one.
	Reconnects uint64
	// DataSyncs counts the data sets received: full data sets, patches, and replies that
	// found nothing changed.
	DataSyncs uint64
	// FullDataSyncs counts the DataSyncs that replaced the whole data set.
	FullDataSyncs uint64
	// Errors counts the failures by kind.
	Errors SyncErrors
}

// SyncErrors counts sync failures by kind. The kinds refer to the failure policy of the
// built-in sources (sync.go: F1 to F10); each failure is also an EventNetworkFetchError.
type SyncErrors struct {
	// Network: FeatBit could not be reached or its reply not read: DNS, TCP, TLS, proxy,
	// timeouts (F1, and polling's F9 network errors).
	Network uint64
	// Status: FeatBit answered with an HTTP error status: a refused WebSocket upgrade (F2),
	// a poll answered 429, 5xx (F9) or another status (F10).
	Status uint64
	// Lost: an open streaming connection ended: closed by the server, dropped, silent, no
	// reply to the data-sync request, a failed write, a message over the read limit (F4-F7).
	Lost uint64
	// BadData: a poll response that is not a FeatBit data set (F10).
	BadData uint64
	// Rejected: FeatBit rejected the credentials (F3); sync stopped for good.
	Rejected uint64
	// Other: the failures that a Config.DataSource reported (DataSink.Failed and Stop).
	Other uint64
}

// Total returns the sum of the counts.
func (e SyncErrors) Total() uint64 {
	return e.Network + e.Status + e.Lost + e.BadData + e.Rejected + e.Other
}

// EventStats counts insight events: evaluations and custom events on their way to FeatBit.
// With Offline or DisableEvents no insight event exists, and all are 0.
type EventStats struct {
	// Recorded counts the events that got a place in the event buffer.
	Recorded uint64
	// Sent counts the events FeatBit accepted.
	Sent uint64
	// Retried counts the events sent again after a failed attempt.
	Retried uint64
	// Dropped counts the events that will never reach FeatBit, by reason. Their total is
	// Client.DroppedEvents.
	Dropped EventDrops
	// Queued is the number of events recorded and not yet sent or dropped.
	Queued int
}

// EventDrops counts dropped insight events by reason.
type EventDrops struct {
	// BufferFull: the event found the buffer full (Config.EventCapacity).
	BufferFull uint64
	// Invalid: FeatBit would reject the event, so it is never sent: a variation whose value
	// or id is empty, an event larger than Config.EventBatchBytes.
	Invalid uint64
	// Refused: FeatBit refused the batch with an error status (400, 413 or another).
	Refused uint64
	// Unauthorized: FeatBit refused the env secret (401, 403); no event is sent after that.
	Unauthorized uint64
	// Undelivered: not sent before Close's deadline (events are kept through outages, so
	// nothing else gives up on them).
	Undelivered uint64
}

// Total returns the sum of the counts.
func (d EventDrops) Total() uint64 {
	return d.BufferFull + d.Invalid + d.Refused + d.Unauthorized + d.Undelivered
}

// ListenerStats counts the events listeners missed because their queue was full (see
// EventMissed).
type ListenerStats struct {
	// Missed counts the events missed by all listeners since the client was created,
	// listeners since removed included.
	Missed uint64
	// Unrecorded counts the evaluations no EventEvaluation listener was told of because the
	// event buffer was full, when insight events are not sent (Offline, DisableEvents); when
	// they are sent, such evaluations are EventStats.Dropped.BufferFull.
	Unrecorded uint64
	// Each lists the registered listeners, in registration order.
	Each []ListenerStat
}

// ListenerStat is one listener's counts.
type ListenerStat struct {
	// Name is the listener's name (ListenerName).
	Name string
	// Missed counts the events it missed since it was registered.
	Missed uint64
	// Panics counts the calls of its callback that panicked.
	Panics uint64
}

// Stats returns a snapshot of the client's state and counters. It is cheap (atomic loads
// and one short lock of the listener registry; nothing on the evaluation path is counted
// for it) and safe to call often and concurrently. The counters are exact, but read one by
// one: while the client works, two of them may be taken a moment apart.
func (c *Client) Stats() Stats {
	now := time.Now()
	if c == nil {
		return Stats{Time: now, Status: Status{State: StateClosed}}
	}
	s := Stats{Time: now, Status: c.Status()}

	if snap := c.store.load(); snap != nil {
		held := c.held.count(snap)
		s.Data.Flags, s.Data.Segments = held.flags, held.segments
		s.Data.Version = snap.version
		s.Data.Age = dataAge(s.Status, now)
	}
	if t := c.syncs.last.Load(); t != 0 {
		s.Data.LastSync = time.Unix(0, t)
	}

	n := &c.syncs
	s.Sync = SyncStats{
		Requests:      n.requests.Load(),
		Reconnects:    n.reconnects.Load(),
		DataSyncs:     n.dataSyncs.Load(),
		FullDataSyncs: n.full.Load(),
		Errors: SyncErrors{
			Network:  n.errors[syncNetwork].Load(),
			Status:   n.errors[syncStatus].Load(),
			Lost:     n.errors[syncLost].Load(),
			BadData:  n.errors[syncBadData].Load(),
			Rejected: n.errors[syncRejected].Load(),
			Other:    n.errors[syncOther].Load(),
		},
	}

	s.Events = c.eventStats()

	missed, each := c.listeners.stats()
	s.Listeners.Missed = missed
	if !c.events.send {
		s.Listeners.Unrecorded = c.events.stats().Unrecorded
	}
	if len(each) > 0 {
		s.Listeners.Each = make([]ListenerStat, len(each))
		for i, l := range each {
			s.Listeners.Each[i] = ListenerStat{Name: l.name, Missed: l.missed, Panics: l.panics}
		}
	}
	return s
}

// dataAge is DataStats.Age at now for a client that holds data and has status st.
func dataAge(st Status, now time.Time) time.Duration {
	switch {
	case st.State == StateReady || st.State == StateNotReady:
		return 0
	case st.FromCache && !st.CachedAt.IsZero():
		return max(now.Sub(st.CachedAt), 0)
	}
	return max(now.Sub(st.Since), 0)
}

// eventStats reads the insight-event pipeline's counters.
func (c *Client) eventStats() EventStats {
	rc := c.events
	if !rc.send { // Offline or DisableEvents: records are made for listeners only
		return EventStats{}
	}
	s := rc.stats()
	d := s.Dropped
	return EventStats{
		Recorded: s.Recorded,
		Sent:     s.Sent,
		Retried:  s.Retried,
		Queued:   s.Queued,
		Dropped: EventDrops{
			BufferFull:   d[dropBufferFull],
			Invalid:      d[dropEmptyVariation] + d[dropOversize],
			Refused:      d[dropBadRequest] + d[dropTooLarge] + d[dropStatus],
			Unauthorized: d[dropUnauthorized],
			Undelivered:  d[dropClosing],
		},
	}
}

// heldCache keeps the numbers of live flags and segments of the last snapshot Stats saw, so
// that Stats counts them once per data version rather than once per call.
type heldCache struct {
	last atomic.Pointer[heldCount]
}

type heldCount struct {
	snap            *snapshot
	flags, segments int
}

func (h *heldCache) count(snap *snapshot) *heldCount {
	if l := h.last.Load(); l != nil && l.snap == snap {
		return l
	}
	n := &heldCount{snap: snap}
	for _, f := range snap.flags() {
		if !f.archived {
			n.flags++
		}
	}
	for _, seg := range snap.segments {
		if !seg.archived {
			n.segments++
		}
	}
	h.last.Store(n)
	return n
}
