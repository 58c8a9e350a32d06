package mpsc

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCapacityCountsHeldValues(t *testing.T) {
	for _, capacity := range []int{1, 3, 4, 5, 100} {
		q := New[int](capacity)
		require.Equal(t, capacity, q.Cap())
		for i := range capacity {
			_, ok := q.Put(&i)
			require.True(t, ok, "put %d of %d", i, capacity)
		}
		x := -1
		put := func() bool { _, ok := q.Put(&x); return ok }
		assert.False(t, put(), "full at the capacity, not at the power of two")
		assert.Equal(t, capacity, q.Len())
		assert.Equal(t, capacity, q.Used())

		var v int
		require.True(t, q.Take(&v))
		assert.Equal(t, 0, v)
		assert.Equal(t, 1, q.Held())
		assert.False(t, put(), "a taken value holds its slot")
		q.Release(1)
		assert.Zero(t, q.Held())
		assert.True(t, put(), "released slots are reused")
		assert.False(t, put())

		for i := 1; i < capacity; i++ {
			require.True(t, q.Take(&v))
			assert.Equal(t, i, v, "in order")
		}
		require.True(t, q.Take(&v))
		assert.Equal(t, -1, v)
		assert.False(t, q.Take(&v), "empty")
		assert.Equal(t, capacity, q.Held())
		q.Release(capacity + 10) // more than held: releases what is held
		assert.Zero(t, q.Held())
		assert.Zero(t, q.Used())
		for i := range capacity {
			pos, ok := q.Put(&i)
			require.True(t, ok)
			assert.Equal(t, uint64(capacity+1+i), pos, "positions go on")
		}
		assert.False(t, put())
	}
}

func TestTakeClearsTheSlot(t *testing.T) {
	q := New[*int](2)
	x := 1
	p := &x
	_, ok := q.Put(&p)
	require.True(t, ok)
	var got *int
	require.True(t, q.Take(&got))
	assert.Same(t, p, got)
	assert.Nil(t, q.cells[0].val, "no reference kept while the slot is held")
}

// Many producers, one consumer that releases slots late: every accepted value arrives
// exactly once, in each producer's order, and queued plus held values never exceed the
// capacity.
func TestConcurrentProducersDelayedRelease(t *testing.T) {
	const producers, perProducer, capacity = 8, 20000, 100
	q := New[[2]int](capacity)
	var wg sync.WaitGroup
	accepted := make([]int, producers)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				v := [2]int{p, i}
				if _, ok := q.Put(&v); ok {
					accepted[p]++
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	last := make([]int, producers)
	for i := range last {
		last[i] = -1
	}
	got := make([]int, producers)
	drain := func() {
		var v [2]int
		for q.Take(&v) {
			require.Greater(t, v[1], last[v[0]], "values of one producer arrive in order")
			last[v[0]] = v[1]
			got[v[0]]++
			require.LessOrEqual(t, q.Held()+q.Len(), capacity+producers) // Len may count claims in progress
			if q.Held() >= capacity/2 {
				q.Release(q.Held() - 7) // keep a few held, as a consumer with a batch in flight does
			}
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		drain()
	}
	drain()
	q.Release(q.Held())
	assert.Equal(t, accepted, got)
	assert.Zero(t, q.Used())
}

func BenchmarkPut(b *testing.B) {
	q := New[[8]uint64](1 << 16)
	var v [8]uint64
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := q.Put(&v); !ok {
			var out [8]uint64
			for q.Take(&out) {
			}
			q.Release(q.Held())
		}
	}
}

// Slots may be released by other goroutines than the consumer, as values are finished.
func TestReleaseFromOtherGoroutines(t *testing.T) {
	const total, capacity = 50000, 64
	q := New[int](capacity)
	finished := make(chan int, capacity)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range finished {
				q.Release(n)
			}
		}()
	}
	put, got := 0, 0
	for got < total {
		if put < total {
			if _, ok := q.Put(&put); ok {
				put++
			}
		}
		var v int
		if q.Take(&v) {
			require.Equal(t, got, v)
			got++
			finished <- 1
		}
		require.LessOrEqual(t, q.Used(), capacity)
	}
	close(finished)
	wg.Wait()
	assert.Zero(t, q.Held())
	assert.Zero(t, q.Used())
}

// A claimed slot is filled in place; the consumer waits for it, and what follows it, until
// it is committed.
func TestClaimCommit(t *testing.T) {
	q := New[int](4)
	a, posA, ok := q.Claim()
	require.True(t, ok)
	assert.Zero(t, *a)
	b := 2
	posB, ok := q.Put(&b)
	require.True(t, ok)
	assert.Equal(t, posA+1, posB)
	var v int
	assert.False(t, q.Take(&v), "the oldest value is not committed yet")
	*a = 1
	q.Commit(posA)
	require.True(t, q.Take(&v))
	assert.Equal(t, 1, v)
	require.True(t, q.Take(&v))
	assert.Equal(t, 2, v)
}
