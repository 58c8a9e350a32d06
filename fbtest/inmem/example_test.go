package inmem_test

import (
	"context"
	"fmt"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/fbtest/inmem"
)

// A client whose flags a test sets in memory, changes while it runs, and whose insight
// events it reads back. In a test, td.NewClient(t) creates the client and closes it when the
// test ends.
func ExampleTestData() {
	td := inmem.NewTestData(fbtest.Flag("new-checkout").Target(0, "alice").Fallthrough(1))
	client, err := fbclient.New(td.Config(fbclient.Config{}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	changed := make(chan []string, 1)
	client.On(fbclient.EventFlagChanged, func(e fbclient.Event) { changed <- e.FlagKeys })

	alice, bob := fbclient.NewUser("alice"), fbclient.NewUser("bob")
	fmt.Println("alice:", client.BoolVariation("new-checkout", alice, false))
	fmt.Println("bob:", client.BoolVariation("new-checkout", bob, false))

	// Roll out to everyone: the client has the change when SetFlags returns.
	td.SetFlags(fbtest.Flag("new-checkout").Fallthrough(0))
	fmt.Println("bob after the change:", client.BoolVariation("new-checkout", bob, false))
	fmt.Println("changed:", <-changed)

	if err := client.FlushAndWait(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range td.Events() {
		for _, v := range e.Variations {
			fmt.Printf("sent: %s got %s (%s)\n", e.User.KeyID, v.Variation.Value, v.Variation.Reason)
		}
	}
	// Output:
	// alice: true
	// bob: false
	// bob after the change: true
	// changed: [new-checkout]
	// sent: alice got true (target match)
	// sent: bob got false (fall through all rules)
	// sent: bob got true (fall through all rules)
}

// The flags of a TestData as a data file, for a client in Offline mode.
func ExampleTestData_DataFile() {
	td := inmem.NewTestData(fbtest.Flag("discount").Numbers(0, 10).Rule("pro plan", 1, fbtest.Cond("plan", "Equal", "pro")))
	client, err := fbclient.New(fbclient.Config{Offline: true, Data: td.DataFile()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	pro := fbclient.NewUser("u1").WithCustom("plan", "pro")
	fmt.Println(client.IntVariation("discount", pro, -1), client.IntVariation("discount", fbclient.NewUser("u2"), -1))
	// Output: 10 0
}
