package gateway

import (
	"os"
	"regexp"
	"testing"

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
