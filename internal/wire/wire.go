// Package wire holds the JSON shapes of FeatBit's server-side SDK protocol: the message
// envelope, the data-sync payload, flags and segments, and the insight-event body.
//
// The types mirror what a FeatBit evaluation server sends and accepts. Unknown fields are
// ignored when decoding; null arrays decode as empty.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
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
	// ValueNull is set when value is JSON null, which makes every operator false on
	// FeatBit's evaluation server; Value is then "". A missing value is "", not null.
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
