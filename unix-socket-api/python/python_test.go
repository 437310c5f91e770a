// Package python_test runs the Python client's unittest suite against a
// freshly built daemon, so that the one test command of the README
// (`go test -race ./...`) covers the Python client too.
package python_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPythonClient(t *testing.T) {
	// Debian's python3 first: CI installs it with python3-httpx, the
	// headers type of the OpenAI and Anthropic SDKs, which one test reads.
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		if python, err = exec.LookPath("python3"); err != nil {
			t.Skip("python3 is not installed")
		}
	}
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "go is needed to build the daemon")

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	bin := filepath.Join(t.TempDir(), "credpool")
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/credpool")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	require.NoErrorf(t, err, "go build ./cmd/credpool:\n%s", out)

	run := exec.CommandContext(ctx, python, "-m", "unittest", "-v", "test_credpool_client")
	// No stray .pyc files in the source tree.
	run.Env = append(os.Environ(), "CREDPOOL_BIN="+bin, "PYTHONDONTWRITEBYTECODE=1")
	out, err = run.CombinedOutput()
	if err != nil {
		t.Fatalf("python3 -m unittest test_credpool_client failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
