package pricing_test

import (
	"embed"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/featflags/fbclient"
	pricing "github.com/featflags/fbclient/examples/unittest"
)

// TestMain fails the run if a test leaves a goroutine behind, such as a client that was never
// closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock"))
}

// newOfflineClient returns a client that reads its flags from a file in FeatBit's data-sync
// format and never touches the network. To test against the flags of a real environment,
// save them with
//
//	curl -H "Authorization: $FEATBIT_ENV_SECRET" $FEATBIT_URL/api/public/sdk/server/latest-all > testdata/flags.json
func newOfflineClient(t *testing.T, dataFile string) *fbclient.Client {
	t.Helper()
	client, err := fbclient.New(fbclient.Config{Offline: true, DataFile: dataFile})
	if err != nil {
		t.Fatal(err) // a missing or malformed file is an error here, not a silent empty set
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func TestPriceOffline(t *testing.T) {
	client := newOfflineClient(t, "testdata/flags.json")
	for _, tc := range []struct {
		name string
		user fbclient.User
		want pricing.Quote
	}{
		{"default", fbclient.NewUser("u-1"),
			pricing.Quote{Subtotal: 3750, Shipping: 499, Total: 4249}},
		{"paid plan rule", fbclient.NewUser("u-2").WithCustom("plan", "pro"),
			pricing.Quote{Subtotal: 3750, Discount: 375, Shipping: 499, Total: 3874}},
		{"targeted user", fbclient.NewUser("vip-1"),
			pricing.Quote{Subtotal: 3750, Discount: 750, Shipping: 499, Total: 3499}},
		{"free shipping in the us", fbclient.NewUser("u-3").WithCustom("country", "us"),
			pricing.Quote{Subtotal: 3750, Total: 3750}},
		{"swiss price list", fbclient.NewUser("u-4").WithCustom("country", "ch").WithCustom("plan", "enterprise"),
			pricing.Quote{Subtotal: 4500, Discount: 450, Shipping: 900, Total: 4950}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pricing.Price(client, tc.user, 3); got != tc.want {
				t.Errorf("Price = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Without the flags, the code must still work, with the defaults it passes to the client.
// An offline client without a DataFile has no flags at all.
func TestPriceWithoutFlags(t *testing.T) {
	client := newOfflineClient(t, "")
	want := pricing.Quote{Subtotal: 3000, Shipping: 500, Total: 3500}
	if got := pricing.Price(client, fbclient.NewUser("vip-1"), 3); got != want {
		t.Errorf("Price = %+v, want %+v", got, want)
	}
}

// The Detail forms tell why a value was served, which makes a failing test explain itself:
// here, that the test data does target vip-1.
func TestFlagDetail(t *testing.T) {
	client := newOfflineClient(t, "testdata/flags.json")
	v, d := client.IntVariationDetail(pricing.FlagDiscount, fbclient.NewUser("vip-1"), 0)
	if v != 20 || d.Reason != fbclient.ReasonTargetMatch {
		t.Errorf("discount for vip-1: %d (%s), want 20 (target match)", v, d.Reason)
	}
}

func TestCheckoutOffline(t *testing.T) {
	client := newOfflineClient(t, "testdata/flags.json")
	// Offline, TrackMetric checks its arguments and sends nothing; Checkout still works.
	q, err := pricing.Checkout(client, fbclient.NewUser("u-1"), 1)
	if err != nil || q.Total != 1250+499 {
		t.Errorf("Checkout = %+v, %v", q, err)
	}
	if _, err := pricing.Checkout(client, fbclient.NewUser(""), 1); !errors.Is(err, pricing.ErrNoUser) {
		t.Errorf("Checkout without a user: %v, want ErrNoUser", err)
	}
}

//go:embed testdata/flags.json
var testdata embed.FS

// The data set can also be compiled into the binary with //go:embed: DataFile is then a name
// inside DataFS.
func TestPriceFromEmbeddedFlags(t *testing.T) {
	client, err := fbclient.New(fbclient.Config{Offline: true, DataFS: testdata, DataFile: "testdata/flags.json"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	want := pricing.Quote{Subtotal: 3750, Discount: 750, Shipping: 499, Total: 3499}
	if got := pricing.Price(client, fbclient.NewUser("vip-1"), 3); got != want {
		t.Errorf("Price = %+v, want %+v", got, want)
	}
}
