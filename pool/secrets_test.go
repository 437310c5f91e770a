package pool

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOthersTextIsRedacted: a reason or message another writer stored
// (Hermes keeps what providers say) is redacted in every view and change,
// whether it quotes the entry's own key, another entry's, a prefix of one,
// or an unknown key-shaped string.
func TestOthersTextIsRedacted(t *testing.T) {
	const own = "sk-proj-OWNKEYSECRET00000000000001"
	const other = "sk-ant-api03-OTHERKEYSECRET000000000002"
	for _, tc := range []struct{ name, reason, message string }{
		{"own key", "Incorrect API key provided: " + own, "use " + own},
		{"another entry's key", "invalid_api_key", "the key " + other + " is not valid"},
		{"a prefix of a key", "bad key " + own[:14], "key " + other[:12] + "..."},
		{"an unknown key shape", "invalid", "Incorrect API key provided: sk-proj-abcdefgh12345678********wxyz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ent("a", 0, withToken(own), withStatus(StatusExhausted, 401, tc.reason, time.Minute), func(e *Entry) { e.LastErrorMessage = tc.message })
			p, _ := newTest(t, Config{}, map[string][]Entry{prov: {ent("a", 0, withToken(own)), ent("b", 1, withToken(other))}})
			ch := p.Load(snapshotOf(map[string][]Entry{prov: {a, ent("b", 1, withToken(other))}}))
			require.True(t, hasChange(ch, ChangeExhausted, "a"))
			v := viewOf(t, p, prov, "a")
			texts := []string{v.LastErrorReason, v.LastErrorMessage}
			for _, c := range ch {
				texts = append(texts, c.Reason)
			}
			for _, s := range texts {
				assert.NotContains(t, s, own[:8+4], s)
				assert.NotContains(t, s, other[:8+4], s)
				assert.NotContains(t, s, "abcdefgh12345678", s)
			}
		})
	}
}
