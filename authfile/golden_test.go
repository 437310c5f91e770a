package authfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/golden"
	"github.com/credpool/credpool/pool"
)

// markedSample is the sample after a 429 report on 77aa11 and a new entry,
// written by Marshal.
func markedSample(t *testing.T) []byte {
	t.Helper()
	f, err := Parse(readSample(t))
	require.NoError(t, err)
	e := findEntry(t, f, "openrouter", "77aa11")
	e.StatusFields = pool.StatusFields{LastStatus: pool.StatusExhausted, LastStatusAt: 1780000000.25,
		LastErrorCode: 429, LastErrorReason: "rate_limit_exceeded", LastErrorMessage: "Rate limit — retry in 20 s"}
	f.Pools["openrouter"] = append(f.Pools["openrouter"], pool.Entry{ID: "0a0b0c", Label: "café", AuthType: "api_key",
		Priority: 3, Source: "manual", AccessToken: "sk-or-new", BaseURL: "https://openrouter.ai/api/v1"})
	out, err := f.Marshal()
	require.NoError(t, err)
	return out
}

func TestMarshalGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		render func(t *testing.T) []byte
	}{
		{"unchanged sample", "auth.hermes.marshalled.json", func(t *testing.T) []byte {
			f, err := Parse(readSample(t))
			require.NoError(t, err)
			out, err := f.Marshal()
			require.NoError(t, err)
			return out
		}},
		{"marked sample", "auth.hermes.marked.json", markedSample},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden.Assert(t, tt.golden, tt.render(t))
		})
	}
}

// TestWrittenLikeHermes: what Marshal writes is byte for byte what Hermes'
// json.dumps(store, indent=2) + "\n" writes for the same data, so a file
// that goes back and forth between credpool and Hermes shows no churn.
func TestWrittenLikeHermes(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	for name, data := range map[string][]byte{"marked": markedSample(t)} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "auth.json")
			require.NoError(t, os.WriteFile(path, data, 0o600))
			out, err := exec.Command(py, "-c", `
import json, sys
with open(sys.argv[1], encoding="utf-8-sig") as f:
    store = json.load(f)
sys.stdout.write(json.dumps(store, indent=2) + "\n")
`, path).Output()
			require.NoError(t, err)
			assert.Equal(t, string(out), string(data))
		})
	}
}
