package fbclient

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// dropReason says why events were dropped.
type dropReason uint8

const (
	dropBufferFull dropReason = iota
	dropEmptyVariation
	dropOversize
	dropBadRequest
	dropTooLarge
	dropStatus
	dropUnauthorized
	dropClosing
	numDropReasons
)

var dropWhy = [numDropReasons]string{
	dropBufferFull:     "buffer full",
	dropEmptyVariation: "empty variation value or id (FeatBit rejects it)",
	dropOversize:       "event larger than EventBatchBytes",
	dropBadRequest:     "batch rejected by FeatBit (400)",
	dropTooLarge:       "batch too large for the server (413)",
	dropStatus:         "batch refused with an unexpected HTTP status",
	dropUnauthorized:   "env secret refused by FeatBit (401/403); events are no longer sent",
	dropClosing:        "not delivered before Close's deadline",
}

// eventCounts are the pipeline's exact counters. The dispatcher is their only writer, except
// for the buffer-full drops, which the producers count in recorder.full.
type eventCounts struct {
	sent     atomic.Uint64 // events FeatBit accepted
	retried  atomic.Uint64 // events sent again after a failed attempt
	listened atomic.Uint64 // records made only for listeners (events not sent)
	drops    [numDropReasons]atomic.Uint64
}

func (n *eventCounts) drop(why dropReason, count int) { n.drops[why].Add(uint64(count)) }

// eventStats is a snapshot of the pipeline's counters, for a Stats API. When events are sent,
// once nothing is in progress, Recorded = Sent + the drops of every reason but BufferFull +
// Queued.
type eventStats struct {
	Recorded uint64                 // events that got a place in the buffer
	Sent     uint64                 // events FeatBit accepted
	Retried  uint64                 // events sent again after a failed attempt
	Dropped  [numDropReasons]uint64 // events dropped, by reason (dropWhy)
	Queued   int                    // events recorded and not yet sent or dropped
	// Unrecorded counts the evaluations that found the buffer full when events are not sent
	// (Offline, DisableEvents), so no EventEvaluation listener was told of them
	// (Stats().Listeners.Unrecorded).
	Unrecorded uint64
}

// stats returns the pipeline's counters.
func (rc *recorder) stats() eventStats {
	s := eventStats{
		Recorded: rc.queue.Head(),
		Sent:     rc.counts.sent.Load(),
		Retried:  rc.counts.retried.Load(),
		Queued:   rc.queue.Used(),
	}
	for i := range s.Dropped {
		s.Dropped[i] = rc.counts.drops[i].Load()
	}
	if rc.send {
		s.Dropped[dropBufferFull] = rc.full.load()
	} else {
		s.Unrecorded = rc.full.load()
	}
	return s
}

// dropCounts returns the drops so far by reason, and their total.
func (rc *recorder) dropCounts() (counts [numDropReasons]uint64, total uint64) {
	if !rc.send {
		return counts, 0 // records made for listeners only are not insight events
	}
	for i := range counts {
		counts[i] = rc.counts.drops[i].Load()
	}
	counts[dropBufferFull] = rc.full.load()
	for _, n := range counts {
		total += n
	}
	return counts, total
}

// dropLogInterval is the least time between two log warnings about dropped events.
const dropLogInterval = 30 * time.Second

// dropReporter turns drop counts into EventEventsDropped events (at most one per flush
// interval, with the counts since the last one) and log warnings (at most one per
// dropLogInterval). The dispatcher owns it.
type dropReporter struct {
	interval time.Duration // least time between two events
	emitted  [numDropReasons]uint64
	lastEmit time.Time
	logged   [numDropReasons]uint64
	lastLog  time.Time
}

// due returns when the drops not yet reported may be reported, or the zero time if there
// are none.
func (p *dropReporter) due(counts *[numDropReasons]uint64) time.Time {
	if *counts == p.emitted {
		return time.Time{}
	}
	return p.lastEmit.Add(p.interval)
}

// reportDrops reports the drops not yet reported, unless the last report is too recent and
// final is false.
func (d *dispatcher) reportDrops(now time.Time, final bool) {
	counts, total := d.rc.dropCounts()
	p := &d.reporter
	if counts != p.emitted && (final || !now.Before(p.lastEmit.Add(p.interval))) {
		n, why := dropsSince(&counts, &p.emitted)
		p.emitted, p.lastEmit = counts, now
		d.rc.listeners.emit(Event{
			Type:    EventEventsDropped,
			Time:    now,
			Message: strconv.FormatUint(n, 10) + " insight events dropped: " + why,
			Dropped: &Dropped{Count: n, Total: total, Why: why},
		})
	}
	if counts != p.logged && (final || p.lastLog.IsZero() || now.Sub(p.lastLog) >= dropLogInterval) {
		n, why := dropsSince(&counts, &p.logged)
		p.logged, p.lastLog = counts, now
		d.log.Warn("fbclient: insight events dropped", "dropped", n, "total", total, "why", why)
	}
}

// dropsSince returns how many events were dropped between two count snapshots, and why:
// one reason, or each reason with its count.
func dropsSince(now, before *[numDropReasons]uint64) (uint64, string) {
	var n uint64
	var reasons []string
	last := 0
	for i := range now {
		if d := now[i] - before[i]; d > 0 {
			n += d
			last = i
			reasons = append(reasons, dropWhy[i]+": "+strconv.FormatUint(d, 10))
		}
	}
	if len(reasons) == 1 {
		return n, dropWhy[last]
	}
	return n, strings.Join(reasons, "; ")
}
