package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// syncBuffer is the service's stdout, written by its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve runs the service with args until the test has made its request, and returns what it
// printed.
func serve(t *testing.T, args ...string) (body, out string) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock")}
	defer goleak.VerifyNone(t, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout syncBuffer
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append(args, "-fake", "-addr", "127.0.0.1:0"), func(string) string { return "" }, &stdout,
			func(addr string) { addrs <- addr })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, stdout.String())
	case <-time.After(10 * time.Second):
		t.Fatal("the service did not start")
	}
	hc := &http.Client{Transport: &http.Transport{}}
	req, err := http.NewRequest("GET", "http://"+addr+"/checkout", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-User-Id", "alice")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	hc.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	return string(b), stdout.String()
}

// With -otel, the request's span carries the evaluation, and the metrics printed at
// shutdown report the client's figures.
func TestOtel(t *testing.T) {
	body, out := serve(t, "-otel")
	if !strings.Contains(body, `"new"`) {
		t.Errorf("alice is targeted with the new checkout: %s", body)
	}
	for _, want := range []string{`"Name":"GET /checkout"`, `"Name":"feature_flag.evaluation"`, `"Key":"feature_flag.key"`,
		`"Value":"new-checkout"`, `"Name":"fbclient.sync.requests"`, `"Name":"fbclient.state"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %s:\n%s", want, out)
		}
	}
}

// Without -otel nothing is printed but the log.
func TestNoOtel(t *testing.T) {
	body, out := serve(t)
	if !strings.Contains(body, `"new"`) {
		t.Errorf("alice is targeted with the new checkout: %s", body)
	}
	if strings.Contains(out, "feature_flag.evaluation") || strings.Contains(out, "fbclient.sync") {
		t.Errorf("telemetry printed without -otel:\n%s", out)
	}
}
