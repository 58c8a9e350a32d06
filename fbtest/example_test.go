package fbtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/featflags/fbclient/fbtest"
)

// A server with two flags, read back through the polling endpoint. With a fixed clock, each
// change still gets its own version, one millisecond apart.
func ExampleServer() {
	clock := func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }
	srv := fbtest.NewServer(fbtest.WithClock(clock))
	defer srv.Close()

	srv.SetFlags(
		fbtest.Flag("dark-mode").Target(0, "alice").Fallthrough(1),
		fbtest.Flag("banner").Strings("blue", "green").Rollout(50, 50).DispatchKey("company"),
	)

	req, _ := http.NewRequest("GET", srv.URL()+fbtest.LatestAllPath, nil)
	req.Header.Set("Authorization", srv.Secret())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			EventType    string
			FeatureFlags []struct {
				Key, UpdatedAt string
				Variations     []struct{ Value string }
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(body.Data.EventType)
	for _, f := range body.Data.FeatureFlags {
		fmt.Println(f.Key, f.UpdatedAt, f.Variations)
	}
	// Output:
	// full
	// dark-mode 2024-05-01T12:00:00.000Z [{true} {false}]
	// banner 2024-05-01T12:00:00.001Z [{blue} {green}]
}
