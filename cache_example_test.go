package fbclient_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/featflags/fbclient"
)

// silentSource is a DataSource that never delivers, as FeatBit does when it cannot be
// reached.
type silentSource struct{}

func (silentSource) Run(ctx context.Context, _ fbclient.DataSink) { <-ctx.Done() }

// A client with a FileCache saves the data it gets; a client started later that cannot
// reach its source serves the saved data, stale and marked as cached, until the source
// delivers. With FeatBit, set EnvSecret and StreamingURL instead of DataSource.
func ExampleFileCache() {
	dir, err := os.MkdirTemp("", "fbclient")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cache := fbclient.FileCache(filepath.Join(dir, "flags.json"))

	live, err := fbclient.New(fbclient.Config{
		DataSource:    fileSource{path: "testdata/featbit_test_data.json"},
		DisableEvents: true,
		Cache:         cache,
	})
	if err != nil {
		log.Fatal(err)
	}
	live.Close() // saves the data set if it is not saved yet

	client, err := fbclient.New(fbclient.Config{
		DataSource:    silentSource{},
		DisableEvents: true,
		StartWait:     10 * time.Millisecond, // short for the example; default 5 s
		Cache:         cache,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	st := client.Status()
	fmt.Println(st.State, st.FromCache, time.Since(st.CachedAt) < time.Hour)
	user := fbclient.NewUser("test-user-1").WithCustom("country", "us")
	fmt.Println(client.BoolVariation("ff-test-bool", user, false))
	// Output:
	// stale true true
	// true
}
