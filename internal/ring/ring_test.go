package ring

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPutGetOrder(t *testing.T) {
	q := New[int](3)
	require.Equal(t, 4, q.Cap())
	for i := 0; i < 4; i++ {
		require.True(t, q.Put(&i))
	}
	five := 5
	assert.False(t, q.Put(&five), "a full queue refuses")
	assert.Equal(t, 4, q.Len())
	for i := 0; i < 4; i++ {
		var v int
		require.True(t, q.Get(&v))
		assert.Equal(t, i, v)
	}
	var v int
	assert.False(t, q.Get(&v), "an empty queue has nothing")
	assert.True(t, q.Put(&five), "freed cells are reused")
	require.True(t, q.Get(&v))
	assert.Equal(t, 5, v)
}

// Many producers, one consumer: every accepted value arrives exactly once, in each
// producer's order, and refusals only happen when the queue is full.
func TestConcurrentProducers(t *testing.T) {
	const producers, perProducer = 8, 20000
	q := New[[2]int](256)
	var wg sync.WaitGroup
	accepted := make([]int, producers)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				v := [2]int{p, i}
				if q.Put(&v) {
					accepted[p]++
				}
			}
		}(p)
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
		for q.Get(&v) {
			require.Greater(t, v[1], last[v[0]], "values of one producer arrive in order")
			last[v[0]] = v[1]
			got[v[0]]++
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
	assert.Equal(t, accepted, got)
}

func BenchmarkPut(b *testing.B) {
	q := New[[8]uint64](1 << 16)
	var v [8]uint64
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !q.Put(&v) {
			var out [8]uint64
			for q.Get(&out) {
			}
		}
	}
}
