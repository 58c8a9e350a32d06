package openfeature_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/featflags/fbclient"
	fbof "github.com/featflags/fbclient/openfeature"
)

// The provider registered with the OpenFeature API, and a flag evaluated through an
// OpenFeature client, as in the module's README.
func ExampleNewProvider() {
	client, err := fbclient.New(fbclient.Config{
		EnvSecret:    os.Getenv("FEATBIT_ENV_SECRET"),
		StreamingURL: "wss://featbit.example.com",
	})
	if err != nil {
		log.Fatal(err) // only an invalid Config gets here
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := openfeature.SetProviderWithContextAndWait(ctx, fbof.NewProvider(client)); err != nil {
		log.Print(err) // not ready yet: evaluations return defaults until the data arrives
	}
	defer openfeature.Shutdown() // shuts the provider down, which closes the client

	flags := openfeature.NewDefaultClient()
	on, _ := flags.BooleanValue(ctx, "new-checkout", false,
		openfeature.NewEvaluationContext("user-1", map[string]any{"name": "Alice", "plan": "pro"}))
	_ = on
}
