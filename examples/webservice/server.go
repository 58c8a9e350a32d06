package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/featflags/fbclient"
)

// The flags this service reads. Keeping the keys in one place makes it easy to find every use
// of a flag when the time comes to remove it.
const (
	flagNewCheckout    = "new-checkout"     // boolean: the new checkout page
	flagProPrice       = "pro-plan-price"   // number: the price of the A/B pricing test
	flagCheckoutConfig = "checkout-config"  // json: remote configuration of the checkout
	flagMaintenance    = "maintenance-mode" // boolean: answer 503 to application requests
)

// metricSubscription is the custom event FeatBit's experiment on flagProPrice measures. Its
// value is the revenue of the subscription, so the experiment can compare revenue per user
// and not only conversion rates.
const metricSubscription = "pro-subscription"

// Defaults are what a user gets whenever a flag cannot be evaluated: before the first data
// set arrives, if the flag was deleted, or if its value has the wrong type. Choose them so
// that the service behaves as it did before the flag existed.
const defaultProPrice = 20

var defaultCheckoutConfig = checkoutConfig{Currency: "EUR", MaxCartItems: 20}

// checkoutConfig is the remote configuration served by the flagCheckoutConfig json flag.
type checkoutConfig struct {
	Currency     string `json:"currency"`
	MaxCartItems int    `json:"maxCartItems"`
	Banner       string `json:"banner,omitempty"`
}

// newServer returns the service's HTTP handler. The client is created once at start-up and
// shared by every request: evaluations are local and cheap, so handlers call it directly.
func newServer(client *fbclient.Client, log *slog.Logger) http.Handler {
	app := http.NewServeMux()
	app.HandleFunc("GET /checkout", checkoutPage(client))
	app.HandleFunc("GET /pricing", pricing(client))
	app.HandleFunc("POST /pricing/subscribe", subscribe(client, log))
	app.HandleFunc("GET /config/checkout", remoteConfig(client))
	app.HandleFunc("GET /flags", bootstrap(client))

	// Health endpoints stay outside the maintenance switch: an orchestrator must not restart
	// or drain the service because the business turned maintenance mode on.
	root := http.NewServeMux()
	root.HandleFunc("GET /healthz/live", live)
	// Ready while the client has flags: also while FeatBit is unreachable and it serves the
	// last flags it received (Stale), as taking every replica out of the load balancer
	// because FeatBit is away would turn a FeatBit outage into an outage of this service.
	// Not ready before the first flags arrive, after FeatBit rejected the env secret (that
	// needs a person; during a rolling deployment it keeps the new replicas out of traffic
	// while the old ones serve) and while shutting down. Keep health endpoints on an
	// internal port or path in production.
	root.Handle("GET /healthz/ready", client.HealthHandler(fbclient.HealthOptions{}))
	root.Handle("/", withUser(maintenance(client, app)))
	return root
}

// userKey is the context key of the request's fbclient.User.
type userKey struct{}

// anonymousKey is the user key of requests that carry no user id. FeatBit needs a key to
// evaluate a flag, and all anonymous requests then share one rollout bucket.
const anonymousKey = "anonymous"

// withUser builds the FeatBit user of the request once, so every handler and middleware
// evaluates flags for the same user. The X-User-* headers stand in for whatever identifies
// the user in your service (a session, a JWT, headers set by an API gateway): never trust
// such headers from the open internet.
func withUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), userKey{}, userFromHeaders(r.Header))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func userFromHeaders(h http.Header) fbclient.User {
	id := strings.TrimSpace(h.Get("X-User-Id"))
	if id == "" {
		id = anonymousKey
	}
	user := fbclient.NewUser(id).WithName(h.Get("X-User-Name"))
	// Only attributes the request has: targeting rules read a missing attribute as "", and
	// every attribute set is sent to FeatBit with the insight events.
	for attr, header := range map[string]string{"plan": "X-User-Plan", "country": "X-User-Country"} {
		if v := strings.TrimSpace(h.Get(header)); v != "" {
			user = user.WithCustom(attr, v)
		}
	}
	return user
}

// userFrom returns the user withUser put in ctx.
func userFrom(ctx context.Context) fbclient.User {
	if u, ok := ctx.Value(userKey{}).(fbclient.User); ok {
		return u
	}
	return fbclient.NewUser(anonymousKey)
}

// maintenance answers 503 while flagMaintenance is on for the user. Evaluating it per user
// lets the flag's targeting keep access for some users (the demo flag exempts "ops") while
// everyone else sees the maintenance response.
func maintenance(client *fbclient.Client, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if client.BoolVariation(flagMaintenance, userFrom(r.Context()), false) {
			w.Header().Set("Retry-After", "120")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "down for maintenance"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkoutPage serves a feature behind a flag. The default, false, is the page the service
// had before the flag: if FeatBit cannot be reached, nobody gets the unfinished page.
func checkoutPage(client *fbclient.Client) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		page := "classic"
		if client.BoolVariation(flagNewCheckout, userFrom(r.Context()), false) {
			page = "new"
		}
		writeJSON(w, http.StatusOK, map[string]string{"checkout": page})
	}
}

type priceResponse struct {
	Plan  string `json:"plan"`
	Price int    `json:"price"`
}

// pricing shows the price of the pricing experiment. The evaluation is recorded and sent to
// FeatBit: that is how the experiment knows which price each user saw.
func pricing(client *fbclient.Client) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		price := client.IntVariation(flagProPrice, userFrom(r.Context()), defaultProPrice)
		writeJSON(w, http.StatusOK, priceResponse{Plan: "pro", Price: price})
	}
}

// subscribe is the conversion of the pricing experiment. Evaluating the flag again gives the
// same price (rollouts hash the user key, so a user stays in their variation), and
// TrackMetric reports the conversion with its revenue.
func subscribe(client *fbclient.Client, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user := userFrom(r.Context())
		if user.Key() == anonymousKey {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "X-User-Id required"})
			return
		}
		price := client.IntVariation(flagProPrice, user, defaultProPrice)
		// TrackMetric never blocks and does no I/O: the event is sent with the next batch.
		// An error means a programming mistake (blank name, invalid user) or a closed client;
		// it is worth a log line, not a failed purchase.
		if err := client.TrackMetric(user, metricSubscription, float64(price)); err != nil {
			log.Warn("conversion not recorded", "user", user.Key(), "error", err)
		}
		writeJSON(w, http.StatusCreated, priceResponse{Plan: "pro", Price: price})
	}
}

// remoteConfig serves configuration kept in a json flag, decoded into a struct. A value that
// does not decode into checkoutConfig gives the default, so a typo in FeatBit cannot break
// the checkout.
func remoteConfig(client *fbclient.Client) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cfg := fbclient.JSONVariation(client, flagCheckoutConfig, userFrom(r.Context()), defaultCheckoutConfig)
		writeJSON(w, http.StatusOK, cfg)
	}
}

// bootstrap returns every flag's value for the user in the format FeatBit's client-side SDKs
// accept as bootstrap data, so a page rendered by this service starts with its flags.
func bootstrap(client *fbclient.Client) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, client.AllVariations(userFrom(r.Context())))
	}
}

// live is the liveness probe: the process answers HTTP. It does not depend on FeatBit, since
// restarting the service would not bring FeatBit back.
func live(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
