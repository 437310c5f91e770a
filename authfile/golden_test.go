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
func markedSample(t *testing.T) []byte { return mark(t, readSample(t)) }

// mark applies to data what markedSample shows: a 429 report on 77aa11, a
// per-model cooldown on a1b2c3, and a new entry.
func mark(t *testing.T, data []byte) []byte {
	t.Helper()
	f, err := Parse(data)
	require.NoError(t, err)
	e := findEntry(t, f, "openrouter", "77aa11")
	e.StatusFields = pool.StatusFields{LastStatus: pool.StatusExhausted, LastStatusAt: 1780000000.25,
		LastErrorCode: 429, LastErrorReason: "rate_limit_exceeded", LastErrorMessage: "Rate limit — retry in 20 s"}
	e = findEntry(t, f, "openai-codex", "a1b2c3")
	e.ModelCooldowns = map[string]float64{"gpt-5": 1780003600, "o3": 1780000000.5}
	e.ModelCooldownObservedAt = map[string]float64{"gpt-5": 1780000000, "o3": 1780000000}
	e.StatusClearedAt = 1779990000
	f.Pools["openrouter"] = append(f.Pools["openrouter"], pool.Entry{ID: "0a0b0c", Label: "café", AuthType: "api_key",
		Priority: 3, Source: "manual", AccessToken: "sk-or-new", BaseURL: "https://openrouter.ai/api/v1",
		SecretFingerprint: "sha256:00112233aabbccdd", ModelCooldowns: map[string]float64{"m": 1780000000}})
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

// pyDump is what Hermes writes for the document in data:
// json.dumps(store, indent=2) + "\n".
func pyDump(t *testing.T, py string, data []byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	out, err := exec.Command(py, "-c", `
import json, sys
with open(sys.argv[1], encoding="utf-8-sig") as f:
    store = json.load(f)
sys.stdout.write(json.dumps(store, indent=2) + "\n")
`, path).Output()
	require.NoError(t, err)
	return out
}

// TestWrittenLikeHermes: a file that goes back and forth between credpool
// and Hermes shows no churn. What credpool writes (changed values, new
// entries and fields, the per-model maps) is byte for byte what Hermes'
// json.dumps(store, indent=2) writes, and what it did not change keeps
// the layout it had, which for a file Hermes wrote is Hermes' own. (Until
// unknown values were kept byte for byte this compared the marked sample
// itself; the sample lays some values out on one line, as a hand edit
// would, and those now stay so.)
func TestWrittenLikeHermes(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	hermesLaid := pyDump(t, py, readSample(t))
	ours := mark(t, hermesLaid)
	assert.Equal(t, string(pyDump(t, py, ours)), string(ours))
}
