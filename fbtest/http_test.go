package fbtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/featflags/fbclient/internal/wire"
)

func mustRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func poll(t *testing.T, srv *Server, query, auth string) (int, []byte) {
	t.Helper()
	code, body, err := pollRaw(httpClient(t), srv, query, auth)
	if err != nil {
		t.Fatalf("latest-all: %v", err)
	}
	return code, body
}

// pollRaw requests latest-all; it is safe to call from any goroutine.
func pollRaw(c *http.Client, srv *Server, query, auth string) (int, []byte, error) {
	req, err := http.NewRequest("GET", srv.URL()+LatestAllPath+query, nil)
	if err != nil {
		return 0, nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func TestLatestAll(t *testing.T) {
	srv := NewTestServer(t, WithClock(fixedClock(t0)))
	va, vs, _, vb := dataSet(srv)
	for _, tc := range []struct {
		name, query string
		eventType   string
		flags, segs []string
	}{
		{"no timestamp", "", "full", []string{"a", "x", "b"}, []string{"s"}},
		{"zero", "?timestamp=0", "full", []string{"a", "x", "b"}, []string{"s"}},
		{"empty value", "?timestamp=", "full", []string{"a", "x", "b"}, []string{"s"}},
		{"patch", "?timestamp=" + itoa(va), "patch", []string{"x", "b"}, []string{"s"}},
		{"patch after segment", "?timestamp=" + itoa(vs), "patch", []string{"x", "b"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := poll(t, srv, tc.query, srv.Secret())
			if code != 200 {
				t.Fatalf("status %d", code)
			}
			ds, err := wire.DecodeDataSet(body)
			if err != nil {
				t.Fatalf("decode: %v (%s)", err, body)
			}
			flags, segs := keys(ds)
			if ds.EventType != tc.eventType || !slices.Equal(flags, tc.flags) || !slices.Equal(segs, tc.segs) {
				t.Errorf("got %s %v %v, want %s %v %v", ds.EventType, flags, segs, tc.eventType, tc.flags, tc.segs)
			}
		})
	}
	t.Run("nothing changed", func(t *testing.T) {
		code, body := poll(t, srv, "?timestamp="+itoa(vb), srv.Secret())
		if code != 200 || len(body) != 0 {
			t.Errorf("status %d body %q, want 200 and no body", code, body)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, query, auth string
			code              int
		}{
			{"no secret", "", "", 401},
			{"wrong secret", "", strings.Repeat("A", 44), 401},
			{"bearer", "", "Bearer " + srv.Secret(), 401},
			{"not a number", "?timestamp=abc", srv.Secret(), 400},
			{"decimal", "?timestamp=1.5", srv.Secret(), 400},
		} {
			code, body := poll(t, srv, tc.query, tc.auth)
			if code != tc.code {
				t.Errorf("%s: status %d, want %d", tc.name, code, tc.code)
			}
			if bytes.Contains(body, []byte(srv.Secret())) {
				t.Errorf("%s: body contains the secret", tc.name)
			}
		}
	})
	reqs := srv.DataSyncRequests()
	if len(reqs) != 6 || !reqs[0].Polling || reqs[0].Stream != 0 || reqs[3].Timestamp != va {
		t.Errorf("requests = %+v", reqs)
	}
	if got := srv.Stats().PollRequests; got != 11 {
		t.Errorf("PollRequests = %d, want 11", got)
	}
}

func TestLatestAllEmptyFull(t *testing.T) {
	srv := NewTestServer(t)
	code, body := poll(t, srv, "", srv.Secret())
	if code != 200 || string(body) != `{"messageType":"data-sync","data":{"eventType":"full","featureFlags":[],"segments":[]}}` {
		t.Errorf("status %d body %s", code, body)
	}
}

func TestLoadJSON(t *testing.T) {
	srv := NewTestServer(t)
	for _, file := range []string{"../testdata/featbit_test_data.json"} {
		b := readFile(t, file)
		if err := srv.LoadJSON(b); err != nil {
			t.Fatal(err)
		}
	}
	code, body := poll(t, srv, "", srv.Secret())
	ds, err := wire.DecodeDataSet(body)
	if code != 200 || err != nil || len(ds.FeatureFlags) != 7 || len(ds.Segments) != 1 {
		t.Fatalf("status %d, err %v, body %.200s", code, err, body)
	}
	// A later change gets a version above everything loaded.
	before := srv.DataVersion()
	if v := srv.SetFlags(Flag("new")); v <= before {
		t.Errorf("version %d not above loaded data %d", v, before)
	}
	if err := srv.LoadJSON([]byte(`{"featureFlags":[{"key":"k"}],"segments":[]}`)); err == nil {
		t.Error("LoadJSON accepted a flag without updatedAt")
	}
	if err := srv.LoadJSON([]byte(`nope`)); err == nil {
		t.Error("LoadJSON accepted garbage")
	}
}

// insightBody is an insight request body in the shape FeatBit's SDKs send.
const insightBody = `[
  {
    "user": {"keyId": "test-user-1", "name": "test-user-1", "customizedProperties": [ {"name": "country", "value": "us"} ]},
    "variations": [
      {"featureFlagKey": "ff-test-bool", "sendToExperiment": true, "timestamp": 1700000000123,
       "variation": {"id": "18b369f8-0000", "value": "true", "reason": "target match"}}
    ]
  },
  {
    "user": {"keyId": "test-user-1", "name": "test-user-1", "customizedProperties": []},
    "metrics": [
      {"route": "index/metric", "type": "CustomEvent", "eventName": "checkout", "numericValue": 1,
       "appType": "goserverside", "timestamp": 1700000000456}
    ]
  },
  {"user": {"keyId": "test-user-2", "name": "Bob", "customizedProperties": []}}
]`

func track(t *testing.T, srv *Server, body, auth string) (int, http.Header) {
	t.Helper()
	return trackCtx(t, context.Background(), srv, body, auth)
}

func trackCtx(t *testing.T, ctx context.Context, srv *Server, body, auth string) (int, http.Header) {
	t.Helper()
	code, h, err := trackRaw(ctx, httpClient(t), srv, body, auth)
	if err != nil {
		t.Fatalf("track: %v", err)
	}
	return code, h
}

// trackRaw posts body to the track endpoint; it is safe to call from any goroutine.
func trackRaw(ctx context.Context, c *http.Client, srv *Server, body, auth string) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", srv.EventsURL()+TrackPath, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "fbtest-test")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header, err
}

func TestTrack(t *testing.T) {
	srv := NewTestServer(t)
	if code, _ := track(t, srv, insightBody, srv.Secret()); code != 200 {
		t.Fatalf("status %d", code)
	}
	evs := srv.Events()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	v := evs[0].Variations[0]
	if evs[0].User.KeyID != "test-user-1" || evs[0].User.CustomizedProperties[0] != (CustomProperty{Name: "country", Value: "us"}) ||
		v.FeatureFlagKey != "ff-test-bool" || !v.SendToExperiment || v.Timestamp != 1700000000123 ||
		v.Variation != (ServedVariation{ID: "18b369f8-0000", Value: "true", Reason: "target match"}) {
		t.Errorf("item 0 = %+v", evs[0])
	}
	m := evs[1].Metrics[0]
	if m != (Metric{Route: wire.MetricRoute, Type: wire.MetricTypeCustom, EventName: "checkout", NumericValue: 1, AppType: wire.AppTypeGoServer, Timestamp: 1700000000456}) {
		t.Errorf("metric = %+v", m)
	}
	if evs[2].User.Name != "Bob" || evs[2].Variations != nil || evs[2].Metrics != nil {
		t.Errorf("identify = %+v", evs[2])
	}
	// Re-encoding gives the same JSON as the input.
	re, _ := json.Marshal(evs)
	var a, b any
	_ = json.Unmarshal(re, &a)
	_ = json.Unmarshal([]byte(insightBody), &b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("re-encoded\n%s\nwant\n%s", ja, jb)
	}

	reqs := srv.EventRequests()
	if len(reqs) != 1 || reqs[0].Status != 200 || reqs[0].Items != 3 || reqs[0].Bytes != len(insightBody) ||
		reqs[0].Header.Get("User-Agent") != "fbtest-test" || reqs[0].Header.Get("Authorization") != srv.Secret() {
		t.Errorf("request = %+v", reqs[0])
	}
}

func TestTrackRejects(t *testing.T) {
	srv := NewTestServer(t)
	for _, tc := range []struct {
		name, body, auth string
		code             int
	}{
		{"no secret", insightBody, "", 401},
		{"wrong secret", insightBody, strings.Repeat("B", 44), 401},
		{"not JSON", `[{`, srv.Secret(), 400},
		{"not an array", `{"user":{"keyId":"u"}}`, srv.Secret(), 400},
		{"null body", `null`, srv.Secret(), 400},
		{"empty body", ``, srv.Secret(), 400},
		{"null variations", `[{"user":{"keyId":"u"},"variations":null}]`, srv.Secret(), 400},
		{"null metrics", `[{"user":{"keyId":"u"},"metrics":null}]`, srv.Secret(), 400},
		{"empty variation value", `[{"user":{"keyId":"u"},"variations":[{"featureFlagKey":"f","timestamp":1,"variation":{"id":"i","value":""}}]}]`, srv.Secret(), 400},
		{"missing variation id", `[{"user":{"keyId":"u"},"variations":[{"featureFlagKey":"f","timestamp":1,"variation":{"value":"v"}}]}]`, srv.Secret(), 400},
		{"number property", `[{"user":{"keyId":"u","customizedProperties":[{"name":"n","value":1}]}}]`, srv.Secret(), 400},
		{"decimal timestamp", `[{"user":{"keyId":"u"},"variations":[{"featureFlagKey":"f","timestamp":1.5,"variation":{"id":"i","value":"v"}}]}]`, srv.Secret(), 400},
		{"null variation is skipped", `[{"user":{"keyId":"u"},"variations":[{"featureFlagKey":"f","timestamp":1,"variation":null}]}]`, srv.Secret(), 200},
		{"empty array", `[]`, srv.Secret(), 200},
	} {
		if code, _ := track(t, srv, tc.body, tc.auth); code != tc.code {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.code)
		}
	}
	reqs := srv.EventRequests()
	if len(reqs) != 14 || reqs[0].Status != 401 || reqs[2].Status != 400 {
		t.Errorf("requests = %+v", reqs)
	}
	if n := len(srv.Events()); n != 1 {
		t.Errorf("%d events accepted, want 1", n)
	}
}

func TestWaitForContextEnds(t *testing.T) {
	srv := NewTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := srv.WaitConnections(ctx, 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), srv.Secret()) {
		t.Error("error leaks the secret")
	}
}

func TestHealth(t *testing.T) {
	srv := NewTestServer(t)
	if code, _, _ := do(t, httpClient(t), mustRequest(t, "GET", srv.URL()+"/health/liveness", nil)); code != 200 {
		t.Errorf("liveness %d", code)
	}
	if code, _, _ := do(t, httpClient(t), mustRequest(t, "GET", srv.URL()+"/nope", nil)); code != 404 {
		t.Errorf("unknown path %d", code)
	}
	if code, _, _ := do(t, httpClient(t), mustRequest(t, "POST", srv.URL()+LatestAllPath, nil)); code != 405 {
		t.Errorf("POST latest-all %d", code)
	}
}
