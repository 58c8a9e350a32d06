package fbclient

// Reason says why an evaluation returned its value. The strings are those of FeatBit's SDKs,
// and "flag archived" that of FeatBit's evaluation server.
type Reason uint8

// Reasons. The first four are successful evaluations; the others return the caller's default.
const (
	ReasonOff              Reason = iota + 1 // the flag is off and serves its off variation
	ReasonTargetMatch                        // the user is individually targeted
	ReasonRuleMatch                          // a targeting rule matched
	ReasonFallthrough                        // no target or rule matched; the default rule served
	ReasonClientNotReady                     // no data set has been received yet
	ReasonFlagNotFound                       // no such flag
	ReasonUserNotSpecified                   // the user's key is blank
	ReasonWrongType                          // the served value does not convert to the requested type
	ReasonError                              // the flag cannot be evaluated (malformed definition)
	ReasonFlagArchived                       // the flag is archived
)

var reasonStrings = [...]string{
	ReasonOff:              "flag off",
	ReasonTargetMatch:      "target match",
	ReasonRuleMatch:        "rule match",
	ReasonFallthrough:      "fall through all rules",
	ReasonClientNotReady:   "client not ready",
	ReasonFlagNotFound:     "flag not found",
	ReasonUserNotSpecified: "user not specified",
	ReasonWrongType:        "wrong type",
	ReasonError:            "error in evaluation",
	ReasonFlagArchived:     "flag archived",
}

// String returns FeatBit's reason string, such as "target match".
func (r Reason) String() string {
	if int(r) < len(reasonStrings) && reasonStrings[r] != "" {
		return reasonStrings[r]
	}
	return "unknown"
}

// MarshalText encodes the reason as its string.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Fallback reports whether the reason means the caller's default was returned.
func (r Reason) Fallback() bool { return r >= ReasonClientNotReady }

// EvalDetail is the full result of an evaluation.
type EvalDetail struct {
	// FlagKey is the key that was evaluated.
	FlagKey string `json:"flagKey"`
	// Value is the served variation's value as FeatBit stores it (a string for every flag
	// type), or the caller's default on fallback.
	Value string `json:"value"`
	// VariationID is the id of the served variation, "" on fallback.
	VariationID string `json:"variationId"`
	// Reason says why Value was returned.
	Reason Reason `json:"reason"`
	// InExperiment is FeatBit's sendToExperiment: the evaluation counts for an experiment.
	InExperiment bool `json:"sendToExperiment"`
	// Split reports that a percentage rollout chose the variation: the rule or default rule
	// that served it gives this variation a share of users between 0 and 100%.
	Split bool `json:"split"`
	// Err is nil on success; on fallback it matches one of ErrClientNotReady,
	// ErrFlagNotFound (ErrFlagArchived too), ErrInvalidUser, ErrWrongType or ErrEvaluation
	// with errors.Is.
	Err error `json:"-"`
}
