package fbclient

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/featflags/fbclient/internal/wire"
)

// checkResult asserts the invariants every evaluation result keeps, whatever the data.
func checkResult(t *testing.T, f *flag, r result) {
	t.Helper()
	if r.v == nil {
		if !r.reason.Fallback() || r.err == nil {
			t.Fatalf("flag %q: no variation but reason %v, err %v", f.key, r.reason, r.err)
		}
		return
	}
	if r.reason.Fallback() || r.err != nil {
		t.Fatalf("flag %q: variation served with reason %v, err %v", f.key, r.reason, r.err)
	}
	for i := range f.variations {
		if &f.variations[i] == r.v {
			return
		}
	}
	t.Fatalf("flag %q served a variation that is not its own", f.key)
}

// FuzzDecodeDataSet feeds arbitrary documents to the offline/polling decoder, then the store
// and the evaluator: nothing may panic, whatever loads evaluates with sound results, a patch
// on top keeps the snapshot whole, and the data set the store gives back loads the same
// snapshot again.
func FuzzDecodeDataSet(f *testing.F) {
	for _, name := range []string{"testdata/featbit_test_data.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(readELSFakes(f))
	f.Add([]byte(`{"featureFlags":[],"segments":[]}`))
	f.Add([]byte(`{"messageType":"data-sync","data":{"eventType":"patch","featureFlags":[{"key":"a","updatedAt":"2024-01-01T00:00:00Z","isEnabled":true,"variationType":"boolean","variations":[{"id":"t","value":"true"}],"fallthrough":{"variations":[{"id":"t","rollout":[0,1]}]}}],"segments":[]}}`))
	f.Add([]byte(`{"featureFlags":[{"key":"a","updatedAt":"2024-01-01T00:00:00Z","isArchived":true},{"key":"b","updatedAt":"2024-01-01T00:00:00Z","variationType":"string","variations":[{"id":"x","value":"x"}],"rules":[{"conditions":[{"property":"p","op":"NotEqual","value":null},{"property":"User is in segment","value":"[\"s\",null]"}],"variations":[{"id":"x","rollout":[0,1]}]}]}],"segments":[{"id":"s","updatedAt":"2024-01-01T00:00:00Z","included":["u"]}]}`))
	users := []User{NewUser("test-user-1").WithCustom("country", "us"), NewUser("u").WithName("group-user").WithCustom("major", "cs").WithCustom("age", "30")}
	f.Fuzz(func(t *testing.T, doc []byte) {
		ds, err := wire.DecodeDataSet(doc)
		if err != nil {
			return
		}
		st := store{keepSource: true}
		ds.EventType = wire.EventFull
		st.apply(ds)
		st.apply(&wire.DataSync{EventType: wire.EventPatch, FeatureFlags: ds.FeatureFlags, Segments: ds.Segments})
		snap := st.load()
		checkSnapshot(t, snap)
		for _, fl := range snap.live() {
			for i := range users {
				checkResult(t, fl, evaluate(fl, &users[i]))
			}
		}

		b, err := snap.dataSet().MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseDataSet(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		var again store
		again.apply(back.ds)
		got := again.load()
		if got.version != snap.version || !slices.Equal(flagKeys(got.live()), flagKeys(snap.live())) {
			t.Fatalf("read back version %d, flags %v; want %d, %v", got.version, flagKeys(got.live()), snap.version, flagKeys(snap.live()))
		}
		for _, fl := range snap.live() {
			for i := range users {
				want, have := evaluate(fl, &users[i]), evaluate(got.flag(fl.key), &users[i])
				if want.reason != have.reason || (want.v == nil) != (have.v == nil) || want.v != nil && want.v.id != have.v.id {
					t.Fatalf("flag %q read back evaluates to %+v, want %+v", fl.key, have, want)
				}
			}
		}
	})
}

// FuzzEvaluate evaluates fuzzed flags, built from fuzzed conditions, rollouts and variation
// values, against fuzzed users.
func FuzzEvaluate(f *testing.F) {
	f.Add("keyId", "MatchRegex", `^(\+?0?86\-?)?1[345789]\d{9}$`, "18555358000", "country", "us", 0.0, 0.5, 0.25, "name", true, "true")
	f.Add("age", "BiggerThan", "22", "u", "age", "1,000", 0.5, 1.0, 1.0, "", false, "42")
	f.Add(wire.SegmentIn, "", `["s"]`, "member", "plan", "pro", 0.0, 0.0, 0.0, "plan", true, "")
	f.Add("major", "IsOneOf", `["CS",null]`, " ", "major", "CS", -1.0, 2.0, 0.5, "major", false, `{"a":1}`)
	f.Fuzz(func(t *testing.T, prop, op, value, key, attr, attrValue string, lo, hi, expt float64, dispatch string, allTargets bool, served string) {
		w := wire.Flag{
			Key: "fuzz", VariationType: "string", IsEnabled: true, DisabledVariationID: "b",
			ExptIncludeAllTargets: allTargets,
			Variations:            []wire.Variation{{ID: "a", Value: served}, {ID: "b", Value: attrValue}},
			TargetUsers:           []wire.TargetUser{{KeyIDs: []string{attrValue}, VariationID: "a"}},
			Rules: []wire.Rule{{DispatchKey: dispatch, IncludedInExpt: true,
				Conditions: []wire.Condition{{Property: prop, Op: op, Value: value}},
				Variations: []wire.RolloutVariation{{ID: "a", Rollout: []float64{lo, hi}, ExptRollout: expt}, {ID: "b", Rollout: []float64{hi, 1}, ExptRollout: expt}}}},
			Fallthrough: wire.Fallthrough{DispatchKey: dispatch, IncludedInExpt: !allTargets,
				Variations: []wire.RolloutVariation{{ID: "b", Rollout: []float64{lo, hi}, ExptRollout: expt}}},
			UpdatedAt: "2024-01-01T00:00:00Z",
		}
		segs := map[string]*segment{"s": compileSegment(&wire.Segment{ID: "s", Included: []string{key}, Rules: []wire.SegmentRule{
			{Conditions: []wire.Condition{{Property: prop, Op: op, Value: value}}}}}, 1)}
		fl := compileFlag(&w, 1, segs)
		u := NewUser(key).WithName(attrValue).WithCustom(attr, attrValue)
		checkResult(t, fl, evaluate(fl, &u))

		// The public API on the same data: typed conversions never panic, fallbacks return
		// the default.
		var st store
		st.apply(&wire.DataSync{EventType: wire.EventFull, FeatureFlags: []wire.Flag{w}})
		c := &Client{events: newRecorder(16, false, &listeners{})}
		c.store.cur.Store(st.load())
		d := c.VariationDetail("fuzz", u, "default")
		if d.Err != nil && d.Value != "default" {
			t.Fatalf("fallback returned %q", d.Value)
		}
		c.BoolVariation("fuzz", u, false)
		c.IntVariation("fuzz", u, 0)
		c.Float64Variation("fuzz", u, 0)
		JSONVariation(c, "fuzz", u, map[string]any{})
		if _, err := json.Marshal(c.AllVariations(u)); err != nil {
			t.Fatal(err)
		}
	})
}
