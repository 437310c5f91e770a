package oauth_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/tokeninfo"
)

func ledgerIn(t *testing.T) *oauth.SpentLedger {
	return &oauth.SpentLedger{Path: oauth.SpentLedgerPath(filepath.Join(t.TempDir(), ".credentials.json"))}
}

func TestSpentLedgerPath(t *testing.T) {
	assert.Equal(t, "/h/.claude/.credentials.json.hermes-spent-rotations.json", oauth.SpentLedgerPath("/h/.claude/.credentials.json"))
}

// TestLedgerRoundTrip: a missing ledger is empty; Add writes Hermes' format
// at 0600 with fingerprints only; a fresh reader sees what was added.
func TestLedgerRoundTrip(t *testing.T) {
	l := ledgerIn(t)
	in, err := l.Contains("rt-SECRET-1")
	require.NoError(t, err)
	assert.False(t, in)
	_, err = os.Stat(l.Path)
	assert.ErrorIs(t, err, os.ErrNotExist, "Contains creates nothing")

	require.NoError(t, l.Add("rt-SECRET-1"))
	require.NoError(t, l.Add("rt-SECRET-2"))
	require.NoError(t, l.Add("rt-SECRET-1")) // again: moves to the end, once

	fresh := &oauth.SpentLedger{Path: l.Path}
	for tok, want := range map[string]bool{"rt-SECRET-1": true, "rt-SECRET-2": true, "rt-SECRET-3": false} {
		got, err := fresh.Contains(tok)
		require.NoError(t, err)
		assert.Equal(t, want, got, tok)
	}

	data, err := os.ReadFile(l.Path)
	require.NoError(t, err)
	assert.NotContains(t, string(data), "SECRET")
	var doc struct {
		Version      int      `json:"version"`
		Fingerprints []string `json:"fingerprints"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Equal(t, 1, doc.Version)
	assert.Equal(t, []string{tokeninfo.Fingerprint("rt-SECRET-2"), tokeninfo.Fingerprint("rt-SECRET-1")}, doc.Fingerprints)

	fi, err := os.Stat(l.Path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	left, err := filepath.Glob(filepath.Join(filepath.Dir(l.Path), ".*tmp*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no temp file left behind")
}

// TestLedgerReadsHermes: a ledger Hermes wrote (its comment key, 0644 from
// write_text) is read, and Add keeps the unknown keys and narrows the mode.
func TestLedgerReadsHermes(t *testing.T) {
	l := ledgerIn(t)
	hermes := fmt.Sprintf(`{
  "version": 1,
  "comment": "Non-secret one-way fingerprints of Anthropic OAuth credentials",
  "x_future": {"nested": [1, 2]},
  "fingerprints": [%q]
}`, tokeninfo.Fingerprint("rt-SECRET-hermes"))
	require.NoError(t, os.WriteFile(l.Path, []byte(hermes), 0o644))
	in, err := l.Contains("rt-SECRET-hermes")
	require.NoError(t, err)
	assert.True(t, in)

	require.NoError(t, l.Add("rt-SECRET-ours"))
	data, err := os.ReadFile(l.Path)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Equal(t, "Non-secret one-way fingerprints of Anthropic OAuth credentials", doc["comment"])
	assert.Equal(t, map[string]any{"nested": []any{1.0, 2.0}}, doc["x_future"])
	assert.Equal(t, []any{tokeninfo.Fingerprint("rt-SECRET-hermes"), tokeninfo.Fingerprint("rt-SECRET-ours")}, doc["fingerprints"])
	fi, err := os.Stat(l.Path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// TestLedgerCorruptUntouched: whatever is not a ledger this code
// understands is an error for Contains and Add, and stays byte for byte.
func TestLedgerCorruptUntouched(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"half written", `{"version":1,"fingerprints":["sha256:`},
		{"not an object", `["sha256:ba7816bf8f01cfea"]`},
		{"null", `null`},
		{"empty", ``},
		{"fingerprints not a list", `{"version":1,"fingerprints":"sha256:ba7816bf8f01cfea"}`},
		{"a fingerprint not a string", `{"version":1,"fingerprints":[7]}`},
		{"another version", `{"version":2,"fingerprints":[]}`},
		{"version a string", `{"version":"1","fingerprints":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ledgerIn(t)
			require.NoError(t, os.WriteFile(l.Path, []byte(tc.content), 0o600))
			_, err := l.Contains("rt-SECRET-1")
			assert.ErrorIs(t, err, oauth.ErrCorruptLedger)
			assert.ErrorIs(t, l.Add("rt-SECRET-1"), oauth.ErrCorruptLedger)
			data, err := os.ReadFile(l.Path)
			require.NoError(t, err)
			assert.Equal(t, tc.content, string(data))
		})
	}
}

// TestLedgerMinimalForms: a ledger with no fingerprints key, or a null one,
// is an empty ledger, not a corrupt one.
func TestLedgerMinimalForms(t *testing.T) {
	for _, content := range []string{`{"version":1}`, `{}`, `{"version":1,"fingerprints":null}`} {
		l := ledgerIn(t)
		require.NoError(t, os.WriteFile(l.Path, []byte(content), 0o600))
		in, err := l.Contains("x")
		require.NoError(t, err, content)
		assert.False(t, in)
		require.NoError(t, l.Add("x"), content)
		in, err = l.Contains("x")
		require.NoError(t, err)
		assert.True(t, in)
	}
}

// TestLedgerBounded keeps the newest 256 fingerprints: a full ledger drops
// its oldest on each Add.
func TestLedgerBounded(t *testing.T) {
	l := ledgerIn(t)
	var fps []string
	for i := range 256 {
		fps = append(fps, tokeninfo.Fingerprint(fmt.Sprintf("rt-%d", i)))
	}
	full, err := json.Marshal(map[string]any{"version": 1, "fingerprints": fps})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(l.Path, full, 0o600))
	for i := 256; i < 259; i++ {
		require.NoError(t, l.Add(fmt.Sprintf("rt-%d", i)))
	}
	for i, want := range map[int]bool{0: false, 2: false, 3: true, 255: true, 258: true} {
		in, err := l.Contains(fmt.Sprintf("rt-%d", i))
		require.NoError(t, err)
		assert.Equal(t, want, in, i)
	}
	data, err := os.ReadFile(l.Path)
	require.NoError(t, err)
	var doc struct{ Fingerprints []string }
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Len(t, doc.Fingerprints, 256)
}

// TestLedgerSymlinkRefused: a symlink at the ledger's path is neither
// followed nor replaced.
func TestLedgerSymlinkRefused(t *testing.T) {
	l := ledgerIn(t)
	target := filepath.Join(t.TempDir(), "elsewhere.json")
	require.NoError(t, os.WriteFile(target, []byte(`{"version":1,"fingerprints":[]}`), 0o644))
	require.NoError(t, os.Symlink(target, l.Path))
	_, err := l.Contains("x")
	assert.ErrorContains(t, err, "symlink")
	assert.ErrorContains(t, l.Add("x"), "symlink")
	fi, err := os.Lstat(l.Path)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeSymlink)
	data, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":1,"fingerprints":[]}`, string(data))
}

// TestLedgerConcurrentAdds: Adds from many goroutines lose none.
func TestLedgerConcurrentAdds(t *testing.T) {
	l := ledgerIn(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() { assert.NoError(t, l.Add(fmt.Sprintf("rt-%d", i))) })
	}
	wg.Wait()
	for i := range 16 {
		in, err := l.Contains(fmt.Sprintf("rt-%d", i))
		require.NoError(t, err)
		assert.True(t, in, i)
	}
}

// TestLedgerNoDirectory: a ledger whose directory is missing is an error;
// nothing is created.
func TestLedgerNoDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	l := &oauth.SpentLedger{Path: oauth.SpentLedgerPath(filepath.Join(dir, ".credentials.json"))}
	assert.Error(t, l.Add("x"))
	_, err := os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
