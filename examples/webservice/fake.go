package main

import (
	"net/http"
	"strconv"

	"github.com/featflags/fbclient/fbtest"
)

// demoFlags are the flags the -fake server starts with, as they would be set up in FeatBit's
// portal for this service.
func demoFlags() []*fbtest.FlagBuilder {
	return []*fbtest.FlagBuilder{
		// Beta testers by user key and enterprise customers by rule get the new page; everyone
		// else falls through to variation 1, "false".
		fbtest.Flag(flagNewCheckout).Boolean().
			Target(0, "beta-tester").
			Rule("enterprise customers", 0, fbtest.Cond("plan", "Equal", "enterprise")).
			Fallthrough(1),
		// The pricing experiment: half of the users see 20, the other half 25.
		fbtest.Flag(flagProPrice).Numbers(20, 25).Rollout(50, 50),
		// Remote configuration: US users get their own currency and cart size.
		fbtest.Flag(flagCheckoutConfig).
			JSON(`{"currency":"EUR","maxCartItems":20}`,
				`{"currency":"USD","maxCartItems":50,"banner":"Free shipping over $50"}`).
			Rule("united states", 1, fbtest.Cond("country", "Equal", "us")),
		maintenanceFlag(false),
	}
}

// maintenanceFlag is the maintenance switch, on or off. While it is on, the user "ops" is
// targeted with "false" and keeps access, to check the system before it is opened again.
func maintenanceFlag(on bool) *fbtest.FlagBuilder {
	return fbtest.Flag(flagMaintenance).Boolean().On(on).Target(1, "ops")
}

// fakeAdmin lets a demo change a flag on the fake server, as one would in FeatBit's portal:
//
//	curl -X POST 'localhost:8080/fake/maintenance?on=true'
//
// The change reaches the client over its WebSocket within milliseconds.
func fakeAdmin(srv *fbtest.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /fake/maintenance", func(w http.ResponseWriter, r *http.Request) {
		on, err := strconv.ParseBool(r.URL.Query().Get("on"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "on must be true or false"})
			return
		}
		srv.SetFlags(maintenanceFlag(on))
		writeJSON(w, http.StatusOK, map[string]bool{"maintenance": on})
	})
	return mux
}
