// Command otel is a small net/http service that shows fbclient with OpenTelemetry: behind the
// -otel flag, every flag evaluation made while serving a request is an event on the request's
// span, and the client's health and counters are metrics. Both are printed to stdout by the
// OpenTelemetry SDK's stdout exporters, which a real service replaces with OTLP exporters to
// its collector. Without -otel the service is the same, with no telemetry.
//
//	go run . -fake -otel
//	curl -H 'X-User-Id: alice' localhost:8080/checkout
//	curl -i localhost:8080/healthz/ready
//
// -fake starts a fake FeatBit server with a demo flag; without it, set FEATBIT_ENV_SECRET and
// FEATBIT_STREAMING_URL. This example is a module of its own so that the fbclient module
// does not depend on OpenTelemetry; examples/webservice shows the rest of a service.
package main

import (
	"context"
	"encoding/json"
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

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	fbotel "github.com/featflags/fbclient/otel"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "otel:", err)
		os.Exit(1)
	}
}

// run is the whole service. listening, if not nil, is told the address once the service
// accepts requests. It returns nil after a clean shutdown when ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, listening func(addr string)) error {
	fs := flag.NewFlagSet("otel", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fake := fs.Bool("fake", false, "start a fake FeatBit server with a demo flag instead of using FEATBIT_*")
	withOtel := fs.Bool("otel", false, "record flag evaluations in traces and report the client's metrics (to stdout)")
	addr := fs.String("addr", ":8080", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))

	cfg := fbclient.Config{
		EnvSecret:    getenv("FEATBIT_ENV_SECRET"),
		StreamingURL: getenv("FEATBIT_STREAMING_URL"),
		Logger:       log,
	}
	if *fake {
		srv := fbtest.NewServer()
		defer srv.Close()
		srv.SetFlags(fbtest.Flag("new-checkout").Boolean().Target(0, "alice").Fallthrough(1))
		cfg.EnvSecret, cfg.StreamingURL, cfg.EventsURL = srv.Secret(), srv.StreamingURL(), srv.EventsURL()
	} else if cfg.EnvSecret == "" || cfg.StreamingURL == "" {
		return errors.New("set FEATBIT_ENV_SECRET and FEATBIT_STREAMING_URL, or pass -fake")
	}

	// The tracer the service's own spans come from: the SDK's with -otel, a no-op one
	// otherwise, so the handlers are the same either way.
	var tracer trace.Tracer = noop.NewTracerProvider().Tracer("")
	var mp *sdkmetric.MeterProvider
	if *withOtel {
		tp, m, err := setupOtel(stdout)
		if err != nil {
			return err
		}
		mp = m
		defer tp.Shutdown(context.WithoutCancel(ctx))
		tracer = tp.Tracer("example")
		// The hook records the evaluations made with a request's context (WithContext below);
		// it costs nothing measurable elsewhere.
		cfg.Hooks = []fbclient.Hook{fbotel.NewTracingHook(fbotel.TracingOptions{})}
	}

	client, err := fbclient.New(cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	if mp != nil {
		// The client's state, data age, sync and event counters, read at each collection.
		reg, err := fbotel.RegisterMetrics(client, fbotel.MetricsOptions{MeterProvider: mp})
		if err != nil {
			return err
		}
		defer reg.Unregister()
		// Shut down before the client closes (deferred calls run last first): the last
		// collection, printed at shutdown, reports the client as it served.
		defer mp.Shutdown(context.WithoutCancel(ctx))
	}

	mux := http.NewServeMux()
	mux.Handle("GET /healthz/ready", client.HealthHandler(fbclient.HealthOptions{}))
	mux.Handle("GET /checkout", traced(tracer, "GET /checkout", func(w http.ResponseWriter, r *http.Request) {
		user := fbclient.NewUser(r.Header.Get("X-User-Id"))
		page := "classic"
		// WithContext hands the request's context, and so its span, to the tracing hook.
		if client.WithContext(r.Context()).BoolVariation("new-checkout", user, false) {
			page = "new"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"checkout": page})
	}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	log.Info("listening", "url", "http://"+ln.Addr().String(), "otel", *withOtel)
	if listening != nil {
		listening(ln.Addr().String())
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = hs.Shutdown(shutdownCtx)
	<-served
	return err
}

// traced serves h in a server span named name. A real service would use an instrumentation
// library for net/http instead.
func traced(tracer trace.Tracer, name string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(r.Context(), name, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		h(w, r.WithContext(ctx))
	})
}

// setupOtel returns a tracer provider that prints every span as it ends and a meter
// provider that prints the metrics every 30 s and at shutdown, both to w.
func setupOtel(w io.Writer) (*sdktrace.TracerProvider, *sdkmetric.MeterProvider, error) {
	te, err := stdouttrace.New(stdouttrace.WithWriter(w))
	if err != nil {
		return nil, nil, err
	}
	me, err := stdoutmetric.New(stdoutmetric.WithWriter(w))
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(te))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(30*time.Second))))
	return tp, mp, nil
}
