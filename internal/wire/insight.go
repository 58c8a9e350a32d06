package wire

// Values the FeatBit SDKs put in a metric record.
const (
	MetricRoute      = "index/metric"
	MetricTypeCustom = "CustomEvent"
	AppTypeGoServer  = "goserverside"
)

// InsightItem is one element of the JSON array posted to /api/public/insight/track: a user and
// the evaluations and metrics recorded for it. An item with only a user is an "identify".
// The server rejects a batch in which variations or metrics is null, so empty lists are
// omitted rather than sent as null.
type InsightItem struct {
	User       InsightUser        `json:"user"`
	Variations []InsightVariation `json:"variations,omitempty"`
	Metrics    []InsightMetric    `json:"metrics,omitempty"`
}

// InsightUser is the end user of an insight item.
type InsightUser struct {
	KeyID                string      `json:"keyId"`
	Name                 string      `json:"name"`
	CustomizedProperties []NameValue `json:"customizedProperties"`
}

// NameValue is one custom attribute of an end user. The value is always a JSON string.
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// InsightVariation records one flag evaluation. Timestamp is in Unix milliseconds.
type InsightVariation struct {
	FeatureFlagKey   string          `json:"featureFlagKey"`
	SendToExperiment bool            `json:"sendToExperiment"`
	Timestamp        int64           `json:"timestamp"`
	Variation        VariationRecord `json:"variation"`
}

// VariationRecord is the variation served by an evaluation. The server rejects the whole
// batch when ID or Value is empty; Reason is ignored by the server.
type VariationRecord struct {
	ID     string `json:"id"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// InsightMetric records one custom metric event. Timestamp is in Unix milliseconds.
type InsightMetric struct {
	Route        string  `json:"route"`
	Type         string  `json:"type"`
	EventName    string  `json:"eventName"`
	NumericValue float64 `json:"numericValue"`
	AppType      string  `json:"appType"`
	Timestamp    int64   `json:"timestamp"`
}
