package authfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/pool"
)

// A refreshed device_code entry's tokens are written where Hermes looks for
// the login too: providers.<p>.tokens, or providers.nous at its top level.
// Only those values change.
func TestSingletonTokensWrittenBack(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "auth.hermes.json"))
	require.NoError(t, err)
	for _, tc := range []struct {
		provider string
		old      pool.Tokens
	}{
		{"openai-codex", pool.Tokens{AccessToken: "eyJhbGciOiJSUzI1NiJ9.c2luZ2xldG9uLWFjY2Vzcw.sig-singleton-a1", RefreshToken: "rt_singleton_refresh_a1"}},
		{"nous", pool.Tokens{AccessToken: "nous-access-token-0001", RefreshToken: "nous-refresh-token-0001"}},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			f, err := Parse(raw)
			require.NoError(t, err)
			s := f.Snapshot()
			require.Equal(t, tc.old, s.Singletons[tc.provider].Tokens)
			fresh := pool.Tokens{AccessToken: "new-access-" + tc.provider, RefreshToken: "new-refresh-" + tc.provider}
			s.Singletons[tc.provider] = pool.Singleton{Tokens: fresh}
			require.True(t, f.changed())
			out, err := f.Marshal()
			require.NoError(t, err)

			g, err := Parse(out)
			require.NoError(t, err)
			assert.Equal(t, fresh, g.Snapshot().Singletons[tc.provider].Tokens)
			for p, sg := range f.parsedSingletons {
				if p != tc.provider {
					assert.Equal(t, sg, g.Snapshot().Singletons[p], "other singletons are untouched")
				}
			}
			// Every line but the two token values is as it was.
			want := strings.NewReplacer(tc.old.AccessToken, fresh.AccessToken, tc.old.RefreshToken, fresh.RefreshToken).Replace(string(raw))
			assert.Equal(t, onlyOneTokenPlace(want, tc.old), string(out), "nothing else changes")
		})
	}
}

// onlyOneTokenPlace is the sample with the provider's tokens replaced in
// providers.<p> only: the entry rows that alias the singleton keep theirs
// (the pool writes those itself).
func onlyOneTokenPlace(replaced string, old pool.Tokens) string {
	// The sample's singleton block comes first in the file; the rows
	// after it keep the old values.
	i := strings.Index(replaced, `"credential_pool"`)
	head, tail := replaced[:i], replaced[i:]
	return head + strings.NewReplacer("new-access-openai-codex", old.AccessToken, "new-refresh-openai-codex", old.RefreshToken,
		"new-access-nous", old.AccessToken, "new-refresh-nous", old.RefreshToken).Replace(tail)
}

func TestUnchangedSingletonsWriteNothing(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "auth.hermes.json"))
	require.NoError(t, err)
	f, err := Parse(raw)
	require.NoError(t, err)
	s := f.Snapshot()
	for p, sg := range s.Singletons {
		s.Singletons[p] = sg // the same value
	}
	assert.False(t, f.changed())
	out, err := f.Marshal()
	require.NoError(t, err)
	assert.True(t, bytes.Equal(raw, out), "an unchanged document is written back byte for byte")
}
