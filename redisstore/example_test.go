package redisstore_test

import (
	"log"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/redisstore"
)

// A writer process: a client connected to FeatBit mirrors its data set into Redis, and
// starts warm from Redis when FeatBit is unreachable at start. Run it in two processes or
// more: a lease lets one write at a time.
func ExampleNewWriter() {
	secret := os.Getenv("FEATBIT_ENV_SECRET")
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"redis:6379"}})
	defer rdb.Close()
	envID, err := fbclient.EnvIDFromSecret(secret) // the env id is not secret
	if err != nil {
		log.Fatal(err)
	}
	w, err := redisstore.NewWriter(rdb, redisstore.Options{EnvID: envID})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close() // after the client
	client, err := fbclient.New(fbclient.Config{
		EnvSecret:    secret,
		StreamingURL: "wss://featbit.example.com",
		Cache:        w,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	w.Follow(client) // hold the lease only while in sync with FeatBit

	_ = client.BoolVariation("new-checkout", fbclient.NewUser("u1"), false)
}

// A reader process ("daemon mode"): the client takes its data from Redis and opens no
// connection to FeatBit for flags. Insight events still go to FeatBit.
func ExampleNewDataSource() {
	secret := os.Getenv("FEATBIT_ENV_SECRET")
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"redis:6379"}})
	defer rdb.Close()
	envID, err := fbclient.EnvIDFromSecret(secret)
	if err != nil {
		log.Fatal(err)
	}
	src, err := redisstore.NewDataSource(rdb, redisstore.Options{EnvID: envID})
	if err != nil {
		log.Fatal(err)
	}
	client, err := fbclient.New(fbclient.Config{
		EnvSecret:    secret,
		StreamingURL: "wss://featbit.example.com", // for insight events
		DataSource:   src,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	_ = client.BoolVariation("new-checkout", fbclient.NewUser("u1"), false)
}
