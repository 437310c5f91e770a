package quota

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credpool/credpool/internal/golden"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenState has every kind of field: a sent 0, unknowns, a model, a
// verdict without a fraction, a fractional time.
func goldenState() *State {
	return stateOf(
		win("openai/tokens", rem(0), lim(30000), reset(after(1500*time.Millisecond))),
		win("anthropic-unified/7d_sonnet", model("sonnet"), util(0.71), reset(1780834800)),
		win("anthropic-unified/status", exhausted(), reset(1780322400)),
		win("codex_bengalfox/primary", model("gpt-5.3-codex-spark"), util(0), seen(t0-30)),
		win("http/retry-after", exhausted(), reset(after(30*time.Second))),
	)
}

// The golden file pins the on-disk shape: field names and version are a
// contract with every state file already written.
func TestStateJSONGolden(t *testing.T) {
	data, err := json.Marshal(goldenState())
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, data, "", "  "))
	out.WriteByte('\n')
	golden.Assert(t, "state.json", out.Bytes())
}

func TestStateJSONRoundTrip(t *testing.T) {
	in := goldenState()
	data, err := json.Marshal(in)
	require.NoError(t, err)
	var back State
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, in.Windows(), back.Windows(), "exactly: floats survive JSON")

	// As part of the caller's own file: a map of credential to state, by value.
	file := map[string]State{"cred-1": *in, "cred-2": {}}
	data, err = json.Marshal(file)
	require.NoError(t, err)
	var fileBack map[string]State
	require.NoError(t, json.Unmarshal(data, &fileBack))
	c1, c2 := fileBack["cred-1"], fileBack["cred-2"]
	assert.Equal(t, in.Windows(), c1.Windows())
	assert.Empty(t, c2.Windows())

	// What it answers survives too.
	u1, b1 := in.Blocked(now, 0, "claude-sonnet-4-5")
	u2, b2 := back.Blocked(now, 0, "claude-sonnet-4-5")
	assert.Equal(t, b1, b2)
	assert.Equal(t, u1, u2)
}

func TestStateJSONRefusesBadInput(t *testing.T) {
	w := func(fields string) string {
		return `{"version":1,"windows":[{"key":"a/x","seen_at":1780315200` + fields + `}]}`
	}
	var many []string
	for i := range MaxWindows + 1 {
		many = append(many, fmt.Sprintf(`{"key":"k/%d","seen_at":1780315200}`, i))
	}
	for _, c := range []struct{ name, data, want string }{
		{"another version", `{"version":2,"windows":[]}`, "version 2"},
		{"no version", `{"windows":[]}`, "version 0"},
		{"too many windows", `{"version":1,"windows":[` + strings.Join(many, ",") + `]}`, "33 windows"},
		{"negative remaining", w(`,"remaining":-1`), "negative"},
		{"negative limit", w(`,"limit":-5`), "limit"},
		{"utilization over 1", w(`,"utilization":1.5`), "utilization"},
		{"reset past 9999", w(`,"reset_at":1e20`), "reset_at"},
		{"reset negative", w(`,"reset_at":-3`), "reset_at"},
		{"no seen_at", `{"version":1,"windows":[{"key":"a/x"}]}`, "seen_at"},
		{"empty key", `{"version":1,"windows":[{"key":"","seen_at":1780315200}]}`, "key"},
		{"control character in key", `{"version":1,"windows":[{"key":"a\u0000","seen_at":1780315200}]}`, "key"},
		{"a string for a number", w(`,"remaining":"5"`), "state"},
		{"a window twice", `{"version":1,"windows":[{"key":"a/x","seen_at":1780315200},{"key":"a/x","seen_at":1780315201}]}`, "twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := goldenState()
			before := s.Windows()
			err := json.Unmarshal([]byte(c.data), s)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrBadState), "%v", err)
			assert.Contains(t, err.Error(), c.want)
			assert.Equal(t, before, s.Windows(), "a refused state changed the kept one")
		})
	}
}

func TestStateJSONRefusesBrokenJSON(t *testing.T) {
	s := goldenState()
	before := s.Windows()
	require.Error(t, json.Unmarshal([]byte(`{"version":1,`), s))
	assert.Equal(t, before, s.Windows())
}

func TestStateJSONEmpty(t *testing.T) {
	data, err := json.Marshal(State{})
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":1,"windows":[]}`, string(data))
	var s State
	require.NoError(t, json.Unmarshal([]byte(`{"version":1,"windows":null}`), &s))
	assert.Empty(t, s.Windows())
}
