package openfeature

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	of "github.com/open-feature/go-sdk/openfeature"
)

// An offline client from a data file: ready at once, and a flag whose definition the client
// cannot evaluate is a PARSE_ERROR.
func TestOffline(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t, offline(t, "testdata/flags.json"))
	h.ready(t)
	ctx := testCtx(t)

	d, err := h.flags.StringValueDetails(ctx, "context-aware", "none", user("u1", map[string]any{
		"fn": "Sulisław", "ln": "Świętopełk", "age": 29, "customer": false,
	}))
	require.NoError(t, err)
	assert.Equal(t, "INTERNAL", d.Value)
	assert.Equal(t, "internal", d.Variant)
	assert.Equal(t, of.TargetingMatchReason, d.Reason)
	assert.Equal(t, "rule match", d.FlagMetadata[MetadataReason])

	b, err := h.flags.BooleanValueDetails(ctx, "malformed", true, user("u1", nil))
	require.Error(t, err)
	assert.True(t, b.Value)
	assert.Equal(t, of.ParseErrorCode, b.ErrorCode)
	assert.Equal(t, of.ErrorReason, b.Reason)
	assert.Equal(t, "error in evaluation", b.FlagMetadata[MetadataReason])
}
