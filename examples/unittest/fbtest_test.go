package pricing_test

import (
	"context"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/featflags/fbclient"
	pricing "github.com/featflags/fbclient/examples/unittest"
	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/fbtest/inmem"
)

// waitTimeout bounds every wait; the tests never sleep.
const waitTimeout = 5 * time.Second

// discountFlag is the discount flag as these tests set it up: 10 % for paid plans, 20 % for
// user vip-1, pct % for everyone else.
func discountFlag(pct float64) *fbtest.FlagBuilder {
	return fbtest.Flag(pricing.FlagDiscount).Numbers(pct, 10, 20).
		Target(2, "vip-1").
		Rule("paid plans", 1, fbtest.Cond("plan", "IsOneOf", fbtest.OneOf("pro", "enterprise")))
}

// newClient returns a client of srv that has its flags. It is closed when the test ends,
// before srv (cleanups run last-registered first), so the events it still holds reach srv.
func newClient(t *testing.T, srv *fbtest.Server) *fbclient.Client {
	t.Helper()
	client, err := fbclient.New(fbclient.Config{
		EnvSecret:    srv.Secret(),
		StreamingURL: srv.StreamingURL(),
		EventsURL:    srv.EventsURL(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	// New waits for the flags, but returns without them after StartWait. Waiting here makes
	// the test fail loudly instead of running against defaults.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := client.WaitForInitialization(ctx); err != nil {
		t.Fatal(err)
	}
	return client
}

// pricingFlags are the three flags of the pricing package, as in testdata/flags.json.
func pricingFlags() []*fbtest.FlagBuilder {
	return []*fbtest.FlagBuilder{
		discountFlag(0),
		fbtest.Flag(pricing.FlagFreeShipping).Boolean().
			Rule("united states", 0, fbtest.Cond("country", "Equal", "us")).
			Fallthrough(1),
		fbtest.Flag(pricing.FlagPriceList).JSON(`{"unitCents":1250,"shippingCents":499}`),
	}
}

// An in-memory client (package fbtest/inmem): flags written in Go, no server, no network.
// SetFlags has reached the client when it returns, so the test goes straight on.
func TestPriceFollowsFlagChanges(t *testing.T) {
	td := inmem.NewTestData(pricingFlags()...)
	client := td.NewClient(t)
	user := fbclient.NewUser("u-1")
	if got, want := pricing.Price(client, user, 2), (pricing.Quote{Subtotal: 2500, Shipping: 499, Total: 2999}); got != want {
		t.Fatalf("before the change: %+v, want %+v", got, want)
	}

	// A sale starts: 50 % off for everyone without a better discount.
	td.SetFlags(discountFlag(50))
	if got, want := pricing.Price(client, user, 2), (pricing.Quote{Subtotal: 2500, Discount: 1250, Shipping: 499, Total: 1749}); got != want {
		t.Errorf("during the sale: %+v, want %+v", got, want)
	}

	// The price list is deleted in FeatBit: the code falls back to its default.
	td.ArchiveFlag(pricing.FlagPriceList)
	if got, want := pricing.Price(client, user, 2), (pricing.Quote{Subtotal: 2000, Discount: 1000, Shipping: 500, Total: 1500}); got != want {
		t.Errorf("without a price list: %+v, want %+v", got, want)
	}
}

// Checkout's insight events are what FeatBit's experiments and usage statistics are built
// from, so they are part of its behaviour and worth a test. The in-memory client keeps them
// for the test, in FeatBit's format.
func TestCheckoutSendsInsights(t *testing.T) {
	td := inmem.NewTestData(pricingFlags()...)
	client := td.NewClient(t)
	ann := fbclient.NewUser("ann").WithName("Ann").WithCustom("plan", "pro").WithCustom("country", "us")
	q, err := pricing.Checkout(client, ann, 2)
	if err != nil {
		t.Fatal(err)
	}

	// Events are sent in batches every second; FlushAndWait sends them now and returns once
	// they are received.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := client.FlushAndWait(ctx); err != nil {
		t.Fatal(err)
	}

	served := map[string]string{} // flag key -> value served to ann
	var revenue []float64
	for _, e := range td.Events() {
		if e.User.KeyID != "ann" || e.User.Name != "Ann" {
			t.Errorf("event for an unexpected user: %+v", e.User)
			continue
		}
		for _, v := range e.Variations {
			served[v.FeatureFlagKey] = v.Variation.Value
		}
		for _, m := range e.Metrics {
			if m.EventName == pricing.MetricRevenue {
				revenue = append(revenue, m.NumericValue)
			}
		}
	}
	want := map[string]string{
		pricing.FlagPriceList:    `{"unitCents":1250,"shippingCents":499}`,
		pricing.FlagDiscount:     "10",
		pricing.FlagFreeShipping: "true",
	}
	if !maps.Equal(served, want) {
		t.Errorf("evaluations sent: %v, want %v", served, want)
	}
	if len(revenue) != 1 || revenue[0] != float64(q.Total)/100 {
		t.Errorf("revenue metrics sent: %v, want [%v]", revenue, float64(q.Total)/100)
	}
}

// The fake FeatBit server (package fbtest) runs on loopback and speaks FeatBit's protocol;
// here it serves a data file, e.g. one saved from a real environment, and the test asserts
// the events the code sends for those flags.
func TestFakeFeatBitFromFile(t *testing.T) {
	data, err := os.ReadFile("testdata/flags.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := fbtest.NewTestServer(t)
	if err := srv.LoadJSON(data); err != nil {
		t.Fatal(err)
	}
	client := newClient(t, srv)

	if _, err := pricing.Checkout(client, fbclient.NewUser("vip-1"), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := client.FlushAndWait(ctx); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range srv.Events() {
		for _, v := range e.Variations {
			if v.FeatureFlagKey == pricing.FlagDiscount {
				reasons = append(reasons, v.Variation.Reason)
			}
		}
	}
	if !slices.Equal(reasons, []string{"target match"}) {
		t.Errorf("reasons sent for %s: %v, want [target match]", pricing.FlagDiscount, reasons)
	}
}
