package fbtest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/featflags/fbclient/internal/wire"
)

func TestFlagDefaults(t *testing.T) {
	f := Flag("k").build("env")
	if f.Key != "k" || f.Name != "k" || f.VariationType != "boolean" || !f.IsEnabled || f.IsArchived ||
		!f.ExptIncludeAllTargets || f.EnvID != "env" {
		t.Fatalf("flag = %+v", f)
	}
	if len(f.Variations) != 2 || f.Variations[0].Value != "true" || f.Variations[1].Value != "false" {
		t.Fatalf("variations = %+v", f.Variations)
	}
	if f.DisabledVariationID != VariationID("k", 1) {
		t.Errorf("off variation %s, want the last", f.DisabledVariationID)
	}
	ft := f.Fallthrough
	if !ft.IncludedInExpt || ft.DispatchKey != "" || len(ft.Variations) != 1 || ft.Variations[0].ID != VariationID("k", 0) ||
		!slices.Equal(ft.Variations[0].Rollout, []float64{0, 1}) || ft.Variations[0].ExptRollout != 1 {
		t.Errorf("fallthrough = %+v", ft)
	}
	// Lists are empty arrays, not null, in the JSON.
	b, _ := json.Marshal(f)
	for _, field := range []string{`"targetUsers":[]`, `"rules":[]`, `"tags":[]`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("JSON lacks %s: %s", field, b)
		}
	}
	if _, err := uuid.Parse(f.ID); err != nil || f.ID == f.Variations[0].ID {
		t.Errorf("ids %s %s", f.ID, f.Variations[0].ID)
	}
}

func TestVariationIDsAreDeterministic(t *testing.T) {
	a, b := VariationID("k", 0), VariationID("k", 0)
	if a != b || a == VariationID("k", 1) || a == VariationID("k2", 0) {
		t.Fatalf("ids %s %s", a, b)
	}
	if _, err := uuid.Parse(a); err != nil {
		t.Fatal(err)
	}
	// No collision from concatenation.
	if VariationID("a1", 1) == VariationID("a", 11) {
		t.Fatal("collision")
	}
}

func TestFlagBuilder(t *testing.T) {
	f := Flag("f").Name("Feature").Strings("a", "b", "c").
		On(false).OffVariation(0).
		Target(1, "u1", "u2").Target(2, "u3").Target(1, "u4").
		Rule("r1", 2, Cond("country", "Equal", "us"), InSegment("s1", "s2")).
		RuleRollout("r2", "name", []float64{1, 0, 3}, NotInSegment("s3"), Cond("major", "IsOneOf", OneOf("cs", "math"))).
		Rollout(0, 1, 1).DispatchKey("company").
		ExptIncludeAllTargets(false).
		Archived().
		build("env")
	id := func(i int) string { return VariationID("f", i) }
	if f.Name != "Feature" || f.VariationType != "string" || f.IsEnabled || !f.IsArchived || f.ExptIncludeAllTargets ||
		f.DisabledVariationID != id(0) {
		t.Fatalf("flag = %+v", f)
	}
	wantTargets := []wire.TargetUser{{KeyIDs: []string{"u1", "u2", "u4"}, VariationID: id(1)}, {KeyIDs: []string{"u3"}, VariationID: id(2)}}
	if !equalJSON(f.TargetUsers, wantTargets) {
		t.Errorf("targets = %+v", f.TargetUsers)
	}
	wantRules := []wire.Rule{
		{
			ID: f.Rules[0].ID, Name: "r1",
			Conditions: []wire.Condition{
				{Property: "country", Op: "Equal", Value: "us"},
				{Property: "User is in segment", Value: `["s1","s2"]`},
			},
			Variations: []wire.RolloutVariation{{ID: id(2), Rollout: []float64{0, 1}, ExptRollout: 1}},
		},
		{
			ID: f.Rules[1].ID, Name: "r2", DispatchKey: "name",
			Conditions: []wire.Condition{
				{Property: "User is not in segment", Value: `["s3"]`},
				{Property: "major", Op: "IsOneOf", Value: `["cs","math"]`},
			},
			Variations: []wire.RolloutVariation{
				{ID: id(0), Rollout: []float64{0, 0.25}, ExptRollout: 1},
				{ID: id(2), Rollout: []float64{0.25, 1}, ExptRollout: 1},
			},
		},
	}
	if !equalJSON(f.Rules, wantRules) {
		got, _ := json.Marshal(f.Rules)
		t.Errorf("rules = %s", got)
	}
	if f.Rules[0].ID == f.Rules[1].ID {
		t.Error("rule ids collide")
	}
	wantFT := wire.Fallthrough{DispatchKey: "company", IncludedInExpt: true, Variations: []wire.RolloutVariation{
		{ID: id(1), Rollout: []float64{0, 0.5}, ExptRollout: 1},
		{ID: id(2), Rollout: []float64{0.5, 1}, ExptRollout: 1},
	}}
	if !equalJSON(f.Fallthrough, wantFT) {
		t.Errorf("fallthrough = %+v", f.Fallthrough)
	}
}

func TestRolloutCoversZeroToOne(t *testing.T) {
	f := Flag("f").Strings("a", "b", "c").Rollout(1, 1, 1).build("")
	v := f.Fallthrough.Variations
	if len(v) != 3 || v[0].Rollout[0] != 0 || v[2].Rollout[1] != 1 {
		t.Fatalf("rollout %+v", v)
	}
	for i := 1; i < 3; i++ {
		if v[i].Rollout[0] != v[i-1].Rollout[1] {
			t.Errorf("gap between %d and %d", i-1, i)
		}
	}
}

func TestVariationTypes(t *testing.T) {
	for _, tc := range []struct {
		b      *FlagBuilder
		typ    string
		values []string
	}{
		{Flag("f").Strings("x", "").Boolean(), "boolean", []string{"true", "false"}},
		{Flag("f").Numbers(1, 33, 2.5, -0.125, 1e21), "number", []string{"1", "33", "2.5", "-0.125", "1000000000000000000000"}},
		{Flag("f").JSON(`{"code":200}`, `[1]`), "json", []string{`{"code":200}`, `[1]`}},
		{Flag("f").Variations("string", "only"), "string", []string{"only"}},
	} {
		f := tc.b.build("")
		var values []string
		for _, v := range f.Variations {
			values = append(values, v.Value)
		}
		if f.VariationType != tc.typ || !slices.Equal(values, tc.values) {
			t.Errorf("got %s %q, want %s %q", f.VariationType, values, tc.typ, tc.values)
		}
	}
}

func TestBuilderPanics(t *testing.T) {
	for name, b := range map[string]*FlagBuilder{
		"off index":          Flag("f").OffVariation(2),
		"fallthrough index":  Flag("f").Fallthrough(-1),
		"target index":       Flag("f").Target(5, "u"),
		"rule index":         Flag("f").Rule("r", 2),
		"too many weights":   Flag("f").Rollout(1, 1, 1),
		"negative weight":    Flag("f").Rollout(-1, 2),
		"no positive weight": Flag("f").Rollout(0, 0),
		"no variations":      Flag("f").Strings(),
		"rule rollout":       Flag("f").RuleRollout("r", "", []float64{0}),
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if s, _ := r.(string); !strings.HasPrefix(s, "fbtest: flag \"f\"") {
					t.Errorf("panic %v", r)
				}
			}()
			srv := NewTestServer(t)
			srv.SetFlags(Flag("ok"), b)
		})
	}
}

func TestSetFlagsPanicChangesNothing(t *testing.T) {
	srv := NewTestServer(t)
	func() {
		defer func() { _ = recover() }()
		srv.SetFlags(Flag("ok"), Flag("bad").OffVariation(9))
	}()
	if v := srv.DataVersion(); v != 0 {
		t.Fatalf("a flag was set before the panic: version %d", v)
	}
	srv.SetFlags(Flag("ok")) // the lock was released
}

func TestSegmentBuilder(t *testing.T) {
	s := Segment("seg").Included("a", "b").Excluded("c").Included("d").
		Rule(Cond("age", "BiggerThan", "20")).Rule(Cond("country", "IsOneOf", OneOf("cn")), Cond("x", "IsTrue", "IsTrue")).
		build("env")
	if s.ID != "seg" || s.Name != "seg" || s.EnvID != "env" || s.IsArchived ||
		!slices.Equal(s.Included, []string{"a", "b", "d"}) || !slices.Equal(s.Excluded, []string{"c"}) {
		t.Fatalf("segment = %+v", s)
	}
	if len(s.Rules) != 2 || s.Rules[1].Name != "Rule 2" || len(s.Rules[1].Conditions) != 2 ||
		s.Rules[1].Conditions[0].Value != `["cn"]` || s.Rules[0].ID == s.Rules[1].ID {
		t.Errorf("rules = %+v", s.Rules)
	}
	e := Segment("e").Name("Empty").Archived().build("")
	b, _ := json.Marshal(e)
	if e.Name != "Empty" || !e.IsArchived || !strings.Contains(string(b), `"included":[],"excluded":[],"rules":[]`) {
		t.Errorf("segment JSON %s", b)
	}
}

func TestOneOf(t *testing.T) {
	if got := OneOf(); got != "[]" {
		t.Errorf("OneOf() = %s", got)
	}
	if got := OneOf(`a"b`, "ü"); got != `["a\"b","ü"]` {
		t.Errorf("OneOf = %s", got)
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
