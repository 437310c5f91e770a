package authfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersion(t *testing.T) {
	dir := t.TempDir()
	st := NewStore(filepath.Join(dir, "auth.json"))
	var seen []Version
	_, err := st.Update(t.Context(), func(f *File) error { seen = append(seen, f.Version()); return nil })
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(st.Path(), []byte(`{"version": 1, "credential_pool": {}}`), 0o600))
	_, err = st.Update(t.Context(), func(f *File) error { seen = append(seen, f.Version()); return nil })
	require.NoError(t, err)
	require.Len(t, seen, 2)
	assert.False(t, seen[0].Exists(), "a missing file is handed over as New, with the zero Version")
	assert.Equal(t, versionOf([]byte(`{"version": 1, "credential_pool": {}}`)), seen[1], "an existing one with the Version of its bytes")
	assert.False(t, New().Version().Exists())
	assert.Equal(t, "none", Version{}.String())

	empty := versionOf(nil)
	assert.True(t, empty.Exists(), "an empty file is a file")
	assert.Len(t, empty.String(), 12)

	f, err := Parse(append(slices.Clone(utf8BOM), `{}`...))
	require.NoError(t, err)
	assert.Equal(t, versionOf(append(slices.Clone(utf8BOM), `{}`...)), f.Version(), "Parse: the Version of the bytes given, BOM and all")
}
