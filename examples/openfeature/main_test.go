package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/featflags/fbclient"
)

const dataFile = "../../testdata/featbit_test_data.json"

// The example prints, for each user and flag, what the client itself serves, and closes the
// client when it shuts OpenFeature down.
func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock"))
	client, err := fbclient.New(fbclient.Config{Offline: true, DataFile: dataFile})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(&out, client))
	assert.Equal(t, fbclient.StateClosed, client.Status().State)

	ref, err := fbclient.New(fbclient.Config{Offline: true, DataFile: dataFile})
	require.NoError(t, err)
	defer ref.Close()
	lines := strings.Split(out.String(), "\n")
	checked := 0
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[1], "ff-") {
			continue
		}
		user, flag := fields[0], fields[1]
		u := fbclient.NewUser(user)
		switch user {
		case "test-user-1":
			u = u.WithCustom("country", "us")
		case "test-user-3":
			u = u.WithCustom("country", "cn").WithCustom("major", "cs")
		case "18555358000":
			u = u.WithName("test-user-5")
		case "test-salary-user":
			u = u.WithCustom("salary", "2500")
		}
		d := ref.VariationDetail(flag, u, "(default)")
		assert.Contains(t, line, " "+d.Value+" ", line)
		assert.Contains(t, line, d.VariationID, line)
		checked++
	}
	assert.Equal(t, 20, checked)
	assert.Contains(t, out.String(), "BooleanValue(ff-test-string): false TYPE_MISMATCH true")
}
