// Command openfeature evaluates FeatBit flags through the OpenFeature Go SDK, with
// fbclient's provider: typed evaluations with their variant and reason, provider events, and
// a tracked metric.
//
// With FEATBIT_ENV_SECRET and FEATBIT_STREAMING_URL set it connects to that FeatBit
// evaluation server; otherwise it runs offline from the data set bundled with the
// repository. Run it from this directory (it is a module of its own, so that the core module
// does not depend on the OpenFeature SDK):
//
//	cd examples/openfeature && go run .
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"text/tabwriter"
	"time"

	"github.com/featflags/fbclient"
	fbof "github.com/featflags/fbclient/openfeature"
	"github.com/open-feature/go-sdk/openfeature"
)

func main() {
	dataFile := flag.String("data", "../../testdata/featbit_test_data.json", "FeatBit data-sync JSON to load when offline")
	flag.Parse()

	cfg := fbclient.Config{Offline: true, DataFile: *dataFile}
	if secret, url := os.Getenv("FEATBIT_ENV_SECRET"), os.Getenv("FEATBIT_STREAMING_URL"); secret != "" && url != "" {
		cfg = fbclient.Config{EnvSecret: secret, StreamingURL: url}
	}
	client, err := fbclient.New(cfg)
	if err != nil {
		log.Fatalf("openfeature example: %v", err)
	}
	if err := run(os.Stdout, client); err != nil {
		log.Fatalf("openfeature example: %v", err)
	}
}

// run registers a provider for client with the global OpenFeature API, evaluates a few
// flags for a few users, prints the results, and shuts the API down, which closes client.
func run(w io.Writer, client *fbclient.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer openfeature.Shutdown() // shuts the provider down, which closes the client

	changed := func(d openfeature.EventDetails) { log.Printf("flags changed: %v", d.FlagChanges) }
	openfeature.AddHandler(openfeature.ProviderConfigChange, &changed)
	if err := openfeature.SetProviderWithContextAndWait(ctx, fbof.NewProvider(client)); err != nil {
		return err
	}
	flags := openfeature.NewDefaultClient()

	users := []openfeature.EvaluationContext{
		openfeature.NewEvaluationContext("test-user-1", map[string]any{"country": "us"}),
		openfeature.NewEvaluationContext("test-user-3", map[string]any{"country": "cn", "major": "cs"}),
		openfeature.NewEvaluationContext("18555358000", map[string]any{"name": "test-user-5"}),
		openfeature.NewEvaluationContext("test-salary-user", map[string]any{"salary": 2500}),
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tFLAG\tVALUE\tVARIANT\tREASON\tERROR")
	for _, u := range users {
		for _, key := range []string{"ff-test-bool", "ff-test-string", "ff-test-seg", "ff-evaluation-test", "ff-test-off", "no-such-flag"} {
			d, _ := flags.StringValueDetails(ctx, key, "(default)", u)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.TargetingKey(), key, d.Value, d.Variant, d.Reason, d.ErrorCode)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	u := users[0]
	on, _ := flags.BooleanValue(ctx, "ff-test-bool", false, u)
	n, _ := flags.IntValue(ctx, "ff-test-number", -1, u)
	obj, _ := flags.ObjectValue(ctx, "ff-test-json", nil, u)
	wrong, err := flags.BooleanValueDetails(ctx, "ff-test-string", false, u)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "BooleanValue(ff-test-bool):", on)
	fmt.Fprintln(w, "IntValue(ff-test-number):", n)
	fmt.Fprintln(w, "ObjectValue(ff-test-json):", obj)
	fmt.Fprintln(w, "BooleanValue(ff-test-string):", wrong.Value, wrong.ErrorCode, err != nil)

	// A FeatBit metric for the user, sent with the next batch of insight events (none offline).
	flags.Track(ctx, "checkout-completed", u, openfeature.NewTrackingEventDetails(49.9))
	return nil
}
