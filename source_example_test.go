package fbclient_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/featflags/fbclient"
)

// fileSource is a DataSource that serves the data set of a file and keeps it until Close.
type fileSource struct{ path string }

func (s fileSource) Run(ctx context.Context, sink fbclient.DataSink) {
	sink.Started(fbclient.Fetch{})
	b, err := os.ReadFile(s.path)
	if err == nil {
		var ds *fbclient.DataSet
		if ds, err = fbclient.ParseDataSet(b); err == nil {
			sink.Apply(ds, fbclient.Fetch{})
			<-ctx.Done()
			return
		}
	}
	sink.Stop(err) // not worth trying again
}

// A DataSource replaces streaming and polling. With events off the client needs neither
// secret nor URL; listeners hear the source's reports as they hear FeatBit's.
func ExampleDataSource() {
	client, err := fbclient.New(fbclient.Config{
		DataSource:    fileSource{path: "testdata/featbit_test_data.json"},
		DisableEvents: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	fmt.Println(client.Status().State)
	user := fbclient.NewUser("test-user-1").WithCustom("country", "us")
	fmt.Println(client.BoolVariation("ff-test-bool", user, false))
	// Output:
	// ready
	// true
}

// EventStatusChanged tells every change of the client's state, with the state before it.
func ExampleStatusChange() {
	done := make(chan struct{})
	client, err := fbclient.New(fbclient.Config{
		DataSource:    fileSource{path: "testdata/featbit_test_data.json"},
		DisableEvents: true,
		Listeners: []fbclient.Listener{{
			Events: []fbclient.EventType{fbclient.EventStatusChanged},
			Func: func(e fbclient.Event) {
				fmt.Println(e.StatusChange.Previous, "->", e.StatusChange.Status.State)
				if e.StatusChange.Status.State == fbclient.StateClosed {
					close(done)
				}
			},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	client.Close()
	<-done
	// Output:
	// not ready -> ready
	// ready -> closed
}
