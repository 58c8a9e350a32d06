// Package ring is a bounded, lock-free queue for many producers and one consumer. Put never
// blocks and never allocates: when the queue is full it reports failure and the caller
// decides what to do.
package ring

import "sync/atomic"

// pad keeps the producer and consumer positions on separate cache lines.
type pad [64]byte

// Queue is a bounded multi-producer, single-consumer queue of T. The zero value is not
// usable; create one with New.
type Queue[T any] struct {
	_     pad
	head  atomic.Uint64 // next position to put
	_     pad
	tail  atomic.Uint64 // next position to get; written by the consumer only
	_     pad
	mask  uint64
	cells []cell[T]
}

// cell holds one value and its sequence number, which says whose turn the cell is: equal to
// the position when a producer may write it, position+1 when the consumer may read it.
type cell[T any] struct {
	seq atomic.Uint64
	val T
}

// New returns a queue that holds at least capacity values (rounded up to a power of two).
func New[T any](capacity int) *Queue[T] {
	n := 1
	for n < capacity {
		n <<= 1
	}
	q := &Queue[T]{mask: uint64(n - 1), cells: make([]cell[T], n)}
	for i := range q.cells {
		q.cells[i].seq.Store(uint64(i))
	}
	return q
}

// Cap returns the number of values the queue holds when full.
func (q *Queue[T]) Cap() int { return len(q.cells) }

// Put copies *v into the queue. It returns false, without waiting, if the queue is full.
// Safe for concurrent use by many goroutines.
func (q *Queue[T]) Put(v *T) bool {
	pos := q.head.Load()
	for {
		c := &q.cells[pos&q.mask]
		seq := c.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if q.head.CompareAndSwap(pos, pos+1) {
				c.val = *v
				c.seq.Store(pos + 1)
				return true
			}
			pos = q.head.Load()
		case d < 0:
			return false // the consumer has not freed this cell yet: full
		default:
			pos = q.head.Load() // another producer took pos
		}
	}
}

// Get moves the oldest value into *v and clears its cell. It returns false if the queue is
// empty (or the oldest value is still being written). Only one goroutine may call Get.
func (q *Queue[T]) Get(v *T) bool {
	pos := q.tail.Load()
	c := &q.cells[pos&q.mask]
	if c.seq.Load() != pos+1 {
		return false
	}
	*v = c.val
	var zero T
	c.val = zero // drop references so the values can be collected
	q.tail.Store(pos + 1)
	c.seq.Store(pos + q.mask + 1)
	return true
}

// Len returns an estimate of the number of values in the queue.
func (q *Queue[T]) Len() int {
	n := int64(q.head.Load() - q.tail.Load())
	if n < 0 {
		return 0
	}
	return int(n)
}
