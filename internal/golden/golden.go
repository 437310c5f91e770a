// Package golden compares rendered output with files under testdata/, and
// rewrites them when the tests run with -update. Only tests import it.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Update is the -update flag of every test binary that imports this package.
var Update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

// Assert compares got with testdata/name, or rewrites that file under -update.
func Assert(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *Update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file %s missing: run go test -run %s -update", path, t.Name())
	assert.Equal(t, string(want), string(got), "golden %s differs: run go test -update if the change is intended", path)
}
