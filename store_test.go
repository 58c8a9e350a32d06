package fbclient

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/internal/wire"
)

// boolFlag is a boolean flag serving value to everyone, at version ms.
func boolFlag(key string, value bool, ms int64) wire.Flag {
	serve := "v-false"
	if value {
		serve = "v-true"
	}
	return wire.Flag{
		ID: "id-" + key, Key: key, Name: key, VariationType: "boolean",
		Variations:          []wire.Variation{{ID: "v-true", Value: "true"}, {ID: "v-false", Value: "false"}},
		IsEnabled:           true,
		DisabledVariationID: "v-false",
		Fallthrough:         wire.Fallthrough{Variations: []wire.RolloutVariation{{ID: serve, Rollout: []float64{0, 1}}}},
		UpdatedAt:           wire.FormatVersion(ms),
	}
}

// segFlag serves true to the users of segment seg, false to others.
func segFlag(key, seg string, ms int64) wire.Flag {
	f := boolFlag(key, false, ms)
	f.Rules = []wire.Rule{{Name: "in segment", Conditions: []wire.Condition{{Property: wire.SegmentIn, Value: `["` + seg + `"]`}},
		Variations: []wire.RolloutVariation{{ID: "v-true", Rollout: []float64{0, 1}}}}}
	return f
}

func seg(id string, ms int64, included ...string) wire.Segment {
	return wire.Segment{ID: id, Name: id, Included: included, UpdatedAt: wire.FormatVersion(ms)}
}

func full(flags []wire.Flag, segs ...wire.Segment) *wire.DataSync {
	return &wire.DataSync{EventType: wire.EventFull, FeatureFlags: flags, Segments: segs}
}

func patch(flags []wire.Flag, segs ...wire.Segment) *wire.DataSync {
	return &wire.DataSync{EventType: wire.EventPatch, FeatureFlags: flags, Segments: segs}
}

func serves(t *testing.T, st *store, key string, user User) (bool, Reason) {
	t.Helper()
	snap := st.load()
	require.NotNil(t, snap)
	f := snap.flag(key)
	if f == nil {
		return false, ReasonFlagNotFound
	}
	r := evaluate(f, &user)
	require.NotNil(t, r.v, "flag %s", key)
	return r.v.boolVal, r.reason
}

func TestStoreFullThenPatch(t *testing.T) {
	var st store
	res := st.apply(full([]wire.Flag{boolFlag("a", true, 100), boolFlag("b", true, 100)}))
	assert.True(t, res.full)
	assert.True(t, res.initialized)
	assert.Empty(t, res.changed, "the first full data set initializes, it changes nothing")
	assert.Equal(t, int64(100), res.version)

	// A patch with a stale copy of a and a newer b: a is kept, b is applied.
	res = st.apply(patch([]wire.Flag{boolFlag("a", false, 99), boolFlag("b", false, 101)}))
	assert.False(t, res.full)
	assert.Equal(t, []string{"b"}, res.changed)
	assert.Equal(t, int64(101), res.version)
	v, _ := serves(t, &st, "a", NewUser("u"))
	assert.True(t, v, "the older copy of a is ignored")
	v, _ = serves(t, &st, "b", NewUser("u"))
	assert.False(t, v, "the newer b is applied")

	// The same version again changes nothing.
	res = st.apply(patch([]wire.Flag{boolFlag("b", true, 101)}))
	assert.Empty(t, res.changed)
	v, _ = serves(t, &st, "b", NewUser("u"))
	assert.False(t, v)

	// An empty patch is fine and keeps the version.
	res = st.apply(patch(nil))
	assert.Empty(t, res.changed)
	assert.Equal(t, int64(101), res.version)
}

func TestStoreArchiveAndRestore(t *testing.T) {
	var st store
	st.apply(full([]wire.Flag{boolFlag("a", true, 100)}))

	archived := boolFlag("a", true, 200)
	archived.IsArchived = true
	res := st.apply(patch([]wire.Flag{archived}))
	assert.Equal(t, []string{"a"}, res.changed)
	_, reason := serves(t, &st, "a", NewUser("u"))
	assert.Equal(t, ReasonFlagNotFound, reason, "an archived flag is gone")
	assert.Empty(t, st.load().live())

	// A copy older than the archive does not bring it back.
	res = st.apply(patch([]wire.Flag{boolFlag("a", true, 150)}))
	assert.Empty(t, res.changed)
	_, reason = serves(t, &st, "a", NewUser("u"))
	assert.Equal(t, ReasonFlagNotFound, reason)

	// A newer copy restores it.
	res = st.apply(patch([]wire.Flag{boolFlag("a", false, 300)}))
	assert.Equal(t, []string{"a"}, res.changed)
	v, reason := serves(t, &st, "a", NewUser("u"))
	assert.Equal(t, ReasonFallthrough, reason)
	assert.False(t, v)

	// Archiving a flag the store never had changes nothing visible.
	ghost := boolFlag("ghost", true, 400)
	ghost.IsArchived = true
	res = st.apply(patch([]wire.Flag{ghost}))
	assert.Empty(t, res.changed)
	assert.Equal(t, int64(400), res.version)
}

func TestStoreSegmentChangeReachesFlags(t *testing.T) {
	var st store
	st.apply(full([]wire.Flag{segFlag("uses-s", "s", 100), boolFlag("other", true, 100)}, seg("s", 100, "alice")))
	v, reason := serves(t, &st, "uses-s", NewUser("alice"))
	assert.True(t, v)
	assert.Equal(t, ReasonRuleMatch, reason)
	before := st.load()

	res := st.apply(patch(nil, seg("s", 200, "bob")))
	assert.Equal(t, []string{"uses-s"}, res.changed, "a flag using a changed segment has changed")
	v, _ = serves(t, &st, "uses-s", NewUser("alice"))
	assert.False(t, v)
	v, _ = serves(t, &st, "uses-s", NewUser("bob"))
	assert.True(t, v)

	// The old snapshot still evaluates against the old segment: readers are never disturbed.
	alice := NewUser("alice")
	r := evaluate(before.flag("uses-s"), &alice)
	assert.True(t, r.v.boolVal)

	// Archiving the segment: its users are no longer in it.
	gone := seg("s", 300, "bob")
	gone.IsArchived = true
	res = st.apply(patch(nil, gone))
	assert.Equal(t, []string{"uses-s"}, res.changed)
	v, _ = serves(t, &st, "uses-s", NewUser("bob"))
	assert.False(t, v)

	// A flag arriving with a segment in the same patch sees the new segment.
	res = st.apply(patch([]wire.Flag{segFlag("new", "s2", 400)}, seg("s2", 400, "carol")))
	assert.Equal(t, []string{"new"}, res.changed)
	v, _ = serves(t, &st, "new", NewUser("carol"))
	assert.True(t, v)
}

// Patches pushed before the first full data set are applied on top of it, not instead of it,
// and do not make the store ready.
func TestStorePatchBeforeFull(t *testing.T) {
	var st store
	res := st.apply(patch([]wire.Flag{boolFlag("a", false, 300)}))
	assert.True(t, res.buffered)
	assert.False(t, res.initialized)
	assert.Nil(t, st.load(), "a patch alone does not make the store ready")

	res = st.apply(full([]wire.Flag{boolFlag("a", true, 200), boolFlag("b", true, 200)}))
	assert.True(t, res.initialized)
	v, _ := serves(t, &st, "a", NewUser("u"))
	assert.False(t, v, "the earlier push is newer than the full copy and wins")
	v, _ = serves(t, &st, "b", NewUser("u"))
	assert.True(t, v, "the full data set is kept whole")
	assert.Equal(t, int64(300), res.version)
	assert.Len(t, st.load().live(), 2)
}

func TestStoreFullReplaceDiff(t *testing.T) {
	var st store
	st.apply(full([]wire.Flag{boolFlag("same", true, 100), boolFlag("updated", true, 100), boolFlag("removed", true, 100), segFlag("via-seg", "s", 100)}, seg("s", 100)))
	res := st.apply(full([]wire.Flag{boolFlag("same", true, 100), boolFlag("updated", false, 200), boolFlag("added", true, 200), segFlag("via-seg", "s", 100)}, seg("s", 200)))
	assert.True(t, res.full)
	assert.False(t, res.initialized)
	assert.Equal(t, []string{"added", "removed", "updated", "via-seg"}, res.changed)
	_, reason := serves(t, &st, "removed", NewUser("u"))
	assert.Equal(t, ReasonFlagNotFound, reason)
}

func TestStoreSkipsBadItems(t *testing.T) {
	var st store
	bad := boolFlag("bad", true, 100)
	bad.UpdatedAt = "yesterday"
	noKey := boolFlag("", true, 100)
	noID := seg("", 100)
	res := st.apply(full([]wire.Flag{bad, noKey, boolFlag("good", true, 100)}, noID))
	require.Len(t, res.skipped, 3)
	assert.Contains(t, res.skipped[1].Error(), `flag "bad"`)
	assert.Len(t, st.load().live(), 1)
	v, _ := serves(t, &st, "good", NewUser("u"))
	assert.True(t, v)
}

// Many goroutines evaluate while the data set is replaced and patched: under -race this
// proves the read path shares nothing mutable with the writer, and every read sees a whole
// snapshot (a flag and its segment from the same version).
func TestStoreConcurrentReadersAndWriter(t *testing.T) {
	var st store
	version := func(i int) int64 { return int64(1000 + i) }
	// In version i, the flag serves true exactly when i is even, through its segment.
	dataSet := func(i int) *wire.DataSync {
		included := []string{}
		if i%2 == 0 {
			included = []string{"u"}
		}
		f := segFlag("f", "s", version(i))
		return full([]wire.Flag{f}, seg("s", version(i), included...))
	}
	st.apply(dataSet(0))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := NewUser("u")
			for {
				select {
				case <-stop:
					return
				default:
				}
				snap := st.load()
				f := snap.flag("f")
				r := evaluate(f, &u)
				segVersion := snap.segments["s"].version
				if r.v.boolVal != ((segVersion-1000)%2 == 0) {
					panic(fmt.Sprintf("snapshot mixed versions: flag %d, segment %d", f.version, segVersion))
				}
			}
		}()
	}
	for i := 1; i < 300; i++ {
		if i%3 == 0 {
			st.apply(dataSet(i))
		} else {
			included := []string{}
			if i%2 == 0 {
				included = []string{"u"}
			}
			st.apply(patch(nil, seg("s", version(i), included...)))
		}
	}
	close(stop)
	wg.Wait()
}

// Readers evaluate while one-flag patches pile up and are folded into a new base: under
// -race this proves that no map a published snapshot uses is written again.
func TestStoreConcurrentPatches(t *testing.T) {
	const n = 3 * minRecent
	key := func(i int) string { return fmt.Sprintf("f%03d", i%n) }
	// Every version of every flag serves true exactly when the version is even.
	var flags []wire.Flag
	for i := 0; i < n; i++ {
		flags = append(flags, boolFlag(key(i), true, 1000))
	}
	var st store
	st.apply(full(flags))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := NewUser("u")
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				snap := st.load()
				f := snap.flag(key(i))
				if r := evaluate(f, &u); r.v.boolVal != (f.version%2 == 0) {
					panic(fmt.Sprintf("flag %s at version %d serves %v", f.key, f.version, r.v.boolVal))
				}
				if len(snap.live()) != n {
					panic(fmt.Sprintf("%d live flags", len(snap.live())))
				}
			}
		}()
	}
	for i := 0; i < 5*minRecent; i++ {
		v := int64(1001 + i)
		st.apply(patch([]wire.Flag{boolFlag(key(i*7), v%2 == 0, v)}))
	}
	close(stop)
	wg.Wait()
	checkSnapshot(t, st.load())
}

// checkSnapshot checks what a snapshot derives from its flags: live is exactly the
// non-archived flags, sorted by key.
func checkSnapshot(t testing.TB, s *snapshot) {
	t.Helper()
	var want []*flag
	for _, f := range s.flags() {
		if !f.archived {
			want = append(want, f)
		}
	}
	slices.SortFunc(want, byKey)
	if !slices.Equal(s.live(), want) {
		t.Fatalf("live flags %v, want %v", flagKeys(s.live()), flagKeys(want))
	}
}

func flagKeys(fs []*flag) []string {
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = f.key
	}
	return keys
}

// Many one-flag patches: the snapshot stays exact as patched flags pile up over the shared
// base and are folded into a new one, and every snapshot published on the way still serves
// what it served when it was current.
func TestStoreManyPatches(t *testing.T) {
	const n = 2 * minRecent
	var flags []wire.Flag
	for i := 0; i < n; i++ {
		flags = append(flags, boolFlag(fmt.Sprintf("f%03d", i), true, 100))
	}
	var st store
	st.apply(full(flags))

	// want is what each published snapshot serves: key -> value, absent when archived.
	type published struct {
		snap *snapshot
		want map[string]bool
	}
	want := map[string]bool{}
	for _, f := range flags {
		want[f.Key] = true
	}
	history := []published{{st.load(), maps.Clone(want)}}
	for i := 0; i < 5*minRecent; i++ {
		key := fmt.Sprintf("f%03d", (i*7)%(n+10)) // ten keys the full data set lacks
		f := boolFlag(key, i%3 != 0, int64(101+i))
		f.IsArchived = i%5 == 0
		_, wasLive := want[key]
		res := st.apply(patch([]wire.Flag{f}))
		if f.IsArchived {
			delete(want, key)
		} else {
			want[key] = i%3 != 0
		}
		if _, isLive := want[key]; isLive || wasLive {
			assert.Equal(t, []string{key}, res.changed, "patch %d", i)
		} else {
			assert.Empty(t, res.changed, "patch %d archives a flag that was not live", i)
		}
		checkSnapshot(t, st.load())
		history = append(history, published{st.load(), maps.Clone(want)})
	}
	u := NewUser("u")
	for i, p := range history {
		require.Len(t, p.snap.live(), len(p.want), "snapshot %d", i)
		for key, value := range p.want {
			f := p.snap.flag(key)
			require.NotNil(t, f, "snapshot %d, flag %s", i, key)
			assert.Equal(t, value, evaluate(f, &u).v.boolVal, "snapshot %d, flag %s", i, key)
		}
	}
}

// The store gives back its whole data set, archived items included, as FeatBit's JSON that
// reads back into an equivalent snapshot.
func TestSnapshotDataSet(t *testing.T) {
	st := store{keepSource: true}
	fixture, err := wire.DecodeDataSet(readFile(t, "testdata/featbit_test_data.json"))
	require.NoError(t, err)
	els, err := wire.DecodeDataSet(readELSFakes(t))
	require.NoError(t, err)
	st.apply(full(append(fixture.FeatureFlags, els.FeatureFlags...), append(fixture.Segments, els.Segments...)...))

	// A condition with a null value, archived items, and more patches than the snapshot keeps
	// apart from its base.
	nullRule := segFlag("null-rule", "s", 500)
	nullRule.Rules[0].Conditions = append(nullRule.Rules[0].Conditions, wire.Condition{Property: "country", Op: "NotEqual", ValueNull: true})
	gone := boolFlag("ff-test-off", true, 600)
	gone.IsArchived = true
	goneSeg := seg("gone-segment", 600)
	goneSeg.IsArchived = true
	st.apply(patch([]wire.Flag{nullRule, gone}, seg("s", 500, "alice"), goneSeg))
	for i := 0; i < minRecent+20; i++ {
		st.apply(patch([]wire.Flag{boolFlag(fmt.Sprintf("extra-%d", i), i%2 == 0, int64(700+i))}))
	}
	snap := st.load()
	require.NotEmpty(t, snap.recent)
	require.NotEmpty(t, snap.base)

	ds := snap.dataSet()
	assert.True(t, ds.Full())
	assert.Equal(t, snap.version, ds.Version())
	nFlags, nSegs := ds.Len()
	assert.Len(t, maps.Collect(snap.flags()), nFlags)
	assert.Equal(t, len(snap.segments), nSegs)

	b, err := ds.MarshalJSON()
	require.NoError(t, err)
	parsed, err := ParseDataSet(b)
	require.NoError(t, err)
	back := store{keepSource: true}
	res := back.apply(parsed.ds)
	require.Empty(t, res.skipped)
	got := back.load()
	checkSnapshot(t, got)

	assert.Equal(t, snap.version, got.version)
	assert.Equal(t, flagKeys(snap.live()), flagKeys(got.live()))
	for key, f := range snap.flags() {
		g := got.item(key)
		require.NotNil(t, g, key)
		assert.Equal(t, f.src, g.src, key)
		assert.Equal(t, f.version, g.version, key)
		assert.Equal(t, f.archived, g.archived, key)
	}
	for id, s := range snap.segments {
		g := got.segments[id]
		require.NotNil(t, g, id)
		assert.Equal(t, s.src, g.src, id)
		assert.Equal(t, s.archived, g.archived, id)
	}
	users := []User{
		NewUser("alice").WithCustom("country", "us"), NewUser("test-user-1").WithCustom("country", "us"),
		NewUser("test-user-3").WithCustom("country", "cn").WithCustom("major", "cs"), NewUser("false-1").WithCustom("age", "25"),
	}
	for _, f := range snap.live() {
		for i := range users {
			want, have := evaluate(f, &users[i]), evaluate(got.flag(f.key), &users[i])
			assert.Equal(t, want.reason, have.reason, f.key)
			assert.Equal(t, want.v == nil, have.v == nil, f.key)
			if want.v != nil && have.v != nil {
				assert.Equal(t, want.v.id, have.v.id, f.key)
			}
		}
	}
	// The null condition is still null: NotEqual would match alice otherwise.
	r := evaluate(got.flag("null-rule"), &users[0])
	assert.Equal(t, ReasonFallthrough, r.reason)
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return b
}
