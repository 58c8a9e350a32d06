package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func leakCheck(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// Every reader serves the change, and FeatBit sees the writer's connection only (run fails
// otherwise), with a redis-server the program starts itself.
func TestFleet(t *testing.T) {
	leakCheck(t)
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, ""), out.String())
	assert.Equal(t, readers, strings.Count(out.String(), "banner = blue\n"), out.String())
	assert.Equal(t, readers, strings.Count(out.String(), "banner = green,"), out.String())
}

// With REDIS_ADDR, the program uses that Redis and leaves no key behind.
func TestFleetGivenRedis(t *testing.T) {
	leakCheck(t)
	addr, stop, err := startRedis(t.Context())
	require.NoError(t, err)
	defer stop()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, addr), out.String())
	assert.NotContains(t, out.String(), "started redis-server")
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	keys, err := rdb.Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys)
}
