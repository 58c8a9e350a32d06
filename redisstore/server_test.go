package redisstore

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// redisServer is a redis-server process of a test, on 127.0.0.1, with no persistence. It
// can be stopped (killed, as in a crash) and started again on the same port.
type redisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
}

// startRedis starts a redis-server for t and stops it at the end of the test. It fails the
// test when redis-server is not installed: install Debian's redis-server package.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin = "/usr/bin/redis-server"
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("redis-server is not installed (apt-get install redis-server): %v", err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	s := &redisServer{t: t, bin: bin, dir: t.TempDir(), port: port}
	s.Start()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			t.Logf("redis-server log:\n%s", b)
		}
	})
	return s
}

// Addr is the server's host:port.
func (s *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Start starts the server (again) and waits until it answers.
func (s *redisServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", "--logfile", filepath.Join(s.dir, "redis.log"))
	require.NoError(s.t, cmd.Start())
	s.cmd = cmd
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for rdb.Ping(ctx).Err() != nil {
		select {
		case <-ctx.Done():
			s.t.Fatalf("redis-server on %s did not answer: %v", s.Addr(), ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Stop kills the server, as a crash would, and waits for it to exit.
func (s *redisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Client returns a go-redis client of the server, closed at the end of the test. Retries and
// timeouts are short, so a stopped server is noticed quickly.
func (s *redisServer) Client() *redis.Client {
	rdb := redis.NewClient(&redis.Options{
		Addr:         s.Addr(),
		DialTimeout:  time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		MaxRetries:   -1,
	})
	s.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
