// Command fleet runs a small fleet on one machine: a fake FeatBit server (fbtest), one writer
// client that mirrors its data set into Redis, and several reader clients that take their
// data from Redis and open no connection to FeatBit. It changes a flag in FeatBit and shows
// how long each reader takes to serve the change, and how many connections FeatBit saw.
//
//	go run ./examples/fleet                        # from redisstore/; starts redis-server from PATH
//	REDIS_ADDR=127.0.0.1:6379 go run ./examples/fleet
//
// With REDIS_ADDR it uses that Redis, and deletes the keys it wrote when it ends.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/featflags/fbclient/redisstore"
)

// readers is the number of reader clients.
const readers = 3

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv("REDIS_ADDR")); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

// run runs the demo against the Redis at addr, or against a redis-server it starts when addr
// is empty. It fails if a reader does not get the change within 10 s, or if FeatBit saw
// another number of connections than the writer's one.
func run(ctx context.Context, out io.Writer, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if addr == "" {
		a, stop, err := startRedis(ctx)
		if err != nil {
			return err
		}
		defer stop()
		addr = a
		fmt.Fprintln(out, "started redis-server on", addr)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()

	featbit := fbtest.NewServer()
	defer featbit.Close()
	banner := func(i int) *fbtest.FlagBuilder {
		return fbtest.Flag("banner").Strings("blue", "green").Fallthrough(i)
	}
	featbit.SetFlags(banner(0))
	secret, url := featbit.Secret(), featbit.StreamingURL()

	// Options shared by the writer and the readers: the environment's id names the keys.
	envID, err := fbclient.EnvIDFromSecret(secret)
	if err != nil {
		return err
	}
	opts := redisstore.Options{EnvID: envID}
	defer rdb.Del(context.Background(), "fbclient:{"+envID+"}:data", "fbclient:{"+envID+"}:lease")

	// The writer: a client connected to FeatBit whose cache is the Redis Writer. It is closed
	// before the Writer, so that its last save goes through.
	w, err := redisstore.NewWriter(rdb, opts)
	if err != nil {
		return err
	}
	defer w.Close()
	writer, err := fbclient.New(fbclient.Config{EnvSecret: secret, StreamingURL: url, Cache: w})
	if err != nil {
		return err
	}
	defer writer.Close()
	w.Follow(writer) // hold the lease only while in sync with FeatBit

	// The readers: no FeatBit connection for flags; insight events still go to FeatBit.
	src, err := redisstore.NewDataSource(rdb, opts)
	if err != nil {
		return err
	}
	seen := make(chan int, readers)
	fleet := make([]*fbclient.Client, readers)
	for i := range fleet {
		c, err := fbclient.New(fbclient.Config{EnvSecret: secret, StreamingURL: url, DataSource: src})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.WaitForInitialization(ctx); err != nil {
			return fmt.Errorf("reader %d: %w", i, err)
		}
		c.On(fbclient.EventFlagChanged, func(fbclient.Event) {
			select {
			case seen <- i:
			default:
			}
		})
		fleet[i] = c
	}
	user := fbclient.NewUser("ann")
	for i, c := range fleet {
		fmt.Fprintf(out, "reader %d: banner = %s\n", i, c.Variation("banner", user, "none"))
	}

	start := time.Now()
	featbit.SetFlags(banner(1))
	fmt.Fprintln(out, "changed banner in FeatBit")
	for range readers {
		select {
		case i := <-seen:
			fmt.Fprintf(out, "reader %d: banner = %s, %.1f ms after the change\n", i, fleet[i].Variation("banner", user, "none"), float64(time.Since(start).Microseconds())/1000)
		case <-time.After(10 * time.Second):
			return errors.New("a reader did not get the change within 10 s")
		}
	}
	n := featbit.Stats().StreamsAccepted
	fmt.Fprintf(out, "FeatBit accepted %d connection(s) for 1 writer and %d readers\n", n, readers)
	if n != 1 {
		return fmt.Errorf("FeatBit accepted %d connections, not 1", n)
	}
	return nil
}

// startRedis starts a redis-server from PATH on a free port of 127.0.0.1, without
// persistence, and waits until it answers. stop ends it.
func startRedis(ctx context.Context) (addr string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("set REDIS_ADDR, or install redis-server: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "fleet-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	for rdb.Ping(ctx).Err() != nil {
		select {
		case <-ctx.Done():
			stop()
			return "", nil, fmt.Errorf("redis-server on %s does not answer: %w", addr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return addr, stop, nil
}
