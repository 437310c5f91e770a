package authfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRemoveStaleTemps(t *testing.T) {
	tests := []struct {
		name  string
		temps []string
		keep  []string
	}{
		{"none", nil, []string{"auth.json", "auth.lock"}},
		{"left by kill -9", []string{".auth.json.tmp-123", ".auth.json.tmp-abc"}, []string{"auth.json", "auth.lock", "auth.json.bak", ".hermes.tmp"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range append(append([]string{}, tc.temps...), tc.keep...) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o600))
			}
			n, err := NewStore(filepath.Join(dir, "auth.json")).RemoveStaleTemps()
			require.NoError(t, err)
			assert.Equal(t, len(tc.temps), n)
			for _, name := range tc.temps {
				assert.NoFileExists(t, filepath.Join(dir, name))
			}
			for _, name := range tc.keep {
				assert.FileExists(t, filepath.Join(dir, name), "only our temp files go")
			}
		})
	}
}
