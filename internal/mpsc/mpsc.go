// Package mpsc is a bounded, lock-free queue for many producers and one consumer in which
// the consumer decides when a slot can be used again. Take moves the oldest value out, but
// its slot stays held until Release: the capacity bounds the values queued plus the values
// the consumer has taken and not yet released. Put never blocks and never allocates; when
// that total reaches the capacity it reports failure and the caller decides what to do.
// Release may be called from any goroutine, so whoever finishes with a value can free its
// slot.
package mpsc

import (
	"sync"
	"sync/atomic"
)

// pad keeps the producer and consumer positions on separate cache lines.
type pad [64]byte

// Queue is a bounded multi-producer, single-consumer queue of T. The zero value is not
// usable; create one with New.
//
// Values get consecutive positions in the order producers claim them. The slot of position
// p is reused by position p+n (n slots, a power of two); a slot says whose turn it is with a
// sequence number: p when a producer may fill it for position p, p+1 once the value of p is
// there. Take leaves it at p+1, so no producer can claim p+n until Release sets it to p+n.
// The n-capacity slots beyond the capacity start out held and are never released, so at
// most capacity slots are ever free or queued.
type Queue[T any] struct {
	_     pad
	head  atomic.Uint64 // next position to claim
	_     pad
	tail  atomic.Uint64 // next position to take; written by the consumer only
	_     pad
	mu    sync.Mutex    // serializes Release
	freed atomic.Uint64 // next position whose slot Release frees; written under mu
	mask  uint64
	extra uint64 // slots beyond the capacity
	cells []cell[T]
}

type cell[T any] struct {
	seq atomic.Uint64
	val T
}

// New returns a queue that holds at most capacity values, queued or taken and not released.
// capacity must be positive.
func New[T any](capacity int) *Queue[T] {
	if capacity <= 0 {
		panic("mpsc: capacity must be positive")
	}
	n := 2 // a single slot could not tell "value of p" (p+1) from "free for p+n"
	for n < capacity {
		n <<= 1
	}
	q := &Queue[T]{mask: uint64(n - 1), extra: uint64(n - capacity), cells: make([]cell[T], n)}
	for i := range q.cells {
		if i < capacity {
			q.cells[i].seq.Store(uint64(i)) // free for position i
		} else {
			q.cells[i].seq.Store(uint64(i) - uint64(n)) // held: freed for position i later
		}
	}
	q.freed.Store(-q.extra) // the extra slots are the oldest held ones, forever
	return q
}

// Cap returns the capacity.
func (q *Queue[T]) Cap() int { return len(q.cells) - int(q.extra) }

// Put copies *v into the queue and returns its position. It returns false, without waiting,
// if the queue is full. Safe for concurrent use by many goroutines.
func (q *Queue[T]) Put(v *T) (uint64, bool) {
	p, pos, ok := q.Claim()
	if ok {
		*p = *v
		q.Commit(pos)
	}
	return pos, ok
}

// Claim reserves the next slot and returns a pointer to its value, which is the zero value,
// for the caller to fill in place, and its position; Commit(pos) then publishes it. The
// consumer waits for a claimed slot, so the caller must commit at once. Claim returns false,
// without waiting, if the queue is full. Safe for concurrent use by many goroutines.
func (q *Queue[T]) Claim() (*T, uint64, bool) {
	pos := q.head.Load()
	for {
		c := &q.cells[pos&q.mask]
		seq := c.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if q.head.CompareAndSwap(pos, pos+1) {
				return &c.val, pos, true
			}
			pos = q.head.Load()
		case d < 0:
			return nil, 0, false // the slot is queued or held: full
		default:
			pos = q.head.Load() // another producer took pos
		}
	}
}

// Commit publishes the value claimed at pos.
func (q *Queue[T]) Commit(pos uint64) { q.cells[pos&q.mask].seq.Store(pos + 1) }

// Take moves the oldest value into *v and clears it from its slot, which stays held until
// Release. It returns false if the queue is empty, or if the oldest value is still being
// written. Only the consumer may call Take.
func (q *Queue[T]) Take(v *T) bool {
	pos := q.tail.Load()
	c := &q.cells[pos&q.mask]
	if c.seq.Load() != pos+1 {
		return false
	}
	*v = c.val
	var zero T
	c.val = zero // drop references so the values can be collected
	q.tail.Store(pos + 1)
	return true
}

// Release frees the slots of n taken values (at most Held of them) for new values. Slots
// are not tied to values once taken, so the n oldest are freed. Safe for concurrent use.
func (q *Queue[T]) Release(n int) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, q.Held())
	p := q.freed.Load()
	// Count the slots freed before freeing them, so that Used never counts a value put in
	// a slot as well as the slot.
	q.freed.Store(p + uint64(n))
	for range n { // positions wrap around: count, do not compare
		q.cells[p&q.mask].seq.Store(p + q.mask + 1)
		p++
	}
}

// Held returns the number of values taken and not released.
func (q *Queue[T]) Held() int { return int(q.tail.Load() - q.extra - q.freed.Load()) }

// Len returns an estimate of the number of values queued (put and not taken).
func (q *Queue[T]) Len() int {
	n := int64(q.head.Load() - q.tail.Load())
	if n < 0 {
		return 0
	}
	return int(n)
}

// Used returns an estimate of the number of values queued or held, at most Cap.
func (q *Queue[T]) Used() int {
	n := int64(q.head.Load() - q.extra - q.freed.Load())
	if n < 0 {
		return 0
	}
	return int(n)
}

// Head returns the position the next value will get: every value put before the call has a
// smaller position.
func (q *Queue[T]) Head() uint64 { return q.head.Load() }

// Taken returns the position of the next value to take: every value with a smaller position
// has been taken. Only the consumer may call it.
func (q *Queue[T]) Taken() uint64 { return q.tail.Load() }
