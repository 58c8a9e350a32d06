package fbclient

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/internal/token"
	"github.com/featflags/fbclient/internal/wire"
)

// probe asks h over a real loopback server and returns the status code and decoded body.
func probe(t *testing.T, url, method string) (int, Health, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var raw json.RawMessage
	var h Health
	if method == http.MethodGet && resp.StatusCode != http.StatusMethodNotAllowed {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
		require.NoError(t, json.Unmarshal(raw, &h))
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	}
	return resp.StatusCode, h, string(raw)
}

// The handler follows the client through its states: not ready, ready, stale, failed,
// closed. The secret in a data source's error never reaches the body.
func TestHealthHandlerStates(t *testing.T) {
	checkLeaks(t)
	secret := token.FormatSecret(uuid.New(), uuid.New())
	c, sink := newWithSource(t, Config{EnvSecret: secret, DisableEvents: true})
	srv := httptest.NewServer(c.HealthHandler(HealthOptions{}))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()

	code, h, _ := probe(t, srv.URL, http.MethodGet)
	assert.Equal(t, http.StatusServiceUnavailable, code, "no data yet")
	assert.Equal(t, Health{State: "not ready", Since: h.Since}, h)

	sink.Started(Fetch{})
	sink.Apply(dataSet(t, full([]wire.Flag{boolFlag("a", true, 100)})), Fetch{})
	code, h, _ = probe(t, srv.URL, http.MethodGet)
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, h.Ready)
	assert.Equal(t, "ready", h.State)
	require.NotNil(t, h.LastSync)
	assert.Equal(t, c.Stats().Data.LastSync.UnixNano(), h.LastSync.UnixNano())
	assert.Zero(t, h.DataAgeSeconds)
	assert.Empty(t, h.Error)

	sink.Failed(errors.New("cannot reach wss://featbit.example/streaming?token=abc&secret="+secret+" at all"), Fetch{})
	code, h, raw := probe(t, srv.URL, http.MethodGet)
	assert.Equal(t, http.StatusOK, code, "stale is ready by default")
	assert.Equal(t, "stale", h.State)
	assert.Contains(t, h.Error, "cannot reach")
	assert.NotContains(t, raw, secret)
	assert.NotContains(t, raw, "token=")
	assertNoSecret(t, raw, secret)

	code, _, _ = probe(t, srv.URL, http.MethodHead)
	assert.Equal(t, http.StatusOK, code)
	code, _, _ = probe(t, srv.URL, http.MethodPost)
	assert.Equal(t, http.StatusMethodNotAllowed, code)

	sink.Stop(errors.New("environment " + secret + " is gone"))
	code, h, raw = probe(t, srv.URL, http.MethodGet)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "failed", h.State)
	assert.False(t, h.Ready)
	assert.Contains(t, h.Error, "is gone")
	assertNoSecret(t, raw, secret)

	require.NoError(t, c.Close())
	code, h, _ = probe(t, srv.URL, http.MethodGet)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "closed", h.State)
}

// MaxStaleAge bounds how long Stale is ready, measured from when the client became stale.
func TestHealthMaxStaleAge(t *testing.T) {
	checkLeaks(t)
	c, sink := newWithSource(t, Config{})
	sink.Apply(dataSet(t, full(nil)), Fetch{})
	sink.Failed(errors.New("lost"), Fetch{})
	since := c.Status().Since

	for _, tc := range []struct {
		max   time.Duration
		after time.Duration
		ready bool
	}{
		{0, time.Hour, true},
		{time.Minute, 0, true},
		{time.Minute, time.Minute, true},
		{time.Minute, time.Minute + time.Millisecond, false},
		{-1, 0, false},
	} {
		h := c.health(HealthOptions{MaxStaleAge: tc.max}, since.Add(tc.after))
		assert.Equal(t, tc.ready, h.Ready, "MaxStaleAge %v, stale for %v", tc.max, tc.after)
		assert.Equal(t, tc.after.Seconds(), h.DataAgeSeconds)
	}
}

// A nil client is closed, and not ready.
func TestHealthNilClient(t *testing.T) {
	var c *Client
	rec := httptest.NewRecorder()
	c.HealthHandler(HealthOptions{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	var h Health
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &h))
	assert.Equal(t, "closed", h.State)
}

// A client serving a data set from Config.Cache is as old as the data set's save: Stats and
// the handler say so, and MaxStaleAge applies to that age.
func TestHealthWarmStart(t *testing.T) {
	checkLeaks(t)
	savedAt := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	cache := newRecordingCache()
	cache.saved = []*DataSet{dataSet(t, full([]wire.Flag{boolFlag("a", true, 100)})).WithSavedAt(savedAt)}
	c, _ := newWithSource(t, Config{Cache: cache})
	require.True(t, c.Status().FromCache)

	s := c.Stats()
	assert.Equal(t, s.Time.Sub(savedAt), s.Data.Age)
	assert.True(t, s.Data.LastSync.IsZero(), "nothing came from the source")
	assert.Equal(t, 1, s.Data.Flags)
	now := savedAt.Add(time.Hour + time.Minute)
	assert.True(t, c.health(HealthOptions{}, now).Ready)
	assert.True(t, c.health(HealthOptions{MaxStaleAge: 2 * time.Hour}, now).Ready)
	h := c.health(HealthOptions{MaxStaleAge: time.Hour}, now)
	assert.False(t, h.Ready, "an hour-old cache is older than an hour")
	assert.Equal(t, (time.Hour + time.Minute).Seconds(), h.DataAgeSeconds)
}
