package fbclient_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/fbtest/inmem"
)

// Stats tells what the client holds and what its data source did; a dashboard or a debug
// endpoint can read it as often as it likes.
func ExampleClient_Stats() {
	td := inmem.NewTestData(fbtest.Flag("new-checkout").On(true), fbtest.Flag("banner").Strings("a", "b"))
	client, err := fbclient.New(td.Config(fbclient.Config{DisableEvents: true}))
	if err != nil {
		panic(err)
	}
	defer client.Close()
	td.SetFlags(fbtest.Flag("pricing").Numbers(20, 25))

	s := client.Stats()
	fmt.Println(s.Status.State, "with", s.Data.Flags, "flags")
	fmt.Println("data sets received:", s.Sync.DataSyncs, "of which full:", s.Sync.FullDataSyncs)
	fmt.Println("sync errors:", s.Sync.Errors.Total())
	// Output:
	// ready with 3 flags
	// data sets received: 2 of which full: 1
	// sync errors: 0
}

// HealthHandler answers readiness probes from the client's state.
func ExampleClient_HealthHandler() {
	client, err := fbclient.New(fbclient.Config{Offline: true, DataFile: "testdata/featbit_test_data.json"})
	if err != nil {
		panic(err)
	}
	probe := client.HealthHandler(fbclient.HealthOptions{})
	check := func() {
		rec := httptest.NewRecorder()
		probe.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz/ready", nil))
		var h fbclient.Health
		_ = json.Unmarshal(rec.Body.Bytes(), &h)
		fmt.Println(rec.Code, h.State)
	}
	check()
	client.Close()
	check()
	// Output:
	// 200 ready
	// 503 closed
}
