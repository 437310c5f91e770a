package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tokenPrefix marks a gateway token, so that one found in a log or a
// config is recognisable for what it is.
const tokenPrefix = "cpgw-"

// LoadOrCreateToken returns the gateway token stored at path, creating it at
// first start: "cpgw-" and 32 random bytes in base64url, in a 0600 file
// written atomically (its directory made 0700 if, and only if, this creates
// it). An existing file must be a regular file, not a symlink, readable by
// its owner only, and hold one token; anything else is an error and the
// file is left as it is.
func LoadOrCreateToken(path string) (string, error) {
	for range 2 { // a second look when another process created it first
		tok, err := readToken(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return tok, err
		}
		tok, err = createToken(path)
		if !errors.Is(err, fs.ErrExist) {
			return tok, err
		}
	}
	return "", fmt.Errorf("gateway token %s: created and removed again while reading it", path)
}

func readToken(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("gateway token: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "", fmt.Errorf("gateway token %s: is a symlink; refusing to follow it (replace it with the file itself)", path)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("gateway token %s: not a regular file", path)
	case fi.Mode().Perm()&0o077 != 0:
		return "", fmt.Errorf("gateway token %s: mode %04o lets other users read it; want 0600 (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("gateway token: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if len(tok) < 16 || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("gateway token %s: does not hold one token of at least 16 characters on one line; "+
			"fix it, or remove it to have a new one made", path)
	}
	return tok, nil
}

// createToken writes a new token to path unless a file is there already
// (then fs.ErrExist): temp file in the same directory, fsync, hard link to
// the name (which, unlike rename, never replaces a file another process
// made meanwhile), fsync of the directory.
func createToken(path string) (string, error) {
	dir := filepath.Dir(path)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("gateway token: %w", err)
		}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("gateway token: random: %w", err)
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	tmp, err := os.CreateTemp(dir, ".gateway-token-*") // 0600
	if err != nil {
		return "", fmt.Errorf("gateway token: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(tok + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("gateway token: write: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fs.ErrExist
		}
		return "", fmt.Errorf("gateway token: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return tok, nil
}
