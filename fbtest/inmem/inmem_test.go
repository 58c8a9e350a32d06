package inmem_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/fbtest/inmem"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock"))
}

// checkLeaks fails t if a goroutine is left once the test and its cleanups (the clients'
// Close) are done.
func checkLeaks(t *testing.T) {
	opts := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock")}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// changes returns a channel that receives the keys of every EventFlagChanged.
func changes(client *fbclient.Client) <-chan []string {
	ch := make(chan []string, 100)
	client.On(fbclient.EventFlagChanged, func(e fbclient.Event) { ch <- e.FlagKeys })
	return ch
}

func receive(t *testing.T, ch <-chan []string) []string {
	t.Helper()
	select {
	case keys := <-ch:
		return keys
	case <-testCtx(t).Done():
		t.Fatal("no EventFlagChanged")
		return nil
	}
}

func TestFlagsChangeWhileTheClientRuns(t *testing.T) {
	checkLeaks(t)
	td := inmem.NewTestData(
		fbtest.Flag("checkout").Target(0, "alice").Fallthrough(1),
		fbtest.Flag("banner").Strings("blue", "green").Rule("beta", 1, fbtest.InSegment("beta")),
	)
	client := td.NewClient(t)
	changed := changes(client)
	alice, bob := fbclient.NewUser("alice"), fbclient.NewUser("bob")
	if !client.BoolVariation("checkout", alice, false) || client.BoolVariation("checkout", bob, true) {
		t.Fatal("targets not served")
	}
	if got := client.Status(); got.State != fbclient.StateReady {
		t.Fatalf("state %v", got.State)
	}

	// Applied when SetFlags returns.
	td.SetFlags(fbtest.Flag("checkout").Fallthrough(0))
	if !client.BoolVariation("checkout", bob, false) {
		t.Error("bob does not get the new fallthrough")
	}
	if keys := receive(t, changed); !slices.Equal(keys, []string{"checkout"}) {
		t.Errorf("changed %v", keys)
	}

	// A segment change changes the flags that use it.
	td.SetSegments(fbtest.Segment("beta").Included("bob"))
	if got := client.Variation("banner", bob, "none"); got != "green" {
		t.Errorf("banner for bob in beta: %q", got)
	}
	if keys := receive(t, changed); !slices.Equal(keys, []string{"banner"}) {
		t.Errorf("changed %v", keys)
	}

	if !td.ArchiveFlag("banner") || td.ArchiveFlag("nope") {
		t.Error("ArchiveFlag result")
	}
	if d := client.VariationDetail("banner", bob, "none"); d.Reason != fbclient.ReasonFlagArchived || !errors.Is(d.Err, fbclient.ErrFlagNotFound) {
		t.Errorf("archived flag: %v", d.Reason)
	}
	if keys := receive(t, changed); !slices.Equal(keys, []string{"banner"}) {
		t.Errorf("changed %v", keys)
	}
}

// The events the client sends reach the TestData in FeatBit's format, with the user, the
// variation served and its reason, and the metrics.
func TestEventsReadBack(t *testing.T) {
	checkLeaks(t)
	td := inmem.NewTestData(fbtest.Flag("checkout").Target(0, "alice").Fallthrough(1))
	client := td.NewClient(t)
	alice := fbclient.NewUser("alice").WithName("Alice").WithCustom("plan", "pro")
	client.BoolVariation("checkout", alice, false)
	if err := client.TrackMetric(alice, "revenue", 12.5); err != nil {
		t.Fatal(err)
	}
	if err := client.FlushAndWait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	var served []fbtest.ServedVariation
	var metrics []fbtest.Metric
	for _, e := range td.Events() {
		if e.User.KeyID != "alice" || e.User.Name != "Alice" ||
			!slices.Equal(e.User.CustomizedProperties, []fbtest.CustomProperty{{Name: "plan", Value: "pro"}}) {
			t.Errorf("user %+v", e.User)
		}
		for _, v := range e.Variations {
			served = append(served, v.Variation)
		}
		metrics = append(metrics, e.Metrics...)
	}
	want := fbtest.ServedVariation{ID: fbtest.VariationID("checkout", 0), Value: "true", Reason: "target match"}
	if len(served) != 1 || served[0] != want {
		t.Errorf("served %+v, want [%+v]", served, want)
	}
	if len(metrics) != 1 || metrics[0].EventName != "revenue" || metrics[0].NumericValue != 12.5 {
		t.Errorf("metrics %+v", metrics)
	}
}

// Several clients share a TestData; a change reaches each one, and a closed client is
// forgotten.
func TestSharedTestData(t *testing.T) {
	checkLeaks(t)
	td := inmem.NewTestData(fbtest.Flag("f").Fallthrough(1))
	var ready []fbclient.EventType
	a := td.NewClient(t, fbclient.Config{DisableEvents: true, Listeners: []fbclient.Listener{{
		Events: []fbclient.EventType{fbclient.EventNetworkFetchFull},
		Func:   func(e fbclient.Event) { ready = append(ready, e.Type) },
	}}})
	b := td.NewClient(t)
	td.SetFlags(fbtest.Flag("f").Fallthrough(0))
	user := fbclient.NewUser("u")
	if !a.BoolVariation("f", user, false) || !b.BoolVariation("f", user, false) {
		t.Error("a client missed the change")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	td.SetFlags(fbtest.Flag("f").Fallthrough(1))
	if b.BoolVariation("f", user, true) {
		t.Error("b missed the change after a closed")
	}
	if a.BoolVariation("f", user, false) != true {
		t.Error("a closed client changed")
	}
	// Listeners given in the Config are kept: a saw its first data set (Close let the
	// listener finish).
	if !slices.Equal(ready, []fbclient.EventType{fbclient.EventNetworkFetchFull}) {
		t.Errorf("a's listener saw %v", ready)
	}
	if err := b.FlushAndWait(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(td.Events()); n != 2 {
		t.Errorf("%d events, want b's 2 (a sends none)", n)
	}
}

// The data file of a TestData gives an offline client the same flags.
func TestDataFileForOfflineTests(t *testing.T) {
	checkLeaks(t)
	td := inmem.NewTestData(
		fbtest.Flag("a").Target(0, "alice").Fallthrough(1),
		fbtest.Flag("b").Numbers(1, 2, 3).Rule("pro", 2, fbtest.Cond("plan", "Equal", "pro")).Rollout(1, 1),
	)
	td.SetSegments(fbtest.Segment("s").Included("bob"))
	live := td.NewClient(t, fbclient.Config{DisableEvents: true})
	offline, err := fbclient.New(fbclient.Config{Offline: true, Data: td.DataFile()})
	if err != nil {
		t.Fatal(err)
	}
	defer offline.Close()
	for _, u := range []fbclient.User{fbclient.NewUser("alice"), fbclient.NewUser("bob").WithCustom("plan", "pro"), fbclient.NewUser("carol")} {
		got, want := offline.AllVariations(u), live.AllVariations(u)
		if got.Len() != 2 || !equalJSON(t, got, want) {
			t.Errorf("%s: offline %v, live %v", u.Key(), got, want)
		}
	}
}
