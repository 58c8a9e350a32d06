// Command webservice is a net/http service that uses FeatBit feature flags the way a
// production service does: one client created at start-up, the request's user in the request
// context, a feature behind a flag, an A/B pricing test with a conversion metric, remote
// configuration from a json flag, a maintenance switch, health probes that reflect the
// client's status, and a clean shutdown that sends the last insight events.
//
// Against a FeatBit server:
//
//	FEATBIT_ENV_SECRET=... FEATBIT_STREAMING_URL=wss://featbit.example.com go run ./examples/webservice
//
// FEATBIT_EVENTS_URL is the events base URL if it differs from the streaming URL's host,
// FEATBIT_CACHE_FILE a file that keeps the last flags for a start while FeatBit is away, and
// PORT the port to listen on (default 8080). Anywhere, with a fake FeatBit server holding
// demo flags:
//
//	go run ./examples/webservice -fake
//	curl -H 'X-User-Id: beta-tester' localhost:8080/checkout
//	curl -H 'X-User-Id: alice' localhost:8080/pricing
//	curl -X POST -H 'X-User-Id: alice' localhost:8080/pricing/subscribe
//	curl -H 'X-User-Id: bob' -H 'X-User-Country: us' localhost:8080/config/checkout
//	curl -X POST 'localhost:8080/fake/maintenance?on=true'
//	curl -i localhost:8080/healthz/ready
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "webservice:", err)
		os.Exit(1)
	}
}

// shutdownTimeout bounds how long in-flight requests may take to finish after SIGTERM. Keep
// it, plus Config.CloseTimeout (5 s by default) for the client, below the grace period of
// your orchestrator (30 s in Kubernetes).
const shutdownTimeout = 10 * time.Second

// run is the whole service: main only adds the signals. It returns nil after a clean
// shutdown when ctx ends, or the error that stopped it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("webservice", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fake := fs.Bool("fake", false, "start a fake FeatBit server with demo flags instead of using FEATBIT_*")
	addr := fs.String("addr", "", "address to listen on (default \":$PORT\", or \":8080\")")
	initTimeout := fs.Duration("init-timeout", 10*time.Second, "how long to wait for flags at start-up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" {
		*addr = ":8080"
		if port := getenv("PORT"); port != "" {
			*addr = ":" + port
		}
	}

	log := slog.New(slog.NewTextHandler(stdout, nil))
	cfg := fbclient.Config{
		EnvSecret:    getenv("FEATBIT_ENV_SECRET"),
		StreamingURL: getenv("FEATBIT_STREAMING_URL"),
		EventsURL:    getenv("FEATBIT_EVENTS_URL"),
		// New would wait up to 5 s for flags by itself; waiting below instead lets the
		// service choose its own timeout and tell a rejected secret from a slow server.
		StartWait: -1,
		// The SDK is silent by default. Its warnings (lost connection, dropped events) belong
		// in the service's log; it never logs the env secret.
		Logger: log,
	}
	if path := getenv("FEATBIT_CACHE_FILE"); path != "" {
		// With StartWait -1, a client that has no flags yet serves the cached ones at once.
		cfg.Cache = fbclient.FileCache(path)
	}
	var fakeSrv *fbtest.Server
	if *fake {
		fakeSrv = fbtest.NewServer()
		// Deferred first, so it closes last: the client's final events still reach it.
		defer fakeSrv.Close()
		fakeSrv.SetFlags(demoFlags()...)
		cfg.EnvSecret, cfg.StreamingURL, cfg.EventsURL = fakeSrv.Secret(), fakeSrv.StreamingURL(), fakeSrv.EventsURL()
		log.Info("using a fake FeatBit server with demo flags", "featbit", fakeSrv.URL())
	} else if cfg.EnvSecret == "" || cfg.StreamingURL == "" {
		return errors.New("set FEATBIT_ENV_SECRET and FEATBIT_STREAMING_URL, or pass -fake")
	}

	client, err := fbclient.New(cfg)
	if err != nil {
		return err // an invalid Config: nothing was started
	}
	defer client.Close()

	// Wait for the first data set, but not forever: if FeatBit is slow the service starts
	// anyway, serves every flag's default and reports not ready until the flags arrive. A
	// rejected secret will not fix itself, so it stops the service.
	initCtx, cancel := context.WithTimeout(ctx, *initTimeout)
	err = client.WaitForInitialization(initCtx)
	cancel()
	switch {
	case errors.Is(err, fbclient.ErrInitializationFailed):
		return fmt.Errorf("FeatBit rejected the env secret: %w", err)
	case ctx.Err() != nil:
		return nil // stopped during start-up
	case err != nil:
		log.Warn("no flags from FeatBit yet; serving defaults until they arrive", "error", err)
	default:
		log.Info("flags received from FeatBit")
	}

	handler := newServer(client, log)
	if fakeSrv != nil {
		mux := http.NewServeMux()
		mux.Handle("/fake/", fakeAdmin(fakeSrv))
		mux.Handle("/", handler)
		handler = mux
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("listening", "url", "http://"+ln.Addr().String())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	// Shut down in dependency order: stop accepting requests and let in-flight ones finish
	// (they may still evaluate flags and track metrics), then close the client, which sends
	// the insight events it still holds (bounded by Config.CloseTimeout).
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = hs.Shutdown(shutdownCtx)
	<-served
	client.Close()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
