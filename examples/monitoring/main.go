// Command monitoring shows everything a fbclient.Client reports to listeners: it prints one
// line per event (readiness, sync requests, flag changes, evaluations, dropped insight events
// and the SDK's own log records) and counts evaluations per flag and variation, printed as a
// table on exit. The monitor type is the part to copy into a service.
//
// By default it starts a fake FeatBit server, produces some events (evaluations, a flag
// change, a dropped connection, a metric) and exits:
//
//	go run ./examples/monitoring
//
// With FEATBIT_ENV_SECRET and FEATBIT_STREAMING_URL (and FEATBIT_EVENTS_URL if events go
// elsewhere) it watches a real environment until interrupted, evaluating every flag for one
// user at start and after each change:
//
//	FEATBIT_ENV_SECRET=... FEATBIT_STREAMING_URL=wss://featbit.example.com go run ./examples/monitoring
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "monitoring:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, out io.Writer) error {
	cfg := fbclient.Config{
		EnvSecret:    getenv("FEATBIT_ENV_SECRET"),
		StreamingURL: getenv("FEATBIT_STREAMING_URL"),
		EventsURL:    getenv("FEATBIT_EVENTS_URL"),
		StartWait:    -1, // WaitForInitialization below waits, with its own timeout
	}
	var fake *fbtest.Server
	if cfg.EnvSecret == "" {
		fake = fbtest.NewServer()
		defer fake.Close()
		fake.SetFlags(
			fbtest.Flag("new-checkout").Boolean().Rollout(50, 50),
			fbtest.Flag("banner").Strings("spring sale", "summer sale"),
			fbtest.Flag("max-items").Numbers(10, 50).Rule("pro users", 1, fbtest.Cond("plan", "Equal", "pro")),
		)
		cfg.EnvSecret, cfg.StreamingURL, cfg.EventsURL = fake.Secret(), fake.StreamingURL(), fake.EventsURL()
		fmt.Fprintln(out, "FEATBIT_ENV_SECRET is not set: using a fake FeatBit server")
	}

	// Listeners given in the Config are registered before the client starts, so they see
	// the first connection attempt too; client.On registers them later.
	m := newMonitor(out)
	cfg.Listeners = m.listeners()
	client, err := fbclient.New(cfg)
	if err != nil {
		return err
	}
	initCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = client.WaitForInitialization(initCtx)
	cancel()
	if err == nil {
		if fake != nil {
			err = demo(ctx, client, fake)
		} else {
			err = watch(ctx, client, fbclient.NewUser("monitoring"))
		}
	}
	// Close sends the remaining insight events and delivers what is still queued for the
	// listeners, so the table below is complete.
	client.Close()
	m.printTable()
	return err
}

// monitor prints every event of a client and counts its evaluations.
type monitor struct {
	mu     sync.Mutex // serializes output and guards counts
	out    io.Writer
	counts map[[2]string]int // [flag key, served value] -> evaluations
	missed uint64            // evaluations the counting listener missed (its queue was full)
}

func newMonitor(out io.Writer) *monitor {
	return &monitor{out: out, counts: map[[2]string]int{}}
}

// listeners are the monitor's listeners, for Config.Listeners. (On a running client, the
// same is client.OnEvents(fbclient.EventTypes(), m.print) and client.On(fbclient.EventEvaluation,
// m.count), which return functions that unregister them.)
func (m *monitor) listeners() []fbclient.Listener {
	return []fbclient.Listener{
		// One listener for all types receives them in the order the SDK emits them, so the
		// printed lines tell a coherent story (evaluations are emitted by the client's event
		// goroutine up to FlushInterval/10, at most 100 ms, after they happen). Listeners run
		// on their own goroutines: a slow writer here never slows down an evaluation.
		{Events: fbclient.EventTypes(), Func: m.print},
		// Counting is a separate concern, so it gets its own listener for the one type it
		// needs.
		{Events: []fbclient.EventType{fbclient.EventEvaluation}, Func: m.count},
	}
}

func (m *monitor) print(e fbclient.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(m.out, "%s  %-20s %s%s\n", e.Time.Format("15:04:05.000"), e.Type, e.Message, details(e))
}

// details formats the payload that goes with the event's type.
func details(e fbclient.Event) string {
	var b strings.Builder
	switch {
	case e.Evaluation != nil: // the message has the flag key and the reason
		ev := e.Evaluation
		fmt.Fprintf(&b, " user=%s value=%q experiment=%v", ev.User.Key(), ev.Value, ev.InExperiment)
	case e.FlagKeys != nil:
		fmt.Fprintf(&b, " flags=%v", e.FlagKeys)
	case e.Fetch != nil:
		f := e.Fetch
		fmt.Fprintf(&b, " mode=%s from=%d", f.Mode, f.Timestamp)
		if e.Type == fbclient.EventNetworkFetchFull || e.Type == fbclient.EventNetworkFetchCached {
			fmt.Fprintf(&b, " flags=%d segments=%d version=%d", f.Flags, f.Segments, f.Version)
		}
	case e.Dropped != nil:
		fmt.Fprintf(&b, " count=%d total=%d why=%q", e.Dropped.Count, e.Dropped.Total, e.Dropped.Why)
	case e.Missed != nil:
		fmt.Fprintf(&b, " count=%d total=%d", e.Missed.Count, e.Missed.Total)
	case e.Log != nil:
		for _, a := range e.Log.Attrs {
			fmt.Fprintf(&b, " %s", a)
		}
	}
	// A fetch error's message is the error; a log record's error is among its attributes.
	if e.Err != nil && e.Log == nil && e.Err.Error() != e.Message {
		fmt.Fprintf(&b, " error=%q", e.Err)
	}
	return b.String()
}

func (m *monitor) count(e fbclient.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Type == fbclient.EventMissed { // every listener may get it, whatever its types
		m.missed += e.Missed.Count
		return
	}
	m.counts[[2]string{e.Evaluation.FlagKey, e.Evaluation.Value}]++
}

func (m *monitor) printTable() {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([][2]string, 0, len(m.counts))
	for k := range m.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	fmt.Fprintln(m.out)
	w := tabwriter.NewWriter(m.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "FLAG\tVARIATION\tEVALUATIONS")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%d\n", k[0], k[1], m.counts[k])
	}
	if m.missed > 0 {
		fmt.Fprintf(w, "(missed)\t\t%d\n", m.missed)
	}
	w.Flush()
}

// demo produces events on the fake server: traffic, a change made in FeatBit, a network
// failure the client recovers from, and a custom metric.
func demo(ctx context.Context, client *fbclient.Client, srv *fbtest.Server) error {
	users := []fbclient.User{
		fbclient.NewUser("ann").WithCustom("plan", "pro"),
		fbclient.NewUser("bob"),
		fbclient.NewUser("cat").WithCustom("plan", "pro"),
		fbclient.NewUser("dan"),
	}
	traffic := func() {
		for _, u := range users {
			client.BoolVariation("new-checkout", u, false)
			client.Variation("banner", u, "")
			client.IntVariation("max-items", u, 10)
		}
	}
	traffic()

	changed := next(client, fbclient.EventFlagChanged)
	srv.SetFlags(fbtest.Flag("banner").Strings("spring sale", "summer sale").Fallthrough(1))
	if err := changed(ctx); err != nil {
		return err
	}
	traffic()

	// The client notices the lost connection, reconnects and asks only for what changed.
	caughtUp := next(client, fbclient.EventNetworkFetchCached)
	srv.DropConnections()
	if err := caughtUp(ctx); err != nil {
		return err
	}

	if err := client.Track(users[0], "checkout-completed"); err != nil {
		return err
	}
	return client.FlushAndWait(ctx)
}

// next returns a function that waits for the client's next event of type t.
func next(client *fbclient.Client, t fbclient.EventType) func(context.Context) error {
	got := make(chan struct{}, 1)
	off := client.On(t, func(fbclient.Event) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	return func(ctx context.Context) error {
		defer off()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		select {
		case <-got:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", t, ctx.Err())
		}
	}
}

// watch evaluates every flag for user now and after each change, until ctx ends. In a
// service, the evaluations would come from its own traffic.
func watch(ctx context.Context, client *fbclient.Client, user fbclient.User) error {
	changed := make(chan struct{}, 1)
	off := client.On(fbclient.EventFlagChanged, func(fbclient.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer off()
	for {
		for key := range client.AllVariations(user).All() {
			client.Variation(key, user, "")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
