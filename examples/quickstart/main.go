// Command quickstart evaluates flags for a few users from the data set bundled in testdata/,
// with the client in offline mode, and prints each value with the reason it was served.
//
// Run it from the repository root:
//
//	go run ./examples/quickstart
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"text/tabwriter"

	"github.com/featflags/fbclient"
)

func main() {
	dataFile := flag.String("data", "testdata/featbit_test_data.json", "FeatBit data-sync JSON to load")
	flag.Parse()

	client, err := fbclient.New(fbclient.Config{Offline: true, DataFile: *dataFile})
	if err != nil {
		log.Fatalf("quickstart: %v (run it from the repository root, or pass -data)", err)
	}
	defer client.Close()

	users := []fbclient.User{
		fbclient.NewUser("test-user-1").WithCustom("country", "us"),
		fbclient.NewUser("test-user-3").WithCustom("country", "cn").WithCustom("major", "cs"),
		fbclient.NewUser("18555358000").WithName("test-user-5"),
		fbclient.NewUser("test-salary-user").WithCustom("salary", "2500"),
	}
	flags := []string{"ff-test-bool", "ff-test-number", "ff-test-string", "ff-test-seg", "ff-evaluation-test", "ff-test-off", "no-such-flag"}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "USER\tFLAG\tVALUE\tREASON\tEXPERIMENT")
	for _, u := range users {
		for _, key := range flags {
			d := client.VariationDetail(key, u, "(default)")
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\n", u.Key(), key, d.Value, d.Reason, d.InExperiment)
		}
	}
	w.Flush()

	// Typed accessors convert the served value and fall back to the default on a mismatch.
	u := users[0]
	fmt.Println()
	fmt.Println("BoolVariation(ff-test-bool):     ", client.BoolVariation("ff-test-bool", u, false))
	fmt.Println("IntVariation(ff-test-number):    ", client.IntVariation("ff-test-number", u, -1))
	fmt.Println("BoolVariation(ff-test-string):   ", client.BoolVariation("ff-test-string", u, false), "(wrong type: the default)")
	type response struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	fmt.Printf("JSONVariation(ff-test-json):      %+v\n", fbclient.JSONVariation(client, "ff-test-json", u, response{}))
}
