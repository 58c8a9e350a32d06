package redisstore

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/featflags/fbclient"
	"github.com/featflags/fbclient/fbtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDiff(t *testing.T) {
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a"), fbtest.Flag("b"))
	srv.SetSegments(fbtest.Segment("s1"))
	before, _ := fullSet(t, srv).MarshalJSON()
	srv.SetFlags(fbtest.Flag("b").On(false))
	after, _ := fullSet(t, srv).MarshalJSON()
	prev, next := splitItems(before), splitItems(after)
	require.Len(t, prev, 3)
	require.Len(t, next, 3)

	patch := diff(prev, next, 1<<20)
	require.NotNil(t, patch)
	ds, err := fbclient.ParseDataSet(patch)
	require.NoError(t, err)
	assert.False(t, ds.Full())
	flags, segments := ds.Len()
	assert.Equal(t, 1, flags, "only the changed flag")
	assert.Equal(t, 0, segments)
	var doc struct{ FeatureFlags []struct{ Key string } }
	require.NoError(t, json.Unmarshal(patch, &doc))
	assert.Equal(t, "b", doc.FeatureFlags[0].Key)

	assert.Nil(t, diff(prev, next[:2], 1<<20), "an item was removed: no patch")
	assert.Nil(t, diff(prev, next, len(patch)), "a patch larger than half the set is not sent")
	assert.Nil(t, diff(nil, next, 1<<20))
	assert.Nil(t, splitItems([]byte(`{"featureFlags":[{"key":"no id"}]}`)))
	assert.NotContains(t, string(patch), strings.Repeat(" ", 2))
}

// itemKey reads the id and envId the way encoding/json does, whatever the form.
func TestItemKey(t *testing.T) {
	for _, raw := range []string{
		`{"id":"f1","envId":"e1","key":"a"}`,
		`{"id":"f1","envId":"","key":"a"}`,
		`{"id":"f1","key":"a"}`,
		`{"id":"f1","key":"a","envId":"e2"}`,
		`{"key":"a","envId":"e3","id":"f2"}`,
		`{ "id" : "f1" , "envId" : "e1" }`,
		`{"id":"f\u0031","envId":"e\"1"}`,
		`{"id":"","envId":"e1"}`,
		`{"envId":"e1"}`,
		`{"id":7}`,
		`[1]`,
	} {
		t.Run(raw, func(t *testing.T) {
			var want struct {
				ID    string `json:"id"`
				EnvID string `json:"envId"`
			}
			wantOK := json.Unmarshal([]byte(raw), &want) == nil && want.ID != ""
			id, env, ok := itemKey([]byte(raw))
			assert.Equal(t, wantOK, ok)
			if wantOK {
				assert.Equal(t, want.ID, id)
				assert.Equal(t, want.EnvID, env)
			}
		})
	}

	// The items of a data set as fbclient encodes it take the direct path.
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(testFlags(3)...)
	srv.SetSegments(fbtest.Segment("s1").Included("u1"))
	data, err := fullSet(t, srv).MarshalJSON()
	require.NoError(t, err)
	items := splitItems(data)
	require.Len(t, items, 4)
	for _, it := range items {
		assert.True(t, strings.HasPrefix(string(it.raw), `{"id":"`+it.id[2:]+`","envId":"`+srv.EnvID()+`"`), "%s", it.raw)
		assert.Equal(t, srv.EnvID(), it.env)
	}
}
