package gateway

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/credpool/credpool/pool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// DefaultUpstreams decides the built-in upstreams; the repository's README
// and this package's write the table out for people. They must say the
// same, row for row.
func TestREADMEsShowDefaultUpstreams(t *testing.T) {
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `(https?://[^`]+)`")
	for _, path := range []string{"../README.md", "README.md"} {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		got := map[string]string{}
		for _, m := range row.FindAllStringSubmatch(string(b), -1) {
			got[m[1]] = m[2]
		}
		assert.Equal(t, DefaultUpstreams, got, "the upstream table of %s", path)
	}
}

// ownErrors decides the gateway's own answers; README.md's table shows
// them to people, and must name every code with its status and no other.
func TestREADMEShowsOwnErrors(t *testing.T) {
	want := map[string]int{}
	for k, e := range ownErrors {
		require.NotEmpty(t, e.code, "ownErrors[%d] is missing", k)
		require.NotContains(t, want, e.code, "code %s twice", e.code)
		want[e.code] = e.status
	}
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	row := regexp.MustCompile(`(?m)^\| ([0-9]{3}) \| ([^|]+) \|`)
	code := regexp.MustCompile("`([a-z_]+)`")
	got := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		status, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		for _, c := range code.FindAllStringSubmatch(m[2], -1) {
			assert.NotContains(t, got, c[1], "README.md lists %s twice", c[1])
			got[c[1]] = status
		}
	}
	assert.Equal(t, want, got, "README.md's table of the gateway's own answers")
}

// Every built-in upstream is for a name the pool can have.
func TestDefaultUpstreamsArePoolNames(t *testing.T) {
	for name := range DefaultUpstreams {
		assert.NoError(t, pool.ValidProvider(name))
	}
}
