package openfeature

import (
	"context"
	"testing"

	"github.com/featflags/fbclient"
	of "github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
)

// benchProvider returns a ready provider over the offline test data set.
func benchProvider(b *testing.B) *Provider {
	c, err := fbclient.New(fbclient.Config{Offline: true, DataFile: "testdata/flags.json"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return NewProvider(c)
}

// The provider alone: context mapping, the client's evaluation, and the resolution.
func BenchmarkProviderBoolean(b *testing.B) {
	p := benchProvider(b)
	flat := of.FlattenedContext{of.TargetingKey: "user-1", "plan": "pro", "age": 29}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r := p.BooleanEvaluation(ctx, "boolean-flag", false, flat); !r.Value {
			b.Fatal(r.ResolutionError)
		}
	}
}

// The same evaluation through the OpenFeature client API, as applications make it.
func BenchmarkClientBoolean(b *testing.B) {
	p := benchProvider(b)
	api := isolated.NewAPI()
	b.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	if err := api.SetProviderAndWait(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	flags := api.NewClient()
	ec := of.NewEvaluationContext("user-1", map[string]any{"plan": "pro", "age": 29})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if v, err := flags.BooleanValue(ctx, "boolean-flag", false, ec); !v || err != nil {
			b.Fatal(err)
		}
	}
}
