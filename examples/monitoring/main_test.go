package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/featflags/fbclient/fbtest"
)

const waitTimeout = 10 * time.Second

func checkLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock")}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

func noEnv(string) string { return "" }

func TestDemo(t *testing.T) {
	checkLeaks(t)
	var out bytes.Buffer
	if err := run(context.Background(), noEnv, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	got := out.String()
	for _, want := range []string{
		// The listeners come with the Config, so they see the first sync too.
		"network fetch       ",
		"network fetch full",
		"client ready",
		"flag changed         1 flags changed flags=[banner]",
		"evaluation           banner: fall through all rules user=ann value=\"summer sale\"",
		"network fetch error",
		"log warning",
		"network fetch cached",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	// Four users, each evaluated before and after the change of banner.
	for _, row := range []string{
		`banner +spring sale +4`, `banner +summer sale +4`,
		`max-items +10 +4`, `max-items +50 +4`,
	} {
		if !regexp.MustCompile(`(?m)^` + row + `$`).MatchString(got) {
			t.Errorf("no row %q in the table:\n%s", row, got)
		}
	}
}

// output is a writer a test can wait on.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed and replaced by every Write
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	close(o.written)
	o.written = make(chan struct{})
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output contains s.
func (o *output) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		o.mu.Lock()
		found, written := strings.Contains(o.buf.String(), s), o.written
		o.mu.Unlock()
		if found {
			return
		}
		select {
		case <-written:
		case <-deadline:
			t.Fatalf("no %q in the output:\n%s", s, o)
		}
	}
}

func TestWatchFeatBit(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("banner").Strings("spring sale", "summer sale"))
	env := map[string]string{"FEATBIT_ENV_SECRET": srv.Secret(), "FEATBIT_STREAMING_URL": srv.StreamingURL()}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &output{written: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, out) }()

	// Every flag is evaluated at start, and again when it changes.
	out.waitFor(t, `user=monitoring value="spring sale"`)
	srv.SetFlags(fbtest.Flag("banner").Strings("spring sale", "summer sale").Fallthrough(1))
	out.waitFor(t, `user=monitoring value="summer sale"`)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("run did not return after its context ended")
	}
	got := out.String()
	if strings.Contains(got, srv.Secret()) {
		t.Error("the output shows the env secret")
	}
	for _, row := range []string{`banner +spring sale +1`, `banner +summer sale +1`} {
		if !regexp.MustCompile(`(?m)^` + row + `$`).MatchString(got) {
			t.Errorf("no row %q in the table:\n%s", row, got)
		}
	}
}
