package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// This file is the only place that decodes JSON wire data, with encoding/json: moving to
// another decoder (encoding/json/v2) changes this file alone. On top of encoding/json's rules
// it keeps what evaluation needs: a null condition value is told apart from "" (see
// Condition.ValueNull), null items of a string list are left out, and eventType is checked.

// unmarshal decodes b into v. A failure is described with the line and column it was found
// at, and for a value of the wrong type with the path of its field.
func unmarshal(b []byte, v any) error {
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	var off int64 = -1
	msg := strings.TrimPrefix(err.Error(), "json: ")
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset - 1 // the offset counts the byte found wrong
	case errors.As(err, &te):
		off = te.Offset
		field := te.Field
		if field == "" {
			field = "the top-level value"
		}
		msg = fmt.Sprintf("%s: got %s, want %s", field, te.Value, jsonKind(te.Type))
	}
	if off < 0 || off > int64(len(b)) {
		return fmt.Errorf("invalid JSON: %s", msg)
	}
	line := 1 + bytes.Count(b[:off], []byte{'\n'})
	col := int(off) - bytes.LastIndexByte(b[:off], '\n')
	return fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, msg)
}

// jsonKind names the JSON kind of value that decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice:
		return "an array"
	case reflect.Struct:
		return "an object"
	case reflect.Float64:
		return "a number (float64)"
	}
	return t.String()
}

// DecodeMessage decodes one streaming message envelope {"messageType":..., "data":...}.
// For a data-sync message, ds is its decoded data; for any other type ds is nil and data is
// not used. Missing messageType is an error.
func DecodeMessage(b []byte) (messageType string, ds *DataSync, err error) {
	var m struct {
		MessageType *string   `json:"messageType"`
		Data        *DataSync `json:"data"`
	}
	if err := unmarshal(b, &m); err != nil {
		// The data of another type of message need not be a data set.
		var t struct {
			MessageType *string `json:"messageType"`
		}
		if json.Unmarshal(b, &t) != nil || t.MessageType == nil || *t.MessageType == MessageDataSync {
			return "", nil, err
		}
		return *t.MessageType, nil, nil
	}
	switch {
	case m.MessageType == nil:
		return "", nil, errors.New(`message has no "messageType"`)
	case *m.MessageType != MessageDataSync:
		return *m.MessageType, nil, nil
	case m.Data == nil:
		return "", nil, errors.New(`data-sync message has no "data"`)
	}
	if err := checkEventType(m.Data); err != nil {
		return "", nil, err
	}
	m.Data.shareStrings()
	return MessageDataSync, m.Data, nil
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
	if len(bytes.Trim(b, jsonSpace)) != len(t) {
		// White space that JSON does not allow around the document becomes spaces, so that
		// error positions still count from the start of b.
		start := len(b) - len(bytes.TrimLeftFunc(b, unicode.IsSpace))
		c := bytes.Clone(b)
		for i := range c {
			if (i < start || i >= start+len(t)) && c[i] != '\n' {
				c[i] = ' '
			}
		}
		b = c
	}
	// One pass reads both shapes: the envelope's fields and the bare payload's.
	var doc struct {
		MessageType  *string   `json:"messageType"`
		Data         *DataSync `json:"data"`
		EventType    string    `json:"eventType"`
		FeatureFlags []Flag    `json:"featureFlags"`
		Segments     []Segment `json:"segments"`
	}
	if err := unmarshal(b, &doc); err != nil {
		return nil, err
	}
	ds := &DataSync{EventType: doc.EventType, FeatureFlags: doc.FeatureFlags, Segments: doc.Segments}
	switch {
	case doc.MessageType != nil && *doc.MessageType != MessageDataSync:
		return nil, fmt.Errorf("messageType is %q, want %q", *doc.MessageType, MessageDataSync)
	case doc.MessageType != nil && doc.Data == nil:
		return nil, errors.New(`data-sync message has no "data"`)
	case doc.MessageType != nil:
		ds = doc.Data
	case len(ds.FeatureFlags) == 0 && len(ds.Segments) == 0 && !hasDataSetKeys(b):
		return nil, errors.New(`neither a data-sync message nor an object with "featureFlags" and "segments"`)
	case ds.EventType == "":
		ds.EventType = EventFull
	}
	if err := checkEventType(ds); err != nil {
		return nil, err
	}
	ds.shareStrings()
	return ds, nil
}

// shareStrings makes equal strings that every data set repeats share one copy, as the SDK
// keeps the data set: a flag's references to its variations (disabledVariationId, targets,
// rollouts) share the variations' ids, and all items share the first one's envId.
func (ds *DataSync) shareStrings() {
	env := ""
	share := func(s *string, to string) {
		if *s == to {
			*s = to
		}
	}
	for i := range ds.FeatureFlags {
		f := &ds.FeatureFlags[i]
		if env == "" {
			env = f.EnvID
		}
		share(&f.EnvID, env)
		ref := func(id *string) {
			for _, v := range f.Variations {
				share(id, v.ID)
			}
		}
		ref(&f.DisabledVariationID)
		for j := range f.TargetUsers {
			ref(&f.TargetUsers[j].VariationID)
		}
		for j := range f.Rules {
			for k := range f.Rules[j].Variations {
				ref(&f.Rules[j].Variations[k].ID)
			}
		}
		for j := range f.Fallthrough.Variations {
			ref(&f.Fallthrough.Variations[j].ID)
		}
	}
	for i := range ds.Segments {
		if env == "" {
			env = ds.Segments[i].EnvID
		}
		share(&ds.Segments[i].EnvID, env)
	}
}

// jsonSpace is the white space JSON allows between tokens.
const jsonSpace = " \t\r\n"

// hasDataSetKeys reports whether the object b has a featureFlags or a segments member, null
// or empty as it may be.
func hasDataSetKeys(b []byte) bool {
	var keys struct {
		FeatureFlags json.RawMessage `json:"featureFlags"`
		Segments     json.RawMessage `json:"segments"`
	}
	return json.Unmarshal(b, &keys) == nil && (keys.FeatureFlags != nil || keys.Segments != nil)
}

// checkEventType accepts the eventType values a data-sync payload may carry.
func checkEventType(ds *DataSync) error {
	switch ds.EventType {
	case EventFull, EventPatch, "":
		return nil
	}
	return fmt.Errorf("eventType is %q, want %q or %q", ds.EventType, EventFull, EventPatch)
}

// UnmarshalJSON decodes a condition, setting ValueNull when value is JSON null. The offset of
// a type error in a condition would count from the condition's start: it is dropped, and the
// error's field path tells where the condition is.
func (c *Condition) UnmarshalJSON(b []byte) error {
	var v struct {
		ID       string  `json:"id"`
		Property string  `json:"property"`
		Op       string  `json:"op"`
		Value    *string `json:"value"`
	}
	err := json.Unmarshal(b, &v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		te.Offset = -1
	}
	*c = Condition{ID: v.ID, Property: v.Property, Op: v.Op}
	if v.Value != nil {
		c.Value = *v.Value
	} else if err == nil {
		// null or missing: only null makes the condition false.
		var raw struct {
			Value json.RawMessage `json:"value"`
		}
		err = json.Unmarshal(b, &raw)
		c.ValueNull = string(raw.Value) == "null"
	}
	return err
}

// MarshalJSON encodes a condition, with a null value when ValueNull is set.
func (c Condition) MarshalJSON() ([]byte, error) {
	type fields Condition // without this method
	v := struct {
		fields
		Value *string `json:"value"`
	}{fields: fields(c)}
	if !c.ValueNull {
		v.Value = &c.Value
	}
	return json.Marshal(v)
}

// DecodeStringArray decodes a JSON array of strings: the form of an IsOneOf or NotOneOf
// condition value and of a segment condition's segment ids. null gives a nil slice and no
// error; null items are left out, as they equal no string; anything that is not an array of
// strings and nulls (or null) is an error.
func DecodeStringArray(s string) ([]string, error) {
	var items []*string
	if err := unmarshal([]byte(s), &items); err != nil {
		return nil, err
	}
	if items == nil {
		return nil, nil
	}
	out := make([]string, 0, len(items))
	for _, p := range items {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out, nil
}
