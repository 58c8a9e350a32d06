package fbotel_test

import (
	"log"
	"net/http"
	"os"

	"github.com/featflags/fbclient"
	fbotel "github.com/featflags/fbclient/otel"
)

// A client whose evaluations are recorded on the request's span, and whose Stats are
// reported as metrics, as in the module's README.
func Example() {
	client, err := fbclient.New(fbclient.Config{
		EnvSecret:    os.Getenv("FEATBIT_ENV_SECRET"),
		StreamingURL: "wss://featbit.example.com",
		Hooks:        []fbclient.Hook{fbotel.NewTracingHook(fbotel.TracingOptions{})},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	reg, err := fbotel.RegisterMetrics(client, fbotel.MetricsOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Unregister()

	http.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		// r.Context() holds the request's span (from otelhttp, for example).
		user := fbclient.NewUser(r.Header.Get("X-User-Id"))
		if client.WithContext(r.Context()).BoolVariation("new-checkout", user, false) {
			// ...
		}
	})
}
