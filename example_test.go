package fbclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
)

// offlineClient is the client most examples use: offline, from FeatBit's test data set.
func offlineClient() *fbclient.Client {
	client, err := fbclient.New(fbclient.Config{Offline: true, DataFile: "testdata/featbit_test_data.json"})
	if err != nil {
		log.Fatal(err)
	}
	return client
}

// A service creates one client at start-up and shares it. New returns an error only for an
// invalid Config; the client it returns may not be ready yet, which WaitForInitialization
// and Status tell.
func ExampleNew() {
	client, err := fbclient.New(fbclient.Config{
		EnvSecret:    "v3faJy3RCUO8d-EJiVdN6waRfGjfNan02Ms9c0LiTD6w",
		StreamingURL: "ws://127.0.0.1:1", // nothing listens here
		StartWait:    -1,                 // do not wait for data in New
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(client.WaitForInitialization(ctx) != nil, client.Status().State)

	// Until data arrives, every evaluation returns the caller's default.
	fmt.Println(client.Variation("any-flag", fbclient.NewUser("u"), "default"))

	_, err = fbclient.New(fbclient.Config{StreamingURL: "wss://featbit.example"})
	fmt.Println(err)
	// Output:
	// true not ready
	// default
	// fbclient: invalid config: EnvSecret is required unless Offline is set
}

// Offline mode loads FeatBit's data-sync JSON from a file and opens no connection: the way
// to run a service's unit tests against fixed flags.
func ExampleConfig_offline() {
	client, err := fbclient.New(fbclient.Config{Offline: true, DataFile: "testdata/featbit_test_data.json"})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	fmt.Println(client.Initialized(), client.Status().State)

	_, err = fbclient.New(fbclient.Config{Offline: true, DataFile: "testdata/missing.json"})
	fmt.Println(err != nil)
	// Output:
	// true ready
	// true
}

func ExampleClient_Variation() {
	client := offlineClient()
	defer client.Close()

	user := fbclient.NewUser("test-user-1").WithCustom("country", "us")
	fmt.Println(client.Variation("ff-test-seg", user, "teamZ"))
	fmt.Println(client.Variation("no-such-flag", user, "teamZ"))
	// Output:
	// teamA
	// teamZ
}

func ExampleClient_BoolVariation() {
	client := offlineClient()
	defer client.Close()

	fmt.Println(client.BoolVariation("ff-test-bool", fbclient.NewUser("test-user-1"), false))
	fmt.Println(client.IntVariation("ff-test-number", fbclient.NewUser("u").WithCustom("country", "fr"), 0))
	fmt.Println(client.Float64Variation("ff-test-number", fbclient.NewUser("u").WithCustom("country", "cn"), 0))
	// A string flag is not a bool: the default comes back.
	fmt.Println(client.BoolVariation("ff-test-string", fbclient.NewUser("u"), true))
	// Output:
	// true
	// 33
	// 86
	// true
}

func ExampleClient_VariationDetail() {
	client := offlineClient()
	defer client.Close()

	d := client.VariationDetail("ff-evaluation-test", fbclient.NewUser("u").WithCustom("salary", "2500"), "none")
	fmt.Println(d.Value, "|", d.Reason, "|", d.InExperiment, d.Err)

	_, d = client.BoolVariationDetail("ff-test-string", fbclient.NewUser("u"), false)
	fmt.Println(d.Reason, "|", d.Err)
	// Output:
	// teamE | rule match | true <nil>
	// wrong type | fbclient: flag type doesn't match the request
}

func ExampleJSONVariation() {
	client := offlineClient()
	defer client.Close()

	type prize struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	p := fbclient.JSONVariation(client, "ff-test-json", fbclient.NewUser("test-user-1"), prize{Code: -1})
	fmt.Println(p.Code, p.Reason)
	// Output:
	// 200 you win 100 euros
}

// A value that does not fit the type is never decoded halfway: a key the type has no field
// for is a wrong-type fallback to the default, with the decoder's error.
func ExampleJSONVariationDetail() {
	client := offlineClient()
	defer client.Close()

	type codeOnly struct {
		Code int `json:"code"`
	}
	v, d := fbclient.JSONVariationDetail(client, "ff-test-json", fbclient.NewUser("test-user-1"), codeOnly{Code: -1})
	fmt.Println(v.Code, "|", d.Reason, "|", d.Err)
	// Output:
	// -1 | wrong type | fbclient: flag type doesn't match the request: json: unknown field "reason"
}

// Explain tells why a user gets a value: the targets, each rule's conditions with the user's
// values, the rollout bucket and the slice that served, and the experiment decision.
func ExampleClient_Explain() {
	client := offlineClient()
	defer client.Close()

	fmt.Print(client.Explain("ff-evaluation-test", fbclient.NewUser("test-user").WithCustom("country", "CHN")))
	fmt.Print(client.Explain("ff-test-bool", fbclient.NewUser("test-user-3")))
	// Output:
	// flag "ff-evaluation-test" for user "test-user": "teamD" (rule match, variation 0918afd7-c0e3-4daf-af72-be62d8c92de0)
	//   flag is on
	//   individual targets: the user's key is not one of 1
	//   rule 1 "True Rule": no match
	//     graduated (absent) IsTrue "IsTrue": false
	//   rule 2 "Equal Rule": match
	//     country = "CHN" Equal "CHN": true
	//   rule 2 "Equal Rule" serves "teamD" to everyone (variation 0918afd7-c0e3-4daf-af72-be62d8c92de0)
	//   experiment: included: the flag sends every evaluation to experiments
	// flag "ff-test-bool" for user "test-user-3": "false" (fall through all rules, variation 43a1b83b-18df-42a6-971c-b2518455d8f2)
	//   flag is on
	//   individual targets: the user's key is not one of 2
	//   default rule serves by name = "test-user-3", bucket 0.645237626042217:
	//      [0, 0.5] "true" (variation 18b369f8-453f-46d7-88cc-fe41d29ca6e3)
	//    > [0.5, 1] "false" (variation 43a1b83b-18df-42a6-971c-b2518455d8f2)
	//   experiment: included: the flag sends every evaluation to experiments
}

func ExampleClient_AllVariations() {
	client := offlineClient()
	defer client.Close()

	all := client.AllVariations(fbclient.NewUser("test-user-2").WithCustom("country", "fr"))
	for key, d := range all.All() {
		fmt.Printf("%s=%s (%s)\n", key, d.Value, d.Reason)
	}
	b, _ := json.Marshal(all)
	var bootstrap []map[string]any
	_ = json.Unmarshal(b, &bootstrap)
	fmt.Println(len(bootstrap), bootstrap[1]["id"], bootstrap[1]["variation"])
	// Output:
	// ff-evaluation-test=teamA (fall through all rules)
	// ff-test-bool=true (target match)
	// ff-test-json={
	//     "code": 404,
	//     "reason": "fail to win the lottery"
	// } (fall through all rules)
	// ff-test-number=33 (rule match)
	// ff-test-off=false (flag off)
	// ff-test-seg=teamB (fall through all rules)
	// ff-test-string=others (fall through all rules)
	// 7 ff-test-bool true
}

func ExampleClient_On() {
	client := offlineClient()
	defer client.Close()

	evaluated := make(chan fbclient.Event, 1)
	off := client.On(fbclient.EventEvaluation, func(e fbclient.Event) { evaluated <- e })
	defer off()

	client.BoolVariation("ff-test-bool", fbclient.NewUser("test-user-1"), false)
	e := <-evaluated
	fmt.Println(e.Type, "|", e.Evaluation.FlagKey, e.Evaluation.User.Key(), e.Evaluation.Value, "|", e.Evaluation.Reason)

	ready := make(chan struct{})
	client.On(fbclient.EventClientReady, func(fbclient.Event) { close(ready) }) // already ready: told at once
	<-ready
	fmt.Println("ready")
	// Output:
	// evaluation | ff-test-bool test-user-1 true | target match
	// ready
}

func ExampleUser() {
	base := fbclient.NewUser("user-42")
	jane := base.WithName("Jane").WithCustom("plan", "pro")
	plan, _ := jane.Custom("plan")
	fmt.Println(base.Name(), jane.Name(), plan)
	b, _ := json.Marshal(jane)
	fmt.Println(string(b))
	// Output:
	// user-42 Jane pro
	// {"keyId":"user-42","name":"Jane","customizedProperties":[{"name":"plan","value":"pro"}]}
}

// Track and TrackMetric record custom events for FeatBit's experiments; they are sent in
// batches with the evaluation events. Here a fake FeatBit server receives them.
func ExampleClient_Track() {
	srv := fbtest.NewServer()
	defer srv.Close()
	srv.SetFlags(fbtest.Flag("pricing").Numbers(20, 25).Fallthrough(1))

	client, err := fbclient.New(fbclient.Config{
		EnvSecret:    srv.Secret(),
		StreamingURL: srv.StreamingURL(),
		EventsURL:    srv.EventsURL(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	user := fbclient.NewUser("user-42")
	price := client.IntVariation("pricing", user, 20)
	if err := client.TrackMetric(user, "checkout", float64(price)); err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.Track(user, " "))

	// Events are sent every second, or now: FlushAndWait returns once they are delivered.
	if err := client.FlushAndWait(context.Background()); err != nil {
		log.Fatal(err)
	}
	for _, e := range srv.Events() {
		for _, v := range e.Variations {
			fmt.Println("evaluation:", e.User.KeyID, v.FeatureFlagKey, v.Variation.Value)
		}
		for _, m := range e.Metrics {
			fmt.Println("metric:", e.User.KeyID, m.EventName, m.NumericValue)
		}
	}
	// Output:
	// fbclient: invalid event name
	// evaluation: user-42 pricing 25
	// metric: user-42 checkout 25
}
