package fbtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
)

// Event is one insight item received at the track endpoint: a user with the flag
// evaluations and custom metrics recorded for it; an item with neither identifies the user.
// Its fields mirror FeatBit's JSON, and it encodes back to JSON that FeatBit accepts (empty
// lists are left out, as FeatBit rejects a null one).
type Event struct {
	User       EventUser    `json:"user"`                 // the user the item is for
	Variations []Evaluation `json:"variations,omitempty"` // flag evaluations, in recording order
	Metrics    []Metric     `json:"metrics,omitempty"`    // custom metrics, in recording order
}

// EventUser is the end user of an Event.
type EventUser struct {
	KeyID                string           `json:"keyId"`                // the user's key
	Name                 string           `json:"name"`                 // the user's name
	CustomizedProperties []CustomProperty `json:"customizedProperties"` // custom attributes
}

// CustomProperty is a custom attribute of an EventUser; FeatBit sends every value as a
// string.
type CustomProperty struct {
	Name  string `json:"name"`  // the attribute's name
	Value string `json:"value"` // its value
}

// Evaluation is one flag evaluation of an Event. Timestamp is in Unix milliseconds.
type Evaluation struct {
	FeatureFlagKey   string          `json:"featureFlagKey"`   // the flag's key
	SendToExperiment bool            `json:"sendToExperiment"` // counts for an experiment
	Timestamp        int64           `json:"timestamp"`        // when it was recorded
	Variation        ServedVariation `json:"variation"`        // what it served
}

// ServedVariation is the variation an Evaluation served: its id, its value as FeatBit
// writes values (always a string) and the reason, such as "target match".
type ServedVariation struct {
	ID     string `json:"id"`     // the variation's id
	Value  string `json:"value"`  // its value
	Reason string `json:"reason"` // why it was served
}

// Metric is one custom metric of an Event, such as a conversion or a revenue. Timestamp is
// in Unix milliseconds.
type Metric struct {
	Route        string  `json:"route"`        // "index/metric" from the Go SDKs
	Type         string  `json:"type"`         // "CustomEvent"
	EventName    string  `json:"eventName"`    // the name given to Track or TrackMetric
	NumericValue float64 `json:"numericValue"` // the metric's value (1 for Track)
	AppType      string  `json:"appType"`      // "goserverside" from the Go SDKs
	Timestamp    int64   `json:"timestamp"`    // when it was recorded
}

// problem is the body FeatBit (ASP.NET) sends with a 400 for an invalid insight batch.
const problem = `{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400}`

// serveTrack answers POST insight/track: 401 without the secret, 413 for a body over 30 MB,
// 400 for a body FeatBit would reject, else 200, unless a fault says otherwise.
func (s *Server) serveTrack(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	rec := EventRequest{Header: r.Header.Clone(), Time: s.now()}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInsightBody))
	rec.Bytes = len(body)
	var tooLarge *http.MaxBytesError
	switch {
	case !s.authorized(r):
		rec.Status = http.StatusUnauthorized
	case errors.As(err, &tooLarge):
		rec.Status = http.StatusRequestEntityTooLarge
	case err != nil:
		return // the client went away
	}
	var parseErr error
	if rec.Status == 0 {
		rec.Events, parseErr = decodeInsight(body)
		rec.Items = len(rec.Events)
	}
	if rec.Status != 0 {
		s.recordEventRequest(rec)
		w.WriteHeader(rec.Status)
		return
	}

	if !s.holdEventRequest(r) {
		if r.Context().Err() == nil {
			rec.Status = http.StatusServiceUnavailable // the server is closing
			w.WriteHeader(rec.Status)
		}
		s.recordEventRequest(rec) // Status 0: the client gave up
		return
	}

	s.mu.Lock()
	rec.Status = http.StatusOK
	var retryAfter string
	switch {
	case s.failEvents != 0:
		rec.Status = s.failStatus
		if s.failRetryAfter > 0 {
			retryAfter = strconv.FormatInt(int64(math.Ceil(s.failRetryAfter.Seconds())), 10)
		}
		if s.failEvents > 0 {
			s.failEvents--
		}
	case parseErr != nil:
		rec.Status = http.StatusBadRequest
	default:
		s.events = append(s.events, rec.Events...)
	}
	s.eventReqs = append(s.eventReqs, rec)
	s.changedLocked()
	s.mu.Unlock()

	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	if rec.Status == http.StatusBadRequest {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(rec.Status)
		_, _ = w.Write([]byte(problem))
		return
	}
	w.WriteHeader(rec.Status)
}

// holdEventRequest waits while HoldEvents is in force. It reports false if the request ended
// or the server closed first.
func (s *Server) holdEventRequest(r *http.Request) bool {
	s.mu.Lock()
	gate, closing := s.eventsGate, s.closing
	if gate == nil {
		s.mu.Unlock()
		return true
	}
	s.stats.HeldEventRequests++
	s.changedLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.stats.HeldEventRequests--
		s.changedLocked()
		s.mu.Unlock()
	}()
	select {
	case <-gate:
		return true
	case <-r.Context().Done():
		return false
	case <-closing:
		return false
	}
}

func (s *Server) recordEventRequest(rec EventRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eventReqs = append(s.eventReqs, rec)
	s.changedLocked()
}

// decodeInsight decodes an insight body. It returns the items it could decode, and an error
// when FeatBit would reject the batch: not a JSON array, a value of the wrong type, a null
// variations or metrics list, or a variation whose id or value is missing, null or empty.
func decodeInsight(body []byte) ([]Event, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, err
	}
	if raws == nil {
		return nil, errors.New("body is not an array")
	}
	events := make([]Event, 0, len(raws))
	var bad error
	for _, raw := range raws {
		if isNull(raw) {
			continue
		}
		var ev Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		events = append(events, ev)
		if bad == nil {
			bad = checkInsightItem(raw)
		}
	}
	return events, bad
}

func checkInsightItem(raw json.RawMessage) error {
	var item struct {
		Variations json.RawMessage `json:"variations"`
		Metrics    json.RawMessage `json:"metrics"`
	}
	if err := json.Unmarshal(raw, &item); err != nil {
		return err
	}
	if isNull(item.Variations) || isNull(item.Metrics) {
		return errors.New("variations and metrics must not be null")
	}
	if item.Variations == nil {
		return nil
	}
	var vars []struct {
		Variation json.RawMessage `json:"variation"`
	}
	if err := json.Unmarshal(item.Variations, &vars); err != nil {
		return err
	}
	for _, v := range vars {
		if v.Variation == nil || isNull(v.Variation) {
			continue // FeatBit skips the record
		}
		var rec struct {
			ID    *string `json:"id"`
			Value *string `json:"value"`
		}
		if err := json.Unmarshal(v.Variation, &rec); err != nil {
			return err
		}
		if rec.ID == nil || *rec.ID == "" || rec.Value == nil || *rec.Value == "" {
			return errors.New("variation id and value are required")
		}
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}
