package fbclient

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
)

// Base URLs that already hold an endpoint's path, a query or another scheme are errors that
// say what to write instead, and never repeat a query, which may hold a token.
func TestConfigURLMistakes(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"streaming endpoint", Config{StreamingURL: "wss://fb.example/streaming"}, `StreamingURL path "/streaming" already contains /streaming, which the SDK adds itself: use the base URL "wss://fb.example"`},
		{"streaming endpoint, slash", Config{StreamingURL: "ws://fb.example:5100/featbit/streaming/"}, `use the base URL "ws://fb.example:5100/featbit"`},
		{"streaming endpoint, case", Config{StreamingURL: "https://fb.example/Streaming"}, `use the base URL "https://fb.example"`},
		{"events endpoint", Config{StreamingURL: "wss://fb.example", EventsURL: "https://fb.example/api/public/insight/track"}, `EventsURL path "/api/public/insight/track" already contains /api/public/insight/track, which the SDK adds itself: use the base URL "https://fb.example"`},
		{"events, part of the endpoint", Config{StreamingURL: "wss://fb.example", EventsURL: "https://fb.example/x/api/public/"}, `use the base URL "https://fb.example/x"`},
		{"polling endpoint", Config{StreamingURL: "wss://fb.example", PollingURL: "https://fb.example/api/public/sdk/server/latest-all"}, `PollingURL path "/api/public/sdk/server/latest-all" already contains`},
		{"streaming URL of the events endpoint", Config{StreamingURL: "wss://fb.example/api/public/insight/track"}, `StreamingURL path "/api/public/insight/track"`},
		{"endpoint with its query", Config{StreamingURL: "wss://fb.example/streaming?type=server&token=tok3n"}, "StreamingURL must not have a query"},
		{"empty query", Config{StreamingURL: "wss://fb.example/?"}, "StreamingURL must not have a query"},
		{"no scheme", Config{StreamingURL: "fb.example:5100"}, "StreamingURL must be an absolute ws://, wss://, http:// or https:// URL"},
		{"other scheme", Config{StreamingURL: "grpc://fb.example"}, "StreamingURL must be an absolute"},
		{"ws events", Config{StreamingURL: "wss://fb.example", EventsURL: "wss://fb.example"}, "EventsURL must be an http:// or https:// URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.EnvSecret = testSecret
			_, err := cfg.resolve()
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.msg)
			assert.NotContains(t, err.Error(), "tok3n")
		})
	}
}

// Paths that only look like an endpoint's are base paths like any other.
func TestConfigURLPathsKept(t *testing.T) {
	for base, streaming := range map[string]string{
		"wss://fb.example/streaming-proxy":  "wss://fb.example/streaming-proxy/streaming",
		"wss://fb.example/livestreaming":    "wss://fb.example/livestreaming/streaming",
		"wss://fb.example/api":              "wss://fb.example/api/streaming",
		"wss://fb.example/api/publications": "wss://fb.example/api/publications/streaming",
	} {
		r, err := Config{EnvSecret: testSecret, StreamingURL: base}.resolve()
		require.NoError(t, err, base)
		assert.Equal(t, streaming, r.streamingURL.String())
	}
}

// The copy-and-paste mistake that used to pass: a StreamingURL ending in /streaming connected
// to /streaming/streaming, which FeatBit (and fbtest) upgrade as they match the path's
// first segment, so the client became ready while every event batch went to a path that
// does not exist. New now refuses it.
func TestStreamingEndpointAsBaseURL(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	c, err := New(Config{EnvSecret: srv.Secret(), StreamingURL: srv.StreamingURL() + "/streaming", StartWait: -1})
	assert.Nil(t, c)
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), `use the base URL "`+srv.StreamingURL()+`"`)
	assert.Zero(t, srv.Stats().StreamAttempts)
}

// A base URL whose path the server does not serve is answered 404 without an upgrade, as
// FeatBit answers: the client never becomes ready and says why.
func TestUnknownPathNotUpgraded(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t, fbtest.WithPathPrefix("/featbit"))
	wrong := strings.TrimSuffix(srv.StreamingURL(), "/featbit") // without the prefix
	failed := make(chan error, 10)
	c, err := New(Config{EnvSecret: srv.Secret(), StreamingURL: wrong, StartWait: -1, DisableEvents: true,
		Listeners: []Listener{{Events: []EventType{EventNetworkFetchError}, Func: func(e Event) { failed <- e.Err }}}})
	require.NoError(t, err)
	defer c.Close()
	select {
	case err := <-failed:
		assert.Contains(t, err.Error(), "404")
	case <-testCtx(t).Done():
		t.Fatal("no fetch error")
	}
	assert.False(t, c.Initialized())
	assert.Zero(t, srv.Stats().StreamAttempts, "no upgrade")
}
