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
