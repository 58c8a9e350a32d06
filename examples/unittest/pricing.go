// Package pricing stands for a package of your service whose behaviour depends on feature
// flags: it prices a cart, and three flags decide how. Its tests show the three ways a
// service's own tests use fbclient:
//
//   - pricing_test.go: offline mode, with the flags in testdata/flags.json (FeatBit's
//     data-sync JSON). No network, nothing sent; the quickest way to pin down behaviour.
//   - fbtest_test.go: an in-memory client of package fbtest/inmem, with flags written in
//     Go that change in the middle of a test, and the insight events the code sends
//     (evaluations, metrics) read back; then the fake FeatBit server of package fbtest,
//     for tests of what crosses the network.
//
// Run them with:
//
//	go test ./examples/unittest
package pricing

import (
	"errors"

	"github.com/featflags/fbclient"
)

// The flags pricing reads.
const (
	FlagDiscount     = "discount-percent" // number: percentage off the subtotal
	FlagFreeShipping = "free-shipping"    // boolean: no shipping cost
	FlagPriceList    = "price-list"       // json: a PriceList
)

// MetricRevenue is the custom metric Checkout sends: the total of a purchase, in currency
// units, for FeatBit experiments that compare revenue.
const MetricRevenue = "revenue"

// PriceList is the value of the FlagPriceList json flag.
type PriceList struct {
	UnitCents     int `json:"unitCents"`
	ShippingCents int `json:"shippingCents"`
}

// DefaultPriceList is used whenever the flag cannot be evaluated (no data yet, flag deleted,
// value that does not decode), so a problem in FeatBit never stops sales.
var DefaultPriceList = PriceList{UnitCents: 1000, ShippingCents: 500}

// Quote is the price of a cart, in cents.
type Quote struct {
	Subtotal, Discount, Shipping, Total int
}

// ErrNoUser is returned by Checkout for a user without a key.
var ErrNoUser = errors.New("pricing: checkout needs a user")

// Price prices items for user. It takes the client as a parameter, like any other
// dependency, so tests can pass one backed by a file or by a fake FeatBit server.
func Price(client *fbclient.Client, user fbclient.User, items int) Quote {
	list := fbclient.JSONVariation(client, FlagPriceList, user, DefaultPriceList)
	q := Quote{Subtotal: items * list.UnitCents, Shipping: list.ShippingCents}
	// A flag's value is data, not code: check it like any input.
	if pct := client.IntVariation(FlagDiscount, user, 0); pct > 0 && pct <= 100 {
		q.Discount = q.Subtotal * pct / 100
	}
	if client.BoolVariation(FlagFreeShipping, user, false) {
		q.Shipping = 0
	}
	q.Total = q.Subtotal - q.Discount + q.Shipping
	return q
}

// Checkout prices the cart and reports the purchase to FeatBit as MetricRevenue.
func Checkout(client *fbclient.Client, user fbclient.User, items int) (Quote, error) {
	if !user.Valid() {
		return Quote{}, ErrNoUser
	}
	q := Price(client, user, items)
	// TrackMetric only fails for arguments checked above or a closed client; a lost metric
	// must not fail a purchase, so the error is not returned.
	_ = client.TrackMetric(user, MetricRevenue, float64(q.Total)/100)
	return q, nil
}
