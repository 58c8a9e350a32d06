package fbclient_test

import (
	"context"
	"fmt"
	"log"

	"github.com/featflags/fbclient"
)

// A hook sees every evaluation, fallbacks included, on the caller's goroutine: here, an
// audit line per evaluation.
func ExampleHook() {
	audit := fbclient.Hook{
		Name: "audit",
		AfterEvaluation: func(ctx context.Context, e fbclient.EvalCall) {
			fmt.Printf("%s %s for %s: %q (%s, variation %q, default %v)\n",
				e.Method, e.FlagKey, e.User.Key(), e.Detail.Value, e.Detail.Reason, e.Detail.VariationID, e.Default())
		},
	}
	client, err := fbclient.New(fbclient.Config{
		Offline:  true,
		DataFile: "testdata/featbit_test_data.json",
		Hooks:    []fbclient.Hook{audit},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	user := fbclient.NewUser("test-user-1")
	client.BoolVariation("ff-test-bool", user, false)
	client.IntVariation("ff-test-string", user, 7)
	client.Variation("no-such-flag", user, "fallback")
	// Output:
	// BoolVariation ff-test-bool for test-user-1: "true" (target match, variation "18b369f8-453f-46d7-88cc-fe41d29ca6e3", default false)
	// IntVariation ff-test-string for test-user-1: "" (wrong type, variation "", default 7)
	// Variation no-such-flag for test-user-1: "fallback" (flag not found, variation "", default fallback)
}

type requestIDKey struct{}

// A ContextClient passes the request's context to the hooks, and a hook carries data from
// BeforeEvaluation to its AfterEvaluation in the context it returns, as a tracing hook
// carries a span.
func ExampleClient_WithContext() {
	type spanKey struct{}
	tracer := fbclient.Hook{
		Name: "tracer",
		BeforeEvaluation: func(ctx context.Context, e fbclient.EvalCall) context.Context {
			span := fmt.Sprintf("span(%s, request %v)", e.FlagKey, ctx.Value(requestIDKey{}))
			return context.WithValue(ctx, spanKey{}, span)
		},
		AfterEvaluation: func(ctx context.Context, e fbclient.EvalCall) {
			fmt.Println("end", ctx.Value(spanKey{}), "reason:", e.Detail.Reason)
		},
	}
	client, err := fbclient.New(fbclient.Config{
		Offline:  true,
		DataFile: "testdata/featbit_test_data.json",
		Hooks:    []fbclient.Hook{tracer},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// In an HTTP handler: ctx := r.Context()
	ctx := context.WithValue(context.Background(), requestIDKey{}, "r-42")
	flags := client.WithContext(ctx)
	user := fbclient.NewUser("test-user-2").WithCustom("country", "fr")
	fmt.Println(flags.IntVariation("ff-test-number", user, 0))
	type prize struct {
		Code   int
		Reason string
	}
	fmt.Println(fbclient.JSONVariation(flags, "ff-test-json", user, prize{}).Code)
	// Output:
	// end span(ff-test-number, request r-42) reason: rule match
	// 33
	// end span(ff-test-json, request r-42) reason: fall through all rules
	// 404
}
