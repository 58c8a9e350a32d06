package wire

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A null condition value is told apart from "" and from a missing value, in flags and in
// segments, and is written back as null.
func TestConditionValueNull(t *testing.T) {
	ds, err := DecodeDataSet([]byte(`{"featureFlags":[{"key":"f","rules":[{"conditions":[
		{"property":"a","op":"Equal","value":null},{"property":"a","op":"Equal","value":""},
		{"property":"a","op":"Equal"},{"property":"a","op":"Equal","value":"x"}]}]}],
		"segments":[{"id":"s","rules":[{"conditions":[{"property":"a","op":"NotEqual","value":null}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	conds := append(ds.FeatureFlags[0].Rules[0].Conditions, ds.Segments[0].Rules[0].Conditions...)
	var nulls []bool
	for _, c := range conds {
		nulls = append(nulls, c.ValueNull)
	}
	if want := []bool{true, false, false, false, true}; !reflect.DeepEqual(nulls, want) {
		t.Fatalf("ValueNull %v, want %v", nulls, want)
	}
	if conds[3].Value != "x" || conds[3].Property != "a" || conds[3].Op != "Equal" {
		t.Fatalf("condition decoded as %+v", conds[3])
	}

	for _, c := range conds {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Condition
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back != c {
			t.Fatalf("%+v encoded as %s, read back as %+v", c, b, back)
		}
	}
	b, _ := json.Marshal(Condition{ID: "c", Property: "p", Op: "Equal", ValueNull: true})
	if got, want := string(b), `{"id":"c","property":"p","op":"Equal","value":null}`; got != want {
		t.Fatalf("encoded %s, want %s", got, want)
	}
}

func TestDecodeFixtures(t *testing.T) {
	b := readFile(t, "../../testdata/featbit_test_data.json")
	ds, err := DecodeDataSet(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.FeatureFlags) != 7 || len(ds.Segments) != 1 || ds.EventType != EventFull {
		t.Fatalf("got %d flags, %d segments, eventType %q", len(ds.FeatureFlags), len(ds.Segments), ds.EventType)
	}
	typ, msg, err := DecodeMessage(b)
	if err != nil || typ != MessageDataSync || !reflect.DeepEqual(msg, ds) {
		t.Fatalf("DecodeMessage = %q, %v; differs from DecodeDataSet", typ, err)
	}

	flags := readFile(t, "../../testdata/els/flags.json")
	segs := readFile(t, "../../testdata/els/segments.json")
	ds, err = DecodeDataSet([]byte(`{"featureFlags":` + string(flags) + `,"segments":` + string(segs) + "}"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.FeatureFlags) != 5 || len(ds.Segments) != 2 || ds.EventType != EventFull {
		t.Fatalf("got %d flags, %d segments, eventType %q", len(ds.FeatureFlags), len(ds.Segments), ds.EventType)
	}
}

func TestDecodeDataSetShapes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // error substring, or "" for success
		flags    int
		event    string
	}{
		{"envelope", `{"messageType":"data-sync","data":{"eventType":"patch","featureFlags":[{"key":"a"}],"segments":[]}}`, "", 1, EventPatch},
		{"data before messageType", `{"data":{"eventType":"full","featureFlags":[{"key":"a"},{}],"segments":[]},"messageType":"data-sync"}`, "", 2, EventFull},
		{"envelope without eventType", `{"messageType":"data-sync","data":{"featureFlags":[]}}`, "", 0, ""},
		{"bare", `{"featureFlags":[{"key":"a"}],"segments":[]}`, "", 1, EventFull},
		{"bare with null arrays", `{"featureFlags":null}`, "", 0, EventFull},
		{"bare with empty arrays", `{"segments":[]}`, "", 0, EventFull},
		{"bare patch", `{"eventType":"patch","segments":[]}`, "", 0, EventPatch},
		{"bare null messageType", `{"messageType":null,"featureFlags":[{}]}`, "", 1, EventFull},
		{"messageType cleared later", `{"messageType":"data-sync","featureFlags":[{},{}],"messageType":null}`, "", 2, EventFull},
		{"case-insensitive keys", `{"MessageType":"data-sync","DATA":{"FeatureFlags":[{"KEY":"a"}]}}`, "", 1, ""},
		{"unicode space trimmed", "\u00a0\v{\"featureFlags\":[]}\f", "", 0, EventFull},
		{"duplicate data last wins", `{"messageType":"data-sync","data":{"featureFlags":[{"id":"a","key":"k"}]},"data":{"featureFlags":[{"id":"b"}]}}`, "", 1, ""},

		{"empty", " \n", "empty document", 0, ""},
		{"not object", `[{"featureFlags":[]}]`, "not a JSON object", 0, ""},
		{"wrong messageType", `{"messageType":"ping","data":{}}`, `messageType is "ping", want "data-sync"`, 0, ""},
		{"messageType case", `{"messageType":"Data-Sync","data":{}}`, `messageType is "Data-Sync"`, 0, ""},
		{"messageType type", `{"messageType":1,"data":{}}`, "messageType: got number, want a string", 0, ""},
		{"no data", `{"messageType":"data-sync"}`, `data-sync message has no "data"`, 0, ""},
		{"null data", `{"messageType":"data-sync","data":null}`, `data-sync message has no "data"`, 0, ""},
		{"data not object", `{"messageType":"data-sync","data":[]}`, "data: got array, want an object", 0, ""},
		{"bad event type", `{"messageType":"data-sync","data":{"eventType":"x"}}`, `eventType is "x", want "full" or "patch"`, 0, ""},
		{"neither", `{"flags":[]}`, `neither a data-sync message nor an object with "featureFlags" and "segments"`, 0, ""},
		{"bare type error", `{"featureFlags":[{"key":1}]}`, "featureFlags.key: got number, want a string", 0, ""},
		{"bare bad event type", `{"eventType":"x","segments":[]}`, `eventType is "x"`, 0, ""},
		{"syntax error after envelope", `{"messageType":"data-sync","data":{}} x`, "after top-level value", 0, ""},
		{"error position in data", "{\"messageType\":\"data-sync\",\n\"data\":{\"featureFlags\":[{\"key\":1}]}}", "line 2, column 33", 0, ""},
		{"position after unicode space", "\u00a0\n{\"featureFlags\":[}", "line 2, column 18", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := DecodeDataSet([]byte(tc.in))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want it to contain %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ds.FeatureFlags) != tc.flags || ds.EventType != tc.event {
				t.Fatalf("got %d flags, eventType %q; want %d, %q", len(ds.FeatureFlags), ds.EventType, tc.flags, tc.event)
			}
		})
	}
}

func TestDecodeMessage(t *testing.T) {
	for _, tc := range []struct {
		name, in, typ, want string
		flags               int
	}{
		{"pong", `{"messageType":"pong","data":{}}`, "pong", "", 0},
		{"ping without data", `{"messageType":"ping"}`, "ping", "", 0},
		{"other type ignores data", `{"data":{"featureFlags":"not a list"},"messageType":"echo"}`, "echo", "", 0},
		{"unknown type", `{"messageType":"rp-agent-status","data":[1,{"a":null}]}`, "rp-agent-status", "", 0},
		{"data-sync", `{"messageType":"data-sync","data":{"eventType":"patch","featureFlags":[{}],"segments":[]}}`, MessageDataSync, "", 1},
		{"data-sync data first", `{"data":{"eventType":"full","featureFlags":[{},{}]},"messageType":"data-sync"}`, MessageDataSync, "", 2},
		{"case-insensitive keys", `{"MessageType":"data-sync","DATA":{"featureFlags":[{}]}}`, MessageDataSync, "", 1},

		{"missing messageType", `{"data":{}}`, "", `message has no "messageType"`, 0},
		{"null messageType", `{"messageType":null,"data":{}}`, "", `message has no "messageType"`, 0},
		{"null message", `null`, "", `message has no "messageType"`, 0},
		{"not an object", `["ping"]`, "", "the top-level value: got array, want an object", 0},
		{"messageType type", `{"messageType":true}`, "", "messageType: got bool, want a string", 0},
		{"invalid data", `{"messageType":"pong","data":{"a":}}`, "", "invalid character '}' looking for beginning of value", 0},
		{"trailing data", `{"messageType":"pong","data":{}}}`, "", "after top-level value", 0},
		{"data-sync without data", `{"messageType":"data-sync"}`, "", `data-sync message has no "data"`, 0},
		{"data-sync type error", `{"messageType":"data-sync","data":{"segments":{}}}`, "", "data.segments: got object, want an array", 0},
		{"data-sync bad event type", `{"messageType":"data-sync","data":{"eventType":"delta"}}`, "", `eventType is "delta"`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ, ds, err := DecodeMessage([]byte(tc.in))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want it to contain %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if typ != tc.typ {
				t.Fatalf("messageType %q, want %q", typ, tc.typ)
			}
			if (ds != nil) != (typ == MessageDataSync) {
				t.Fatalf("ds = %v for messageType %q", ds, typ)
			}
			if ds != nil && len(ds.FeatureFlags) != tc.flags {
				t.Fatalf("%d flags, want %d", len(ds.FeatureFlags), tc.flags)
			}
		})
	}
}

// Errors say what is wrong and where: the line and column, and the field of a value of the
// wrong type.
func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"syntax", "{\n  \"eventType\": \"full\",\n  \"featureFlags\": [}\n}",
			"invalid JSON at line 3, column 20: invalid character '}' looking for beginning of value"},
		{"truncated", `{"eventType":"full"`, "invalid JSON at line 1, column 19: unexpected end of JSON input"},
		{"trailing", `{} x`, "invalid JSON at line 1, column 4: invalid character 'x' after top-level value"},
		{"control character", "{\"eventType\":\"a\x01\"}", `invalid character '\x01' in string literal`},
		{"escape", `{"eventType":"\q"}`, `invalid character 'q' in string escape code`},
		{"type", "{\"featureFlags\":[\n{\"key\":1}]}", "invalid JSON at line 2, column 9: featureFlags.key: got number, want a string"},
		{"rollout", `{"featureFlags":[{"fallthrough":{"variations":[{"rollout":["0"]}]}}]}`,
			"featureFlags.fallthrough.variations.rollout: got string, want a number"},
		{"range", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":1e999}]}}]}`,
			"featureFlags.fallthrough.variations.exptRollout: got number 1e999, want a number"},
		{"depth", `{"x":` + strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000) + `}`, "exceeded max depth"},
		// A condition is decoded on its own: its errors name the field but have no position.
		{"condition field", `{"featureFlags":[{"rules":[{"conditions":[{"op":1}]}]}]}`,
			"invalid JSON: featureFlags.rules.conditions.op: got number, want a string"},
		{"condition value", `{"segments":[{"rules":[{"conditions":[{"value":["a"]}]}]}]}`,
			"invalid JSON: segments.rules.conditions.value: got array, want a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeDataSet([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Invalid UTF-8 and lone surrogates become U+FFFD, as FeatBit's JSON readers do.
func TestDecodeStringValues(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"[\"cn\",\"us\"]"`, `["cn","us"]`},
		{`"\ud83d\ude00"`, "😀"},
		{`"\ud83d"`, "\ufffd"},
		{"\"a\xffb\"", "a\ufffdb"},
	} {
		ds, err := DecodeDataSet([]byte(`{"featureFlags":[{"key":` + tc.in + `}]}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if k := ds.FeatureFlags[0].Key; k != tc.want {
			t.Errorf("%s decoded to %q, want %q", tc.in, k, tc.want)
		}
	}
}

// A flag's references to its variations share the variations' ids, and items share one
// envId: the SDK keeps the data set, and these are most of its repeated strings.
func TestDecodeSharesStrings(t *testing.T) {
	ds, err := DecodeDataSet([]byte(`{"featureFlags":[
		{"key":"a","envId":"env","variations":[{"id":"on"},{"id":"off"}],"disabledVariationId":"off",
		 "targetUsers":[{"keyIds":["u"],"variationId":"on"}],"rules":[{"variations":[{"id":"off"}]}],
		 "fallthrough":{"variations":[{"id":"on"},{"id":"gone"}]}},
		{"key":"b","envId":"env"}],
		"segments":[{"id":"s","envId":"env"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	f := ds.FeatureFlags[0]
	on, off := f.Variations[0].ID, f.Variations[1].ID
	for _, tc := range []struct{ got, want string }{
		{f.DisabledVariationID, off},
		{f.TargetUsers[0].VariationID, on},
		{f.Rules[0].Variations[0].ID, off},
		{f.Fallthrough.Variations[0].ID, on},
		{ds.FeatureFlags[1].EnvID, f.EnvID},
		{ds.Segments[0].EnvID, f.EnvID},
	} {
		if tc.got != tc.want || unsafe.StringData(tc.got) != unsafe.StringData(tc.want) {
			t.Errorf("%q does not share the memory of %q", tc.got, tc.want)
		}
	}
	if got := f.Fallthrough.Variations[1].ID; got != "gone" {
		t.Errorf("an unknown variation id became %q", got)
	}
}

// DecodeStringArray reads IsOneOf lists: null is no list, null items are left out.
func TestDecodeStringArray(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{`["cn","us"]`, []string{"cn", "us"}, true},
		{` [ "a" , "b\u0022" ] `, []string{"a", `b"`}, true},
		{`[]`, []string{}, true},
		{`null`, nil, true},
		{`[null,"a",null,"",null]`, []string{"a", ""}, true},
		{`[null]`, []string{}, true},
		{`[1,2]`, nil, false},
		{`["a",true]`, nil, false},
		{`[["a"]]`, nil, false},
		{`"us"`, nil, false},
		{`{}`, nil, false},
		{`not json`, nil, false},
		{`["a"`, nil, false},
		{`["a"] x`, nil, false},
		{``, nil, false},
	} {
		got, err := DecodeStringArray(tc.in)
		if (err == nil) != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("DecodeStringArray(%q) = %#v, %v; want %#v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzDecodeDataSet checks that decoding never panics, that DecodeMessage agrees with
// DecodeDataSet on data-sync messages, and that what decodes is written back and read again
// unchanged, null condition values included.
func FuzzDecodeDataSet(f *testing.F) {
	featbit := readFile(f, "../../testdata/featbit_test_data.json")
	f.Add(featbit)
	f.Add([]byte(`{"featureFlags":[{"key":"a","rules":[{"conditions":[{"value":null},{"value":""},{}]}]}],"segments":null}`))
	f.Add([]byte(`{"messageType":"data-sync","data":{"eventType":"patch","featureFlags":[],"segments":[{"id":"s","included":["a",null]}]}}`))
	f.Add([]byte(`{"messageType":"ping","data":{"timestamp":0}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := DecodeDataSet(b)
		typ, msg, merr := DecodeMessage(b)
		if merr == nil && typ == MessageDataSync {
			if err != nil || !reflect.DeepEqual(ds, msg) {
				t.Fatalf("DecodeMessage: %+v; DecodeDataSet: %+v, %v", msg, ds, err)
			}
		}
		if err != nil {
			return
		}
		if ds.EventType == "" {
			ds.EventType = EventFull // as written back, it reads as a bare full data set
		}
		out, err := json.Marshal(ds)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeDataSet(out)
		if err != nil {
			t.Fatalf("%s does not decode: %v", out, err)
		}
		if !reflect.DeepEqual(ds, back) {
			t.Fatalf("%s read back as\n%+v\nwant\n%+v", out, back, ds)
		}
	})
}
