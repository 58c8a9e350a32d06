package fbclient

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/featflags/fbclient/fbtest"
)

// A FeatBit restart: the client serves its data while the server is down, reconnects to the
// same address when it is back, and gets what changed meanwhile.
func TestFeatBitRestart(t *testing.T) {
	checkLeaks(t)
	srv := fbtest.NewTestServer(t)
	srv.SetFlags(fbtest.Flag("a").Fallthrough(0))
	c, w := start(t, srv, opts{})
	user := NewUser("u")
	require.True(t, c.BoolVariation("a", user, false))

	srv.Stop()
	w.until(t, "stale", func() bool { return c.Status().State == StateStale })
	assert.True(t, c.BoolVariation("a", user, false), "the last data is served")
	srv.SetFlags(fbtest.Flag("a").Fallthrough(1))

	require.NoError(t, srv.Start())
	w.find(t, "the change made during the restart", changed("a"))
	assert.False(t, c.BoolVariation("a", user, true))
	assert.Equal(t, StateReady, c.Status().State)
	assert.Equal(t, 2, srv.Stats().StreamsAccepted)
}
