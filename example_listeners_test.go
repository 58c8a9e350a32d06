package fbclient_test

import (
	"fmt"
	"log"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
)

// A value-change listener is told when what one user gets from one flag changes, and only
// then: here a change for another user calls nothing, and a change for alice does.
func ExampleClient_OnValueChange() {
	srv := fbtest.NewServer()
	defer srv.Close()
	srv.SetFlags(fbtest.Flag("checkout").Strings("v1", "v2"))

	client, err := fbclient.New(fbclient.Config{
		EnvSecret:     srv.Secret(),
		StreamingURL:  srv.StreamingURL(),
		DisableEvents: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	changes := make(chan fbclient.ValueChange, 2)
	off := client.OnValueChange("checkout", fbclient.NewUser("alice"), "v1",
		func(ch fbclient.ValueChange) { changes <- ch },
		fbclient.ListenerName("checkout for alice"))
	defer off()

	srv.SetFlags(fbtest.Flag("checkout").Strings("v1", "v2").Target(1, "bob"))
	srv.SetFlags(fbtest.Flag("checkout").Strings("v1", "v2").Target(1, "bob", "alice"))
	ch := <-changes
	fmt.Println(ch.FlagKey, ch.User.Key(), ch.Old, "->", ch.New)
	// Output:
	// checkout alice v1 -> v2
}

// A listener that must not lose count in bursts gets a larger queue, and a name for the
// SDK's warnings about it. Events that still find its queue full are replaced by one
// EventMissed event saying how many, so the count stays exact.
func ExampleListenerQueueSize() {
	client := offlineClient()
	defer client.Close()

	var evaluations, missed uint64 // owned by the listener's goroutine
	done := make(chan struct{})
	client.On(fbclient.EventEvaluation, func(e fbclient.Event) {
		switch e.Type {
		case fbclient.EventEvaluation:
			evaluations++
		case fbclient.EventMissed:
			missed += e.Missed.Count
		}
		if evaluations+missed == 1000 {
			close(done)
		}
	}, fbclient.ListenerName("evaluation counter"), fbclient.ListenerQueueSize(100_000))

	for i := 0; i < 1000; i++ {
		client.BoolVariation("ff-test-bool", fbclient.NewUser("test-user-1"), false)
	}
	<-done
	fmt.Println(evaluations + missed)
	// Output:
	// 1000
}
