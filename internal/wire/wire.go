// Package wire holds the JSON shapes of FeatBit's server-side SDK protocol: the message
// envelope, the data-sync payload, flags and segments, and the insight-event body.
//
// The types mirror what a FeatBit evaluation server sends and accepts. Unknown fields are
// ignored when decoding; null arrays decode as empty.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Message types used on the streaming connection.
const (
	MessageDataSync = "data-sync"
	MessagePing     = "ping"
	MessagePong     = "pong"
	MessageEcho     = "echo"
)

// Data-sync event types.
const (
	EventFull  = "full"
	EventPatch = "patch"
)

// Message is the envelope of every streaming message, in both directions.
type Message struct {
	MessageType string          `json:"messageType"`
	Data        json.RawMessage `json:"data"`
}

// DataSync is the payload of a data-sync message and of the latest-all polling response.
type DataSync struct {
	EventType    string    `json:"eventType"`
	FeatureFlags []Flag    `json:"featureFlags"`
	Segments     []Segment `json:"segments"`
}

// Flag is a feature flag as FeatBit serializes it.
type Flag struct {
	ID                    string       `json:"id"`
	EnvID                 string       `json:"envId,omitempty"`
	Name                  string       `json:"name"`
	Key                   string       `json:"key"`
	VariationType         string       `json:"variationType"`
	Variations            []Variation  `json:"variations"`
	TargetUsers           []TargetUser `json:"targetUsers"`
	Rules                 []Rule       `json:"rules"`
	IsEnabled             bool         `json:"isEnabled"`
	DisabledVariationID   string       `json:"disabledVariationId"`
	Fallthrough           Fallthrough  `json:"fallthrough"`
	ExptIncludeAllTargets bool         `json:"exptIncludeAllTargets"`
	Tags                  []string     `json:"tags"`
	UpdatedAt             string       `json:"updatedAt"`
	IsArchived            bool         `json:"isArchived"`
}

// Variation is one value a flag can serve. Value is always a string, whatever the flag type.
type Variation struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Value string `json:"value"`
}

// TargetUser serves VariationID to the listed user keys.
type TargetUser struct {
	KeyIDs      []string `json:"keyIds"`
	VariationID string   `json:"variationId"`
}

// Rule is a targeting rule: all conditions must match, then the rollout picks a variation.
type Rule struct {
	ID             string             `json:"id"`
	Name           string             `json:"name"`
	DispatchKey    string             `json:"dispatchKey"`
	IncludedInExpt bool               `json:"includedInExpt"`
	Conditions     []Condition        `json:"conditions"`
	Variations     []RolloutVariation `json:"variations"`
}

// Fallthrough is the rollout served when no target or rule matches.
type Fallthrough struct {
	DispatchKey    string             `json:"dispatchKey"`
	IncludedInExpt bool               `json:"includedInExpt"`
	Variations     []RolloutVariation `json:"variations"`
}

// RolloutVariation serves variation ID to users whose bucket falls in Rollout.
type RolloutVariation struct {
	ID          string    `json:"id"`
	Rollout     []float64 `json:"rollout"`
	ExptRollout float64   `json:"exptRollout"`
}

// Condition compares one user attribute with Value, or tests segment membership when
// Property is SegmentIn or SegmentNotIn.
type Condition struct {
	ID       string `json:"id,omitempty"`
	Property string `json:"property"`
	Op       string `json:"op"`
	Value    string `json:"value"`
	// ValueNull is set by the decoder when value is JSON null, which makes every operator
	// false on FeatBit's evaluation server. encoding/json leaves it unset.
	ValueNull bool `json:"-"`
}

// Segment properties of a condition.
const (
	SegmentIn    = "User is in segment"
	SegmentNotIn = "User is not in segment"
)

// Segment is a reusable group of users.
type Segment struct {
	ID          string        `json:"id"`
	EnvID       string        `json:"envId,omitempty"`
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Included    []string      `json:"included"`
	Excluded    []string      `json:"excluded"`
	Rules       []SegmentRule `json:"rules"`
	UpdatedAt   string        `json:"updatedAt"`
	IsArchived  bool          `json:"isArchived"`
}

// SegmentRule matches a user when all its conditions match.
type SegmentRule struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Conditions []Condition `json:"conditions"`
}

// Version converts an updatedAt timestamp to FeatBit's item version: Unix milliseconds,
// truncated, as the server compares them.
func Version(updatedAt string) (int64, error) {
	if updatedAt == "" {
		return 0, errors.New("updatedAt is missing")
	}
	t, err := time.Parse(time.RFC3339Nano, updatedAt)
	if err != nil {
		return 0, fmt.Errorf("updatedAt %q is not an RFC 3339 time", updatedAt)
	}
	return t.UnixMilli(), nil
}

// FormatVersion is the inverse of Version, for servers and builders that need an updatedAt.
func FormatVersion(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// DecodeDataSet decodes a data set in any of the shapes FeatBit produces: the data-sync
// envelope ({"messageType":"data-sync","data":{...}}, the latest-all response), or a bare
// payload ({"featureFlags":[...],"segments":[...]}). A bare payload without eventType is a
// full data set.
func DecodeDataSet(b []byte) (*DataSync, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil, errors.New("empty document")
	}
	if t[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	start := len(b) - len(bytes.TrimLeftFunc(b, unicode.IsSpace))
	return decodeDataSet(b, start, start+len(t))
}

// DecodeDataSync decodes the "data" of a data-sync message and checks its shape: eventType
// must be full or patch, featureFlags and segments arrays (null is read as empty). Items are
// checked one by one when they are compiled, so one bad item does not cost the others.
func DecodeDataSync(b []byte) (*DataSync, error) {
	var ds DataSync
	if err := unmarshalDataSync(b, &ds); err != nil {
		return nil, err
	}
	if err := checkEventType(&ds); err != nil {
		return nil, err
	}
	return &ds, nil
}

// checkEventType accepts the eventType values a data-sync payload may carry.
func checkEventType(ds *DataSync) error {
	switch ds.EventType {
	case EventFull, EventPatch, "":
		return nil
	}
	return fmt.Errorf("eventType is %q, want %q or %q", ds.EventType, EventFull, EventPatch)
}

// describeJSONError turns a decoding error into a message with a line and column.
func describeJSONError(b []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(b)) {
		return fmt.Errorf("invalid JSON: %s", trimJSONPrefix(err))
	}
	return positionError(b, int(off), trimJSONPrefix(err))
}

// positionError describes a problem found at byte offset off of b, with a line and column.
func positionError(b []byte, off int, msg string) error {
	line := 1 + bytes.Count(b[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(b[:off], '\n')
	return fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, msg)
}

func trimJSONPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}
