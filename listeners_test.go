package fbclient

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
)

// logLines decodes the JSON log lines whose message is msg.
func logLines(t *testing.T, text, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// evalIndex is the "i" attribute of an evaluation event's user, -1 for other events.
func evalIndex(e Event) int {
	if e.Evaluation == nil {
		return -1
	}
	v, _ := e.Evaluation.User.Custom("i")
	i, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return i
}

// A burst of evaluations overflows a small listener queue while the listener is blocked:
// the listener gets everything that fitted, in order, and in the place of each run of missed
// events one EventMissed notice with the exact count; the log names it.
func TestListenerToldWhatItMissed(t *testing.T) {
	checkLeaks(t)
	var logBuf syncBuffer
	entered := make(chan struct{}, 100)
	gate := make(chan struct{})
	slow := newCollector()
	c, err := newClient(Config{Offline: true, DataFile: fixture,
		Logger: slog.New(slog.NewJSONHandler(&logBuf, nil)),
		Listeners: []Listener{{Events: []EventType{EventEvaluation}, Name: "slow counter", QueueSize: 10, Func: func(e Event) {
			slow.add(e)
			if e.Type == EventEvaluation {
				entered <- struct{}{}
				<-gate
			}
		}}}}, nil, quickEvents)
	require.NoError(t, err)
	defer c.Close()
	var opened sync.Once
	defer opened.Do(func() { close(gate) }) // if the test fails early
	// The witness is registered after the slow listener, so each event is offered to the
	// slow listener before the witness can receive it.
	witness := newCollector()
	c.On(EventEvaluation, witness.add, ListenerQueueSize(1000))

	u := NewUser("u")
	eval := func(from, to int) {
		for i := from; i <= to; i++ {
			require.NotEmpty(t, c.Variation("ff-test-number", u.WithCustom("i", strconv.Itoa(i)), ""))
		}
		witness.wait(t, to+1)
	}
	eval(0, 0)
	<-entered // busy with 0
	eval(1, 100)
	gate <- struct{}{} // 0 done: 1 starts, and one place is free in the queue
	<-entered
	eval(101, 101)
	eval(102, 103) // the queue is full again
	opened.Do(func() { close(gate) })

	evs := slow.wait(t, 14)
	var got []string
	for _, e := range evs {
		if e.Type == EventMissed {
			got = append(got, fmt.Sprintf("missed %d of %d", e.Missed.Count, e.Missed.Total))
		} else {
			got = append(got, strconv.Itoa(evalIndex(e)))
		}
	}
	assert.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "missed 90 of 90", "101", "missed 2 of 92"}, got)
	assert.Equal(t, EventMissed.String(), "missed")

	missed, each := c.listeners.stats()
	assert.Equal(t, uint64(92), missed)
	assert.Equal(t, []listenerStat{{name: "slow counter", missed: 92}, {name: "listener 2"}}, each)

	require.NoError(t, c.Close())
	// The first miss is logged at once, the second (within the rate limit) when the listener
	// stops; together they account for every miss.
	lines := logLines(t, logBuf.String(), "fbclient: a listener missed events: its queue was full")
	require.Len(t, lines, 2)
	for i, want := range []struct{ missed, total float64 }{{90, 90}, {2, 92}} {
		assert.Equal(t, "slow counter", lines[i]["listener"])
		assert.Equal(t, want.missed, lines[i]["missed"])
		assert.Equal(t, want.total, lines[i]["total"])
		assert.Equal(t, float64(10), lines[i]["queueSize"])
	}
}

// A listener panicking on every one of 4,000 events is logged with the stack at once, then
// at most once per interval with a count, and the rest when it stops; other listeners get
// everything.
func TestListenerPanicsRateLimited(t *testing.T) {
	checkLeaks(t)
	var logBuf syncBuffer
	c, err := newClient(Config{Offline: true, DataFile: fixture, Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))}, nil, quickEvents)
	require.NoError(t, err)
	defer c.Close()
	var now atomic.Int64 // nanoseconds since an arbitrary start
	c.listeners.now = func() time.Time { return time.Unix(0, now.Load()) }

	const n = 4000
	calls := 0 // owned by the listener's goroutine
	c.On(EventEvaluation, func(e Event) {
		calls++
		if calls == n/2 {
			now.Add(int64(listenerLogInterval)) // the interval has passed by this panic
		}
		panicker(calls)
	}, ListenerName("buggy"), ListenerQueueSize(n))
	healthy := newCollector()
	c.On(EventEvaluation, healthy.add, ListenerQueueSize(n))

	u := NewUser("u")
	for i := 0; i < n; i++ {
		c.Variation("ff-test-number", u, "")
	}
	healthy.wait(t, n)
	require.NoError(t, c.Close()) // the buggy listener has run n times when Close returns

	lines := logLines(t, logBuf.String(), "fbclient: a listener panicked")
	require.Len(t, lines, 3)
	var total float64
	for _, l := range lines {
		assert.Equal(t, "buggy", l["listener"])
		total += l["panics"].(float64)
	}
	assert.Equal(t, float64(n), total, "every panic is counted in the log")
	assert.Equal(t, []any{1.0, float64(n/2 - 1), float64(n / 2)}, []any{lines[0]["panics"], lines[1]["panics"], lines[2]["panics"]})
	assert.Equal(t, "listener bug 1", lines[0]["panic"])
	assert.Equal(t, fmt.Sprint("listener bug ", n/2), lines[1]["panic"])
	assert.Equal(t, fmt.Sprint("listener bug ", n), lines[2]["panic"])
	for _, l := range lines[:2] {
		assert.Contains(t, l["stack"], "fbclient.panicker", "the stack shows where it panicked")
	}
	assert.Nil(t, lines[2]["stack"], "the summary at the end has no stack")
}

// panicker is a named function, so the stack in the log can be checked for it.
func panicker(i int) { panic(errors.New("listener bug " + strconv.Itoa(i))) }

// A listener removed with off, or registered for no usable type, receives nothing; the
// default names count registrations.
func TestListenerOptionsAndOff(t *testing.T) {
	c := newOffline(t, fixture)
	off := c.On(EventMissed, func(Event) { t.Error("called") }) // nothing to listen to
	off()
	a := newCollector()
	offA := c.OnEvents([]EventType{EventEvaluation, EventEvaluation, EventMissed}, a.add, nil, ListenerQueueSize(-1))
	c.On(EventEvaluation, func(Event) {}, ListenerName("named"))
	_, each := c.listeners.stats()
	assert.Equal(t, []listenerStat{{name: "listener 1"}, {name: "named"}}, each)

	c.Variation("ff-test-number", NewUser("u"), "")
	a.wait(t, 1)
	offA()
	_, each = c.listeners.stats()
	assert.Equal(t, []listenerStat{{name: "named"}}, each)
	assert.Equal(t, defaultListenerQueue, c.listeners.byType[EventEvaluation][0].size)
}

func TestListenerConfigValidation(t *testing.T) {
	_, err := New(Config{Offline: true, Listeners: []Listener{{Events: []EventType{EventClientReady}, Func: func(Event) {}, QueueSize: -1}}})
	assert.ErrorIs(t, err, ErrInvalidConfig)
	assert.ErrorContains(t, err, "Listeners[0] has a negative QueueSize")
}

// valueChanges collects what a value-change listener is told.
type valueChanges struct{ *collector }

func (v valueChanges) add(ch ValueChange) {
	v.collector.add(Event{Message: ch.FlagKey + ": " + ch.Old + " -> " + ch.New + " for " + ch.User.Key()})
}

func (v valueChanges) wait(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for _, e := range v.collector.wait(t, n) {
		out = append(out, e.Message)
	}
	return out
}

// The value-change listener fires once for each change of what its user gets, through the
// flag itself or a segment, and not for changes that leave that value as it was. It
// records no insight event.
func TestValueChangeListener(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	color := func() *fbtest.FlagBuilder {
		return fbtest.Flag("color").Strings("red", "blue", "green").Rule("beta", 2, fbtest.InSegment("beta"))
	}
	srv.SetFlags(color())
	srv.SetSegments(fbtest.Segment("beta").Included("someone-else"))
	c, _ := start(t, srv, opts{cfg: func(cfg *Config) { cfg.DisableEvents = false }})
	u := NewUser("u")
	require.Equal(t, "red", c.AllVariations(u).Value("color", "none"))

	vc := valueChanges{newCollector()}
	c.OnValueChange("color", u, "none", vc.add)
	c.OnValueChange("color", NewUser(""), "none", func(ValueChange) { t.Error("an invalid user gets the default throughout") })

	srv.SetFlags(color().Fallthrough(1)) // red -> blue
	assert.Equal(t, []string{"color: red -> blue for u"}, vc.wait(t, 1))

	srv.SetFlags(color().Fallthrough(1).Target(0, "someone-else")) // not for u
	srv.SetFlags(fbtest.Flag("other").Strings("x"))                // another flag
	srv.SetSegments(fbtest.Segment("beta").Included("u"))          // blue -> green
	assert.Equal(t, []string{"color: red -> blue for u", "color: blue -> green for u"}, vc.wait(t, 2))

	srv.SetSegments(fbtest.Segment("beta").Included("u", "v")) // still green
	srv.ArchiveFlag("color")                                   // green -> the default
	got := vc.wait(t, 3)
	assert.Equal(t, []string{"color: red -> blue for u", "color: blue -> green for u", "color: green -> none for u"}, got)

	require.NoError(t, c.FlushAndWait(testCtx(t)))
	assert.Empty(t, srv.Events(), "a value-change listener records no evaluation")
}

// A value-change listener registered before the client is ready is told the first value.
func TestValueChangeListenerBeforeReady(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("f").Boolean().Fallthrough(0))
	srv.HoldDataSync()
	c, _ := start(t, srv, opts{startWait: -1})
	vc := valueChanges{newCollector()}
	off := c.OnValueChange("f", NewUser("u"), "false", vc.add, ListenerName("f for u"))
	srv.ReleaseDataSync()
	assert.Equal(t, []string{"f: false -> true for u"}, vc.wait(t, 1))
	_, each := c.listeners.stats()
	assert.Contains(t, each, listenerStat{name: "f for u"})
	off()
}
