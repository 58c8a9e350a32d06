package fbclient

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/internal/wire"
)

// benchClient returns an offline client holding the given data set, with events off and no
// listeners: the evaluation path alone.
func benchClient(tb testing.TB, ds *wire.DataSync) *Client {
	tb.Helper()
	c, err := New(Config{Offline: true})
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	ds.EventType = wire.EventFull
	res := c.store.apply(ds)
	require.Empty(tb, res.skipped)
	return c
}

// rules5x3 is a flag with 5 rules of 3 conditions (Equal, BiggerThan, IsOneOf with 5
// values), each rule for another country; only the last rule matches the benchmark user.
func rules5x3() wire.Flag {
	return rulesFlag("rules-5x3", []string{"fr", "de", "cn", "jp", "us"})
}

// rules5x3Worst is rules5x3 with the same country in every rule, so that each of the first
// four rules fails only on its last condition: all 15 conditions are evaluated.
func rules5x3Worst() wire.Flag {
	return rulesFlag("rules-5x3-worst", []string{"us", "us", "us", "us", "us"})
}

func rulesFlag(key string, countries []string) wire.Flag {
	f := boolFlag(key, false, 1)
	for i, country := range countries {
		plans := make([]string, 5)
		for j := range plans {
			plans[j] = fmt.Sprintf("plan-%d-%d", i, j)
		}
		list, _ := json.Marshal(plans)
		f.Rules = append(f.Rules, wire.Rule{
			Name: fmt.Sprintf("rule %d", i),
			Conditions: []wire.Condition{
				{Property: "country", Op: "Equal", Value: country},
				{Property: "age", Op: "BiggerThan", Value: strconv.Itoa(18 + i)},
				{Property: "plan", Op: "IsOneOf", Value: string(list)},
			},
			Variations: []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 1}}},
		})
	}
	return f
}

func rolloutFlag5050() wire.Flag {
	f := boolFlag("rollout-50-50", true, 1)
	f.Fallthrough = wire.Fallthrough{IncludedInExpt: true, Variations: []wire.RolloutVariation{
		{ID: "v-true", Rollout: []float64{0, 0.5}, ExptRollout: 0.5},
		{ID: "v-false", Rollout: []float64{0.5, 1}, ExptRollout: 0.5},
	}}
	return f
}

// segmentData is a flag whose rule tests a segment with 1000 included keys and 2 rules; the
// benchmark user is matched by the segment's second rule.
func segmentData() *wire.DataSync {
	s := seg("big-segment", 1)
	for i := 0; i < 1000; i++ {
		s.Included = append(s.Included, "member-"+strconv.Itoa(i))
	}
	s.Rules = []wire.SegmentRule{
		{Conditions: []wire.Condition{{Property: "plan", Op: "Equal", Value: "enterprise"}}},
		{Conditions: []wire.Condition{{Property: "country", Op: "IsOneOf", Value: `["us","fr","de"]`}}},
	}
	return full([]wire.Flag{segFlag("segment-rule", "big-segment", 1)}, s)
}

var (
	benchUser = NewUser("bench-user-123").WithName("Bench").
			WithCustom("country", "us").WithCustom("age", "30").WithCustom("plan", "plan-4-3")
	sinkBool bool
	sinkStr  string
)

// Scenario 1: one boolean flag served by its default rule.
func BenchmarkVariationBoolFallthrough(b *testing.B) {
	c := benchClient(b, full([]wire.Flag{boolFlag("bool-flag", true, 1)}))
	require.True(b, c.BoolVariation("bool-flag", benchUser, false))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = c.BoolVariation("bool-flag", benchUser, false)
	}
}

// Scenario 1 in a store that patches have changed since the full data set: the flag is
// looked up among the patched flags first.
func BenchmarkVariationBoolFallthroughPatched(b *testing.B) {
	flags := []wire.Flag{boolFlag("bool-flag", true, 1)}
	for i := 0; i < 100; i++ {
		flags = append(flags, boolFlag(fmt.Sprintf("other-%03d", i), true, 1))
	}
	c := benchClient(b, full(flags))
	for i := 0; i < minRecent/2; i++ {
		c.store.apply(patch([]wire.Flag{boolFlag(fmt.Sprintf("other-%03d", i), false, 2)}))
	}
	require.Len(b, c.store.load().recent, minRecent/2)
	require.True(b, c.BoolVariation("bool-flag", benchUser, false))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = c.BoolVariation("bool-flag", benchUser, false)
	}
}

// Scenario 2: 5 rules x 3 conditions, only the last rule matches.
func BenchmarkVariationRules5x3(b *testing.B) {
	benchRules(b, rules5x3())
}

// Scenario 2, worst case: every condition of every rule is evaluated.
func BenchmarkVariationRules5x3Worst(b *testing.B) {
	benchRules(b, rules5x3Worst())
}

func benchRules(b *testing.B, f wire.Flag) {
	c := benchClient(b, full([]wire.Flag{f}))
	_, d := c.BoolVariationDetail(f.Key, benchUser, false)
	require.Equal(b, ReasonRuleMatch, d.Reason)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = c.BoolVariation(f.Key, benchUser, false)
	}
}

// Scenario 3: a 50/50 percentage rollout with a partial experiment share.
func BenchmarkVariationRollout(b *testing.B) {
	c := benchClient(b, full([]wire.Flag{rolloutFlag5050()}))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = c.BoolVariation("rollout-50-50", benchUser, false)
	}
}

// Scenario 4: a rule with a segment condition (1000 included keys, 2 rules).
func BenchmarkVariationSegment(b *testing.B) {
	c := benchClient(b, segmentData())
	_, d := c.BoolVariationDetail("segment-rule", benchUser, false)
	require.Equal(b, ReasonRuleMatch, d.Reason)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = c.BoolVariation("segment-rule", benchUser, false)
	}
}

// Scenario 5: AllVariations over 100 flags of the four kinds above.
func BenchmarkAllVariations100(b *testing.B) {
	ds := segmentData()
	for i := 0; i < 25; i++ {
		for j, f := range []wire.Flag{boolFlag("bool", true, 1), rules5x3(), rolloutFlag5050(), segFlag("seg", "big-segment", 1)} {
			f.Key = fmt.Sprintf("%s-%d-%d", f.Key, i, j)
			ds.FeatureFlags = append(ds.FeatureFlags, f)
		}
	}
	ds.FeatureFlags = ds.FeatureFlags[1:] // drop segmentData's own flag: 100 flags
	c := benchClient(b, ds)
	require.Equal(b, 100, c.AllVariations(benchUser).Len())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkBool = c.AllVariations(benchUser).Len() == 100
	}
}

// Scenario 6: scenario 1 from every P.
func BenchmarkVariationParallel(b *testing.B) {
	c := benchClient(b, full([]wire.Flag{boolFlag("bool-flag", true, 1)}))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		v := false
		for pb.Next() {
			v = c.BoolVariation("bool-flag", benchUser, false)
		}
		sinkBool = v
	})
}

// The string form of scenario 1, and its detail form.
func BenchmarkVariationString(b *testing.B) {
	c := benchClient(b, full([]wire.Flag{boolFlag("bool-flag", true, 1)}))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkStr = c.Variation("bool-flag", benchUser, "")
	}
}

func BenchmarkVariationDetail(b *testing.B) {
	c := benchClient(b, full([]wire.Flag{boolFlag("bool-flag", true, 1)}))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sinkStr = c.VariationDetail("bool-flag", benchUser, "").Value
	}
}

// largeDataSet is n realistic flags as a data-sync message: GUID ids, two variations, a
// target list, a rule with an IsOneOf condition and a 50/50 default rule.
func largeDataSet(n int) []byte {
	ds := wire.DataSync{EventType: wire.EventFull}
	for i := 0; i < n; i++ {
		f := rolloutFlag5050()
		f.Key = fmt.Sprintf("flag-%05d", i)
		f.Name = "Flag " + strconv.Itoa(i)
		f.ID = fmt.Sprintf("0779d76b-afc6-4886-ab65-%012d", i)
		f.EnvID = "41e260d6-83e3-4cfe-943e-ef6cd83401bb"
		f.Variations = []wire.Variation{{ID: "18b369f8-453f-46d7-88cc-fe41d29ca6e3", Value: "true"}, {ID: "43a1b83b-18df-42a6-971c-b2518455d8f2", Value: "false"}}
		f.DisabledVariationID = "43a1b83b-18df-42a6-971c-b2518455d8f2"
		f.TargetUsers = []wire.TargetUser{{KeyIDs: []string{"user-1", "user-2"}, VariationID: "18b369f8-453f-46d7-88cc-fe41d29ca6e3"}}
		f.Rules = []wire.Rule{{ID: "cf1ca836-a4ef-422e-8996-931aecd248a2", Name: "Rule 1",
			Conditions: []wire.Condition{{Property: "country", Op: "IsOneOf", Value: `["us","fr","cn"]`}},
			Variations: []wire.RolloutVariation{{ID: "18b369f8-453f-46d7-88cc-fe41d29ca6e3", Rollout: []float64{0, 1}, ExptRollout: 1}}}}
		f.Fallthrough.Variations[0].ID = "18b369f8-453f-46d7-88cc-fe41d29ca6e3"
		f.Fallthrough.Variations[1].ID = "43a1b83b-18df-42a6-971c-b2518455d8f2"
		f.Tags = []string{}
		f.UpdatedAt = wire.FormatVersion(1700000000000 + int64(i))
		ds.FeatureFlags = append(ds.FeatureFlags, f)
	}
	// FeatBit writes messageType before data.
	b, err := json.Marshal(struct {
		MessageType string        `json:"messageType"`
		Data        wire.DataSync `json:"data"`
	}{"data-sync", ds})
	if err != nil {
		panic(err)
	}
	return b
}

// Loading 10,000 flags: decoding the message and compiling the snapshot. heap-MiB is the
// heap the loaded snapshot holds.
func BenchmarkLoad10000Flags(b *testing.B) {
	doc := largeDataSet(10000)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	var st *store
	for i := 0; i < b.N; i++ {
		st = new(store)
		ds, err := wire.DecodeDataSet(doc)
		if err != nil {
			b.Fatal(err)
		}
		st.apply(ds)
	}
	b.StopTimer()
	require.Len(b, st.load().live(), 10000)

	// The heap the loaded data holds, once everything decoding allocated is gone (the
	// message itself stays alive on both sides of the difference).
	st = nil
	base := heapInUse()
	st = new(store)
	ds, err := wire.DecodeDataSet(doc)
	require.NoError(b, err)
	st.apply(ds)
	ds = nil
	b.ReportMetric((float64(heapInUse())-float64(base))/(1<<20), "heap-MiB")
	runtime.KeepAlive(st)
	runtime.KeepAlive(doc)
}

// heapInUse returns the live heap after a complete collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
