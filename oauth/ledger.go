package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/credpool/credpool/internal/atomicfile"
	"github.com/credpool/credpool/tokeninfo"
)

// SpentLedgerSuffix follows the credentials file's name to name Hermes'
// ledger of spent Anthropic refresh tokens.
const SpentLedgerSuffix = ".hermes-spent-rotations.json"

// SpentLedgerPath is the ledger that belongs to a credentials file (for
// Anthropic: ~/.claude/.credentials.json for claude_code logins,
// ~/.hermes/.anthropic_oauth.json for hermes_pkce ones).
func SpentLedgerPath(credentialsFile string) string {
	return credentialsFile + SpentLedgerSuffix
}

// spentLedgerMax bounds the ledger to the newest fingerprints (Hermes keeps
// as many).
const spentLedgerMax = 256

const spentLedgerVersion = 1

// ErrCorruptLedger: the ledger file is not one this code understands; it is
// left as it is.
var ErrCorruptLedger = errors.New("spent-rotation ledger is corrupt")

// SpentLedger is Hermes' record of refresh tokens a refresh spent whose
// rotation never reached the credentials file: {"version":1,
// "fingerprints":["sha256:…",…]}. A token in it must not be sent again:
// the server has consumed it, and a replay revokes the whole session.
//
// Cross-process writers must hold the lock that serializes refreshes of the
// credentials file (as Hermes does); SpentLedger serializes its own callers.
// A missing file is an empty ledger; a corrupt one is an error and is never
// written over. A symlink at Path is refused rather than written through.
type SpentLedger struct {
	Path string
	mu   sync.Mutex
}

// Contains reports whether refreshToken is recorded as spent.
func (l *SpentLedger) Contains(refreshToken string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, fps, err := l.read()
	if err != nil {
		return false, err
	}
	return slices.Contains(fps, tokeninfo.Fingerprint(refreshToken)), nil
}

// Add records refreshToken as spent: read, modify, atomic write (temp file
// in the same directory, 0600, fsync, rename, fsync of the directory),
// keeping every top-level key it does not know and the newest 256
// fingerprints.
func (l *SpentLedger) Add(refreshToken string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	doc, fps, err := l.read()
	if err != nil {
		return err
	}
	fp := tokeninfo.Fingerprint(refreshToken)
	fps = append(slices.DeleteFunc(fps, func(s string) bool { return s == fp }), fp)
	if len(fps) > spentLedgerMax {
		fps = fps[len(fps)-spentLedgerMax:]
	}
	if doc == nil {
		doc = map[string]json.RawMessage{}
	}
	doc["version"], _ = json.Marshal(spentLedgerVersion)
	doc["fingerprints"], _ = json.Marshal(fps)
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("oauth: spent ledger: %w", err)
	}
	if err := atomicfile.WriteFile(l.Path, append(data, '\n'), atomicfile.Options{}); err != nil {
		return fmt.Errorf("oauth: spent ledger: %w", err)
	}
	return nil
}

// read loads the ledger; (nil, nil, nil) when there is none.
func (l *SpentLedger) read() (map[string]json.RawMessage, []string, error) {
	if fi, err := os.Lstat(l.Path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, nil, fmt.Errorf("oauth: spent ledger %s: is a symlink", l.Path)
	}
	data, err := os.ReadFile(l.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("oauth: spent ledger: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil || doc == nil {
		return nil, nil, fmt.Errorf("oauth: spent ledger %s: %w: not a JSON object", l.Path, ErrCorruptLedger)
	}
	if v, ok := doc["version"]; ok {
		var n float64
		if json.Unmarshal(v, &n) != nil || n != spentLedgerVersion {
			return nil, nil, fmt.Errorf("oauth: spent ledger %s: %w: version is not 1", l.Path, ErrCorruptLedger)
		}
	}
	var fps []string
	if raw, ok := doc["fingerprints"]; ok && !bytes.Equal(raw, []byte("null")) {
		if json.Unmarshal(raw, &fps) != nil {
			return nil, nil, fmt.Errorf("oauth: spent ledger %s: %w: fingerprints is not a list of strings", l.Path, ErrCorruptLedger)
		}
	}
	return doc, fps, nil
}
