package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
)

// The reference for every test here is encoding/json: legacyDecodeDataSet and
// legacyDecodeDataSync are the encoding/json implementations the hand-written decoder
// replaces, kept as oracles and as the baseline of the benchmarks; legacyDecodeMessage is
// DecodeMessage written the same way.

func legacyDecodeDataSet(b []byte) (*DataSync, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, errors.New("empty document")
	}
	if b[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var probe struct {
		MessageType  *string         `json:"messageType"`
		Data         json.RawMessage `json:"data"`
		FeatureFlags json.RawMessage `json:"featureFlags"`
		Segments     json.RawMessage `json:"segments"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, describeJSONError(b, err)
	}
	if probe.MessageType != nil {
		if *probe.MessageType != MessageDataSync {
			return nil, fmt.Errorf("messageType is %q, want %q", *probe.MessageType, MessageDataSync)
		}
		if len(probe.Data) == 0 || string(probe.Data) == "null" {
			return nil, errors.New(`data-sync message has no "data"`)
		}
		return legacyDecodeDataSync(probe.Data)
	}
	if probe.FeatureFlags == nil && probe.Segments == nil {
		return nil, errors.New(`neither a data-sync message nor an object with "featureFlags" and "segments"`)
	}
	ds, err := legacyDecodeDataSync(b)
	if err != nil {
		return nil, err
	}
	if ds.EventType == "" {
		ds.EventType = EventFull
	}
	return ds, nil
}

func legacyDecodeDataSync(b []byte) (*DataSync, error) {
	var ds DataSync
	if err := json.Unmarshal(b, &ds); err != nil {
		return nil, describeJSONError(b, err)
	}
	if err := checkEventType(&ds); err != nil {
		return nil, err
	}
	return &ds, nil
}

func legacyDecodeMessage(b []byte) (string, *DataSync, error) {
	var m struct {
		MessageType *string         `json:"messageType"`
		Data        json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return "", nil, err
	}
	if m.MessageType == nil {
		return "", nil, errors.New("no messageType")
	}
	if *m.MessageType != MessageDataSync {
		return *m.MessageType, nil, nil
	}
	if len(m.Data) == 0 || string(m.Data) == "null" {
		return "", nil, errors.New("no data")
	}
	ds, err := legacyDecodeDataSync(m.Data)
	if err != nil {
		return "", nil, err
	}
	return *m.MessageType, ds, nil
}

// checkParity decodes b as a DataSync with both decoders and fails unless both fail or both
// succeed with deeply equal results.
func checkParity(t *testing.T, b []byte) {
	t.Helper()
	var want, got DataSync
	werr := json.Unmarshal(b, &want)
	gerr := unmarshalDataSync(b, &got)
	clearValueNull(&got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("input %q:\nencoding/json error: %v\nour error: %v", b, werr, gerr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("input %q:\nencoding/json: %#v\nours:          %#v", b, want, got)
	}
}

// checkAPIParity compares DecodeDataSet, DecodeDataSync and DecodeMessage with their
// encoding/json versions: same success, same result.
func checkAPIParity(t *testing.T, b []byte) {
	t.Helper()
	same := func(name string, want, got *DataSync, werr, gerr error) {
		t.Helper()
		clearValueNull(got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s(%q):\nencoding/json error: %v\nour error: %v", name, b, werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s(%q):\nencoding/json: %#v\nours:          %#v", name, b, want, got)
		}
	}
	want, werr := legacyDecodeDataSet(b)
	got, gerr := DecodeDataSet(b)
	same("DecodeDataSet", want, got, werr, gerr)

	want, werr = legacyDecodeDataSync(b)
	got, gerr = DecodeDataSync(b)
	same("DecodeDataSync", want, got, werr, gerr)

	wtype, want, werr := legacyDecodeMessage(b)
	gtype, got, gerr := DecodeMessage(b)
	same("DecodeMessage", want, got, werr, gerr)
	if wtype != gtype {
		t.Fatalf("DecodeMessage(%q): messageType %q, want %q", b, gtype, wtype)
	}
}

// clearValueNull clears the flag that encoding/json does not set, so that results can be
// compared; TestConditionValueNull checks it.
func clearValueNull(ds *DataSync) {
	if ds == nil {
		return
	}
	for i := range ds.FeatureFlags {
		for j := range ds.FeatureFlags[i].Rules {
			for k := range ds.FeatureFlags[i].Rules[j].Conditions {
				ds.FeatureFlags[i].Rules[j].Conditions[k].ValueNull = false
			}
		}
	}
	for i := range ds.Segments {
		for j := range ds.Segments[i].Rules {
			for k := range ds.Segments[i].Rules[j].Conditions {
				ds.Segments[i].Rules[j].Conditions[k].ValueNull = false
			}
		}
	}
}

// A null condition value is told apart from "".
func TestConditionValueNull(t *testing.T) {
	ds, err := DecodeDataSet([]byte(`{"featureFlags":[{"key":"f","rules":[{"conditions":[
		{"property":"a","op":"Equal","value":null},{"property":"a","op":"Equal","value":""},
		{"property":"a","op":"Equal"}]}]}],
		"segments":[{"id":"s","rules":[{"conditions":[{"property":"a","op":"NotEqual","value":null}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var nulls []bool
	for _, c := range ds.FeatureFlags[0].Rules[0].Conditions {
		nulls = append(nulls, c.ValueNull)
	}
	nulls = append(nulls, ds.Segments[0].Rules[0].Conditions[0].ValueNull)
	if want := []bool{true, false, false, true}; !reflect.DeepEqual(nulls, want) {
		t.Fatalf("ValueNull %v, want %v", nulls, want)
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// elsDataSet wraps the bare ELS fake-store arrays into one bare payload.
func elsDataSet(t testing.TB) []byte {
	flags := readFile(t, "../../testdata/els/flags.json")
	segs := readFile(t, "../../testdata/els/segments.json")
	return []byte(`{"featureFlags":` + string(flags) + `,"segments":` + string(segs) + "}")
}

func TestDecodeFixtures(t *testing.T) {
	t.Run("featbit envelope", func(t *testing.T) {
		b := readFile(t, "../../testdata/featbit_test_data.json")
		var msg Message
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatal(err)
		}
		var want DataSync
		if err := json.Unmarshal(msg.Data, &want); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeDataSet(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("DecodeDataSet differs from encoding/json:\n got %#v\nwant %#v", *got, want)
		}
		if len(got.FeatureFlags) != 7 || len(got.Segments) != 1 || got.EventType != EventFull {
			t.Fatalf("got %d flags, %d segments, eventType %q", len(got.FeatureFlags), len(got.Segments), got.EventType)
		}
		mt, ds, err := DecodeMessage(b)
		if err != nil || mt != MessageDataSync || !reflect.DeepEqual(*ds, want) {
			t.Fatalf("DecodeMessage = %q, %v; differs from encoding/json", mt, err)
		}
		checkParity(t, msg.Data)
		checkAPIParity(t, b)
	})
	t.Run("els bare arrays", func(t *testing.T) {
		b := elsDataSet(t)
		var want DataSync
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		want.EventType = EventFull
		got, err := DecodeDataSet(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("DecodeDataSet differs from encoding/json:\n got %#v\nwant %#v", *got, want)
		}
		if len(got.FeatureFlags) != 5 || len(got.Segments) != 2 {
			t.Fatalf("got %d flags, %d segments", len(got.FeatureFlags), len(got.Segments))
		}
		checkParity(t, b)
		checkAPIParity(t, b)
	})
}

// TestDecodeTruncated cuts the fixture short: each prefix must be rejected exactly when
// encoding/json rejects it. Every cut inside the first flag (which has every kind of token),
// then a sample of the rest.
func TestDecodeTruncated(t *testing.T) {
	b := readFile(t, "../../testdata/featbit_test_data.json")
	var msg Message
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(msg.Data); n++ {
		if n > 3000 {
			n += 10
		}
		checkParity(t, msg.Data[:min(n, len(msg.Data))])
	}
	for n := 0; n < len(b); n += 37 {
		checkAPIParity(t, b[:n])
	}
}

// parityCases are decoded as DataSync by both decoders; the results must agree.
var parityCases = []struct {
	name string
	in   string
	ok   bool // whether encoding/json accepts it, as a check on the case itself
}{
	{"empty object", `{}`, true},
	{"null", `null`, true},
	{"surrounding space", " \t\r\n{}\n ", true},
	{"empty input", ``, false},
	{"only space", `   `, false},
	{"array top level", `[]`, false},
	{"string top level", `"x"`, false},
	{"number top level", `1`, false},
	{"bool top level", `true`, false},
	{"trailing garbage", `{} x`, false},
	{"trailing value", `{}{}`, false},
	{"trailing comma", `{"eventType":"full",}`, false},
	{"missing colon", `{"eventType" "full"}`, false},
	{"missing value", `{"eventType":}`, false},
	{"unquoted key", `{eventType:"full"}`, false},
	{"single quotes", `{'eventType':'full'}`, false},
	{"truncated object", `{"eventType":"full"`, false},
	{"truncated string", `{"eventType":"fu`, false},
	{"truncated literal", `{"featureFlags":nul`, false},
	{"bad literal", `{"featureFlags":nulx}`, false},
	{"literal with suffix", `{"featureFlags":nullx}`, false},
	{"capital literal", `{"featureFlags":Null}`, false},

	{"event type", `{"eventType":"patch","featureFlags":[],"segments":[]}`, true},
	{"null arrays", `{"eventType":"full","featureFlags":null,"segments":null}`, true},
	{"null string", `{"eventType":null}`, true},
	{"null fields", `{"featureFlags":[{"id":null,"variations":null,"targetUsers":null,"rules":null,"isEnabled":null,` +
		`"fallthrough":null,"tags":null,"isArchived":null}]}`, true},
	{"null rule fields", `{"featureFlags":[{"rules":[{"dispatchKey":null,"includedInExpt":null,"conditions":[{"op":null}],` +
		`"variations":[{"rollout":null,"exptRollout":null}]}]}]}`, true},
	{"null elements", `{"featureFlags":[null,{"tags":["a",null,"b"]}],"segments":[null]}`, true},
	{"null rollout element", `{"featureFlags":[{"fallthrough":{"variations":[{"rollout":[null,1]}]}}]}`, true},
	{"empty arrays", `{"featureFlags":[{"variations":[],"tags":[],"rules":[{"conditions":[]}]}],"segments":[{"included":[]}]}`, true},

	{"escapes", `{"eventType":"a\"b\\c\/d\be\ff\ng\rh\ti"}`, true},
	{"unicode escape", `{"eventType":"\u0022x\u0022 \u00e9 \u4e2d"}`, true},
	{"upper-case hex", `{"eventType":"\u00E9\uABCD"}`, true},
	{"surrogate pair", `{"eventType":"\ud83d\ude00"}`, true},
	{"lone high surrogate", `{"eventType":"\ud83d"}`, true},
	{"lone high surrogate then text", `{"eventType":"\ud83dabcdef"}`, true},
	{"lone low surrogate", `{"eventType":"\ude00"}`, true},
	{"two high surrogates", `{"eventType":"\ud83d\ud83d\ude00"}`, true},
	{"high surrogate then bmp escape", `{"eventType":"\ud83d\u0041"}`, true},
	{"escaped replacement char", `{"eventType":"\ufffd"}`, true},
	{"bad escape", `{"eventType":"\x"}`, false},
	{"escaped single quote", `{"eventType":"\'"}`, false},
	{"short unicode escape", `{"eventType":"\u12"}`, false},
	{"bad hex", `{"eventType":"\u12g4"}`, false},
	{"high surrogate then bad escape", `{"eventType":"\ud83d\u12g4"}`, false},
	{"control character", "{\"eventType\":\"a\x01b\"}", false},
	{"raw newline", "{\"eventType\":\"a\nb\"}", false},
	{"raw tab", "{\"eventType\":\"a\tb\"}", false},
	{"delete character", "{\"eventType\":\"a\x7fb\"}", true},
	{"valid utf-8", `{"eventType":"héllo 中文 😀"}`, true},
	{"invalid utf-8", "{\"eventType\":\"a\xffb\xc3\"}", true},
	{"encoded surrogate", "{\"eventType\":\"\xed\xa0\x80\"}", true},
	{"overlong encoding", "{\"eventType\":\"\xc0\xaf\"}", true},
	{"invalid utf-8 and escape", "{\"eventType\":\"\xff\\n\xfe\"}", true},
	{"invalid utf-8 in skipped value", "{\"x\":\"\xff\"}", true},
	{"invalid utf-8 in key", "{\"event\xffType\":\"full\"}", true},

	{"unknown nested", `{"x":{"a":[1,2,{"b":null,"c":[true,false,"s",-1.5e3]}],"d":{}},"eventType":"full"}`, true},
	{"unknown in flag", `{"featureFlags":[{"createdAt":"2023","disabledVariation":{"id":"x","value":"false"},"revision":[],"id":"f"}]}`, true},
	{"unknown deep", `{"featureFlags":[{"rules":[{"conditions":[{"x":[[[[{}]]]],"op":"Equal"}]}]}]}`, true},
	{"unknown bad escape", `{"x":"\0"}`, false},
	{"unknown bad hex escape", `{"x":["\u12g4"]}`, false},
	{"unknown good escapes", `{"x":{"\ud83d\u0041":"\"\\\/\b\f\n\r\t\uD83D\uDE00"}}`, true},
	{"unknown control character", "{\"x\":\"\x1f\"}", false},
	{"unknown bad syntax", `{"x":[1,2,}`, false},
	{"unknown bad number", `{"x":01}`, false},
	{"unknown bad nesting", `{"x":[}`, false},
	{"unknown key not string", `{"x":{1:2}}`, false},

	{"case-insensitive keys", `{"EVENTTYPE":"full","FeatureFlags":[{"ID":"a","Key":"k","isenabled":true,"VARIATIONS":[{"Id":"v","VALUE":"1"}]}]}`, true},
	{"kelvin sign", "{\"featureFlags\":[{\"\u212aey\":\"k\"}]}", true},
	{"long s", "{\"\u017fegments\":[]}", true},
	{"escaped key", `{"\u0065ventType":"full","featureFlag\u0073":[]}`, true},
	{"escaped kelvin key", `{"featureFlags":[{"\u212aey":"k"}]}`, true},
	{"other non-ascii key", `{"évent":"x","eventTypé":"y"}`, true},
	{"duplicate key", `{"eventType":"full","eventType":"patch"}`, true},
	{"duplicate key other case", `{"eventType":"full","EventType":"patch"}`, true},
	{"duplicate key then null", `{"eventType":"full","eventType":null}`, true},
	{"duplicate array merges", `{"featureFlags":[{"id":"a","key":"k"}],"featureFlags":[{"id":"b"}]}`, true},
	{"duplicate array shorter", `{"featureFlags":[{"id":"a"},{"id":"b"}],"featureFlags":[{"key":"c"}]}`, true},
	{"duplicate array reuses stale", `{"featureFlags":[{"id":"a"},{"id":"b"},{"id":"c"}],"featureFlags":[{}],"featureFlags":[{},{},{}]}`, true},
	{"duplicate array emptied", `{"featureFlags":[{"id":"a"}],"featureFlags":[],"featureFlags":[{}]}`, true},
	{"duplicate array nulled", `{"featureFlags":[{"id":"a"}],"featureFlags":null,"featureFlags":[{}]}`, true},
	{"duplicate tags", `{"featureFlags":[{"tags":["a","b","c"],"tags":["x"],"tags":[null,null,null,null]}]}`, true},
	{"duplicate struct merges", `{"featureFlags":[{"fallthrough":{"dispatchKey":"k"},"fallthrough":{"includedInExpt":true}}]}`, true},
	{"duplicate rollout", `{"featureFlags":[{"fallthrough":{"variations":[{"rollout":[0,1]}],"variations":[{"rollout":[0.5]}]}}]}`, true},

	{"numbers", `{"featureFlags":[{"fallthrough":{"variations":[{"rollout":[0,1,0.5,-0,-0.25,1e2,1E-2,2.5e+1,123456789012345678,0.1234567890123456789],"exptRollout":0.3333}]}}]}`, true},
	{"number fast path boundary", `{"featureFlags":[{"rules":[{"variations":[{"rollout":[0.000000000000000000001,123456789012345.6,1234567890123456,0.9999999999999999]}]}]}]}`, true},
	{"number out of range", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":1e400}]}}]}`, false},
	{"number underflow", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":1e-400}]}}]}`, true},
	{"number leading zero", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":01}]}}]}`, false},
	{"number leading plus", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":+1}]}}]}`, false},
	{"number bare minus", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":-}]}}]}`, false},
	{"number trailing dot", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":1.}]}}]}`, false},
	{"number leading dot", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":.5}]}}]}`, false},
	{"number empty exponent", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":1e}]}}]}`, false},
	{"number hex", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":0x1}]}}]}`, false},
	{"number NaN", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":NaN}]}}]}`, false},

	{"number for string", `{"eventType":1}`, false},
	{"bool for string", `{"featureFlags":[{"key":true}]}`, false},
	{"object for string", `{"featureFlags":[{"key":{}}]}`, false},
	{"array for string", `{"featureFlags":[{"key":["k"]}]}`, false},
	{"string for bool", `{"featureFlags":[{"isEnabled":"true"}]}`, false},
	{"number for bool", `{"featureFlags":[{"isEnabled":1}]}`, false},
	{"string for number", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":"1"}]}}]}`, false},
	{"string for array", `{"featureFlags":"x"}`, false},
	{"object for array", `{"segments":{}}`, false},
	{"array for object", `{"featureFlags":[[]]}`, false},
	{"string for object", `{"featureFlags":[{"fallthrough":"x"}]}`, false},
	{"number in string array", `{"featureFlags":[{"tags":["a",1]}]}`, false},
	{"type error then syntax error", `{"eventType":1,"x":[}`, false},
	{"type error then valid", `{"eventType":1,"eventType":"full"}`, false},
	{"type error in unknown is fine", `{"x":{"eventType":1}}`, true},
}

func TestDecodeParity(t *testing.T) {
	for _, tc := range parityCases {
		t.Run(tc.name, func(t *testing.T) {
			var ds DataSync
			if err := json.Unmarshal([]byte(tc.in), &ds); (err == nil) != tc.ok {
				t.Fatalf("encoding/json error %v, case expects ok=%v", err, tc.ok)
			}
			checkParity(t, []byte(tc.in))
			checkAPIParity(t, []byte(tc.in))
		})
	}
}

func TestDecodeStringValues(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"plain"`, "plain"},
		{`""`, ""},
		{`"[\u0022a\u0022]"`, `["a"]`},
		{`"[\"cn\",\"us\"]"`, `["cn","us"]`},
		{`"\ud83d\ude00"`, "😀"},
		{`"\ud83d"`, "\ufffd"},
		{`"\ud83dx"`, "\ufffdx"},
		{`"\ude00\ud83d"`, "\ufffd\ufffd"},
		{`"\ud83d\ud83d\ude00"`, "\ufffd😀"},
		{"\"a\xffb\"", "a\ufffdb"},
		{"\"\xed\xa0\x80\"", "\ufffd\ufffd\ufffd"},
		{"\"é\\n\xe2\x82\"", "é\n\ufffd\ufffd"},
	} {
		got, err := DecodeDataSync([]byte(`{"featureFlags":[{"key":` + tc.in + `}]}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if k := got.FeatureFlags[0].Key; k != tc.want {
			t.Errorf("%s decoded to %q, want %q", tc.in, k, tc.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"syntax", "{\n  \"eventType\": \"full\",\n  \"featureFlags\": [}\n}",
			"invalid JSON at line 3, column 20: invalid character '}' looking for beginning of value"},
		{"truncated", `{"eventType":"full"`, "invalid JSON at line 1, column 20: unexpected end of JSON input"},
		{"trailing", `{} x`, "invalid JSON at line 1, column 4: invalid character 'x' after top-level value"},
		{"type names field", "{\"featureFlags\":[\n{\"key\":1}]}",
			"invalid JSON at line 2, column 8: cannot unmarshal number into Flag.key (want string)"},
		{"rollout", `{"featureFlags":[{"fallthrough":{"variations":[{"rollout":["0"]}]}}]}`,
			"cannot unmarshal string into RolloutVariation.rollout (want number)"},
		{"range", `{"featureFlags":[{"fallthrough":{"variations":[{"exptRollout":1e999}]}}]}`,
			"cannot unmarshal number 1e999 into RolloutVariation.exptRollout (want float64)"},
		{"syntax beats earlier type error", `{"eventType":1,"x":[}`, "column 21: invalid character '}'"},
		{"first type error", `{"eventType":1,"segments":2}`, "column 14: cannot unmarshal number into DataSync.eventType"},
		{"control character", "{\"eventType\":\"a\x01\"}", `invalid character '\x01' in string literal`},
		{"escape", `{"eventType":"\q"}`, `column 16: invalid character 'q' in string escape code`},
		{"event type", `{"eventType":"delta"}`, `eventType is "delta", want "full" or "patch"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeDataSync([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
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
		{"envelope ignores bare fields", `{"featureFlags":5,"messageType":"data-sync","data":{"featureFlags":[]},"segments":"x"}`, "", 0, ""},
		{"bare", `{"featureFlags":[{"key":"a"}],"segments":[]}`, "", 1, EventFull},
		{"bare with null arrays", `{"featureFlags":null}`, "", 0, EventFull},
		{"bare patch", `{"eventType":"patch","segments":[]}`, "", 0, EventPatch},
		{"bare ignores data", `{"data":{"featureFlags":1},"segments":[]}`, "", 0, EventFull},
		{"bare null messageType", `{"messageType":null,"featureFlags":[{}]}`, "", 1, EventFull},
		{"messageType cleared later", `{"messageType":"data-sync","featureFlags":[{},{}],"messageType":null}`, "", 2, EventFull},
		{"unicode space trimmed", "\u00a0\v{\"featureFlags\":[]}\f", "", 0, EventFull},
		{"skipped bare field needed after all", `{"messageType":"data-sync","featureFlags":[{},{},{}],"messageType":null,"segments":[]}`, "", 3, EventFull},
		{"skipped bare field with type error", `{"messageType":"data-sync","featureFlags":[1],"messageType":null}`, "cannot unmarshal number into DataSync.featureFlags", 0, ""},
		{"bare type error ignored by envelope", `{"featureFlags":[{"key":1}],"messageType":"data-sync","data":{"featureFlags":[{}]}}`, "", 1, ""},
		{"data decoded then replaced", `{"messageType":"data-sync","data":{"featureFlags":[{}]},"messageType":"x","data":{"featureFlags":[{},{}]},"messageType":"data-sync"}`, "", 2, ""},
		{"data type error then replaced", `{"messageType":"data-sync","data":{"featureFlags":1},"data":{"featureFlags":[{}]}}`, "", 1, ""},
		{"data replaced by type error", `{"messageType":"data-sync","data":{"featureFlags":[]},"data":{"featureFlags":1}}`, "cannot unmarshal number into DataSync.featureFlags", 0, ""},
		{"duplicate data last wins", `{"messageType":"data-sync","data":{"featureFlags":[{"id":"a","key":"k"}]},"data":{"featureFlags":[{"id":"b"}]}}`, "", 1, ""},

		{"empty", " \n", "empty document", 0, ""},
		{"not object", `[{"featureFlags":[]}]`, "not a JSON object", 0, ""},
		{"wrong messageType", `{"messageType":"ping","data":{}}`, `messageType is "ping", want "data-sync"`, 0, ""},
		{"messageType case", `{"messageType":"Data-Sync","data":{}}`, `messageType is "Data-Sync"`, 0, ""},
		{"messageType type", `{"messageType":1,"data":{}}`, "cannot unmarshal number into messageType (want string)", 0, ""},
		{"no data", `{"messageType":"data-sync"}`, `data-sync message has no "data"`, 0, ""},
		{"null data", `{"messageType":"data-sync","data":null}`, `data-sync message has no "data"`, 0, ""},
		{"data not object", `{"messageType":"data-sync","data":[]}`, "cannot unmarshal array into data (want object)", 0, ""},
		{"bad event type", `{"messageType":"data-sync","data":{"eventType":"x"}}`, `eventType is "x"`, 0, ""},
		{"neither", `{"flags":[]}`, `neither a data-sync message nor an object with "featureFlags" and "segments"`, 0, ""},
		{"bare type error", `{"featureFlags":[{"key":1}]}`, "cannot unmarshal number into Flag.key", 0, ""},
		{"bare bad event type", `{"eventType":"x","segments":[]}`, `eventType is "x"`, 0, ""},
		{"syntax error after envelope", `{"messageType":"data-sync","data":{}} x`, "after top-level value", 0, ""},
		{"error position in data", "{\"messageType\":\"data-sync\",\n\"data\":{\"featureFlags\":[{\"key\":1}]}}", "line 2, column 32", 0, ""},
		{"deferred error position", "{\"data\":{\"featureFlags\":[{\"key\":1}]},\n\"messageType\":\"data-sync\"}", "line 1, column 33", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkAPIParity(t, []byte(tc.in))
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
		{"other type skips data", `{"data":{"featureFlags":"not decoded"},"messageType":"echo"}`, "echo", "", 0},
		{"unknown type", `{"messageType":"rp-agent-status","data":[1,{"a":null}]}`, "rp-agent-status", "", 0},
		{"data-sync", `{"messageType":"data-sync","data":{"eventType":"patch","featureFlags":[{}],"segments":[]}}`, MessageDataSync, "", 1},
		{"data-sync data first", `{"data":{"eventType":"full","featureFlags":[{},{}]},"messageType":"data-sync"}`, MessageDataSync, "", 2},
		{"case-insensitive keys", `{"MessageType":"data-sync","DATA":{"featureFlags":[{}]}}`, MessageDataSync, "", 1},

		{"missing messageType", `{"data":{}}`, "", `message has no "messageType"`, 0},
		{"null messageType", `{"messageType":null,"data":{}}`, "", `message has no "messageType"`, 0},
		{"null message", `null`, "", `message has no "messageType"`, 0},
		{"not an object", `["ping"]`, "", "cannot unmarshal array into message (want object)", 0},
		{"messageType type", `{"messageType":true}`, "", "cannot unmarshal bool into messageType (want string)", 0},
		{"invalid skipped data", `{"messageType":"pong","data":{"a":}}`, "", "invalid character '}' looking for beginning of value", 0},
		{"trailing data", `{"messageType":"pong","data":{}}}`, "", "after top-level value", 0},
		{"data-sync without data", `{"messageType":"data-sync"}`, "", `data-sync message has no "data"`, 0},
		{"data-sync type error", `{"messageType":"data-sync","data":{"segments":{}}}`, "", "cannot unmarshal object into DataSync.segments (want array)", 0},
		{"data-sync bad event type", `{"messageType":"data-sync","data":{"eventType":"delta"}}`, "", `eventType is "delta"`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkAPIParity(t, []byte(tc.in))
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

// TestDecodeDepth checks the nesting limit at its edge, in skipped values, where hostile
// input would otherwise recurse without bound.
func TestDecodeDepth(t *testing.T) {
	nest := func(n int) []byte {
		// The object, featureFlags and the flag are three levels.
		return []byte(`{"featureFlags":[{"x":` + strings.Repeat("[", n-3) + strings.Repeat("]", n-3) + `}]}`)
	}
	for _, tc := range []struct {
		depth int
		ok    bool
	}{{maxDepth, true}, {maxDepth + 1, false}, {3 * maxDepth, false}} {
		b := nest(tc.depth)
		checkParity(t, b)
		_, err := DecodeDataSync(b)
		if (err == nil) != tc.ok {
			t.Fatalf("depth %d: error %v", tc.depth, err)
		}
		if err != nil && !strings.Contains(err.Error(), "exceeded max depth") {
			t.Fatalf("depth %d: error %v", tc.depth, err)
		}
	}
	// Unclosed nesting far past the limit must stop at the limit.
	b := []byte(`{"x":` + strings.Repeat(`{"a":[`, 100000))
	if _, err := DecodeDataSync(b); err == nil || !strings.Contains(err.Error(), "exceeded max depth") {
		t.Fatalf("error %v", err)
	}
}

// TestFoldEqualMatchesEqualFold checks the key matcher against bytes.EqualFold, which is
// what encoding/json's case-insensitive matching amounts to.
func TestFoldEqualMatchesEqualFold(t *testing.T) {
	keys := []string{"", "k", "K", "\u212a", "\u017f", "s", "S", "\u212aey", "ke\u212a", "\u017fegments",
		"SEGMENTS", "segment", "segmentss", "ID", "iD", "id\xff", "\xffid", "\u0130d", "\u0131d", "kEYiDS", "keyIds\x00"}
	for _, name := range keyNames[1:] {
		keys = append(keys, name, strings.ToUpper(name), strings.ToLower(name), name+"x", name[1:])
	}
	for _, k := range keys {
		for _, name := range keyNames[1:] {
			if got, want := foldEqual([]byte(k), name), bytes.EqualFold([]byte(k), []byte(name)); got != want {
				t.Errorf("foldEqual(%q, %q) = %v, want %v", k, name, got, want)
			}
		}
	}
}

// genDataSet builds a data-sync envelope of n realistic flags (about 1 KB each, minified):
// a boolean flag with two variations, one individual target, one IsOneOf rule with a 100 %
// rollout and a 50/50 fallthrough with exptRollout.
func genDataSet(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	guid := func() string {
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff,
			rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
	}
	envID := guid()
	ds := DataSync{EventType: EventFull, FeatureFlags: make([]Flag, n), Segments: []Segment{}}
	for i := range ds.FeatureFlags {
		on, off := guid(), guid()
		ds.FeatureFlags[i] = Flag{
			ID:            guid(),
			EnvID:         envID,
			Name:          guid(),
			Key:           fmt.Sprintf("flag-%05d", i),
			VariationType: "boolean",
			Variations:    []Variation{{ID: on, Name: "True", Value: "true"}, {ID: off, Name: "False", Value: "false"}},
			TargetUsers:   []TargetUser{{KeyIDs: []string{fmt.Sprintf("user-%d-a", i), fmt.Sprintf("user-%d-b", i)}, VariationID: on}},
			Rules: []Rule{{
				ID:         guid(),
				Name:       "Rule 1",
				Conditions: []Condition{{ID: guid(), Property: "country", Op: "IsOneOf", Value: `["cn","us","fr"]`}},
				Variations: []RolloutVariation{{ID: on, Rollout: []float64{0, 1}, ExptRollout: 1}},
			}},
			IsEnabled:           true,
			DisabledVariationID: off,
			Fallthrough: Fallthrough{
				IncludedInExpt: true,
				Variations: []RolloutVariation{
					{ID: on, Rollout: []float64{0, 0.5}, ExptRollout: 0.5},
					{ID: off, Rollout: []float64{0.5, 1}, ExptRollout: 0.5},
				},
			},
			Tags:      []string{},
			UpdatedAt: fmt.Sprintf("2024-03-%02dT%02d:%02d:%02d.%03dZ", 1+i%28, i%24, i%60, (i/60)%60, i%1000),
		}
	}
	data, err := json.Marshal(ds)
	if err != nil {
		panic(err)
	}
	msg, err := json.Marshal(Message{MessageType: MessageDataSync, Data: data})
	if err != nil {
		panic(err)
	}
	return msg
}

func TestGeneratedDataSet(t *testing.T) {
	b := genDataSet(100)
	if per := len(b) / 100; per < 900 || per > 1300 {
		t.Fatalf("%d bytes per flag, want about 1 KB", per)
	}
	checkAPIParity(t, b)
	ds, err := DecodeDataSet(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.FeatureFlags) != 100 || ds.FeatureFlags[99].Key != "flag-00099" {
		t.Fatalf("decoded %d flags", len(ds.FeatureFlags))
	}
}

func BenchmarkDecodeDataSet10k(b *testing.B) {
	in := genDataSet(10000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := DecodeDataSet(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDataSet10kStdlib(b *testing.B) {
	in := genDataSet(10000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := legacyDecodeDataSet(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFixture(b *testing.B) {
	in := readFile(b, "../../testdata/featbit_test_data.json")
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := DecodeDataSet(in); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeDataSync checks the decoder against encoding/json on any input: both must accept
// or both reject, with deeply equal results; the public functions must agree with their
// encoding/json versions the same way, and nothing may panic.
func FuzzDecodeDataSync(f *testing.F) {
	featbit := readFile(f, "../../testdata/featbit_test_data.json")
	f.Add(featbit)
	f.Add(elsDataSet(f))
	var msg Message
	if err := json.Unmarshal(featbit, &msg); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(msg.Data))
	f.Add(genDataSet(2))
	for _, tc := range parityCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(`{"messageType":"ping","data":{"timestamp":0}}`))
	f.Add([]byte(`{"data":{"featureFlags":[{"key":"a"}]},"messageType":"data-sync"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkParity(t, b)
		checkAPIParity(t, b)
	})
}

// DecodeStringArray accepts and rejects what json.Unmarshal into []*string does, and
// leaves out the null items.
func TestDecodeStringArray(t *testing.T) {
	for _, in := range []string{
		`["cn","us"]`, `[]`, `null`, ` [ "a" , "b\u0022" ] `, `[1,2]`, `["a",null]`, `"us"`, `{}`,
		`not json`, `["a"`, `["a"] x`, ``, `[["a"]]`, `[true]`, `[null,"",null]`, `[null]`,
	} {
		checkStringArray(t, in)
	}
	got, err := DecodeStringArray(`[null,"a",null,"",null]`)
	if err != nil || !reflect.DeepEqual(got, []string{"a", ""}) {
		t.Fatalf("got %#v, %v", got, err)
	}
}

func FuzzDecodeStringArray(f *testing.F) {
	f.Add(`["CS","MATH","PHYSICS"]`)
	f.Add(`["a",null]`)
	f.Fuzz(checkStringArray)
}

func checkStringArray(t *testing.T, in string) {
	t.Helper()
	var ptrs []*string
	wantErr := json.Unmarshal([]byte(in), &ptrs)
	var want []string
	if ptrs != nil {
		want = []string{}
		for _, p := range ptrs {
			if p != nil {
				want = append(want, *p)
			}
		}
	}
	got, err := DecodeStringArray(in)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, encoding/json says %v", in, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %#v, want %#v", in, got, want)
	}
}
