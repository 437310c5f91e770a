package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/golden"
)

func TestManPageGolden(t *testing.T) {
	usage, err := os.ReadFile(filepath.Join("testdata", "usage.txt"))
	require.NoError(t, err)
	page := ManPage(string(usage), "v1.2.3", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	golden.Assert(t, "credpool.1.golden", page)
}

// TestManPageRenders lets man itself format the page, when it is installed,
// and checks that the items and escapes come out as text.
func TestManPageRenders(t *testing.T) {
	man, err := exec.LookPath("man")
	if err != nil {
		t.Skip("man not installed")
	}
	usage, err := os.ReadFile(filepath.Join("testdata", "usage.txt"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "credpool.1")
	require.NoError(t, os.WriteFile(path, ManPage(string(usage), "v1.2.3", time.Unix(0, 0)), 0o644))
	cmd := exec.Command(man, "--warnings", "-l", path)
	cmd.Env = append(os.Environ(), "MANWIDTH=100", "MAN_KEEP_FORMATTING=0", "PAGER=cat", "MANPAGER=cat")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	for _, want := range []string{"NAME", "credpool - share one pool", "SYNOPSIS", "credpool daemon", "FLAGS", "--auth-file PATH",
		"(env CREDPOOL_TICK)", ".dotted lines and back\\slashes"} {
		assert.Contains(t, stripOverstrike(text), want)
	}
	assert.NotContains(t, text, "warning")
}

// stripOverstrike removes the backspace bold/underline that man emits.
func stripOverstrike(s string) string {
	var out []rune
	for _, r := range s {
		if r == '\b' {
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			continue
		}
		out = append(out, r)
	}
	return string(out)
}
