package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/credpool/credpool/packaging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunWritesThePackagedUnits(t *testing.T) {
	out := filepath.Join(t.TempDir(), "dist")
	require.NoError(t, run(out, "/usr/bin/credpool"))

	want := map[string]func(packaging.Options) ([]byte, error){
		"credpool.service":  packaging.RenderUserUnit,
		"credpool@.service": packaging.RenderSystemTemplateUnit,
	}
	for name, render := range want {
		expected, err := render(packaging.Options{BinaryPath: "/usr/bin/credpool"})
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		assert.Equal(t, string(expected), string(got), name)
	}
	assert.Error(t, run(out, "relative/credpool"), "the binary path must be absolute")
}
