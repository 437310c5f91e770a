package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// DefaultSocketPath is DESIGN §4's socket path: $XDG_RUNTIME_DIR/credpool/
// credpool.sock, else $HOME/.cache/credpool/credpool.sock; on macOS, which has
// no XDG_RUNTIME_DIR, the per-user $TMPDIR.
func DefaultSocketPath(getenv func(string) string) string {
	return defaultSocketPath(runtime.GOOS, getenv)
}

func defaultSocketPath(goos string, getenv func(string) string) string {
	const rel = "credpool/credpool.sock"
	if goos == "darwin" {
		if dir := getenv("TMPDIR"); filepath.IsAbs(dir) {
			return filepath.Join(dir, rel)
		}
		// No TMPDIR (launchd without a session): a per-user name keeps
		// users on a shared /tmp apart.
		return filepath.Join("/tmp", fmt.Sprintf("credpool-%d", os.Getuid()), "credpool.sock")
	}
	// The XDG spec says relative values are to be ignored.
	if dir := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(dir) {
		return filepath.Join(dir, rel)
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".cache", rel)
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("credpool-%d", os.Getuid()), "credpool.sock")
}

// DefaultAuthFile is $HERMES_HOME/auth.json when HERMES_HOME is set (credpool
// then serves Hermes's own file), else $XDG_CONFIG_HOME/credpool/auth.json.
// ok is false when none of HERMES_HOME, XDG_CONFIG_HOME and HOME is usable.
func DefaultAuthFile(getenv func(string) string) (path string, ok bool) {
	if h := getenv("HERMES_HOME"); h != "" {
		if p, why := expandPath(h, getenv); why == "" {
			return filepath.Join(p, "auth.json"), true
		}
	}
	dir, ok := configHome(getenv)
	if !ok {
		return "", false
	}
	return filepath.Join(dir, "credpool", "auth.json"), true
}

// DefaultConfigFile is $XDG_CONFIG_HOME/credpool/config.toml.
func DefaultConfigFile(getenv func(string) string) (path string, ok bool) {
	dir, ok := configHome(getenv)
	if !ok {
		return "", false
	}
	return filepath.Join(dir, "credpool", "config.toml"), true
}

// configHome is $XDG_CONFIG_HOME, defaulting to $HOME/.config.
func configHome(getenv func(string) string) (string, bool) {
	if dir := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(dir) {
		return dir, true
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config"), true
	}
	return "", false
}

// expandPath expands a leading "~/" to $HOME. why is non-empty when the
// path cannot be used.
func expandPath(p string, getenv func(string) string) (path, why string) {
	if strings.TrimSpace(p) == "" {
		return "", "empty path"
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home := getenv("HOME")
		if home == "" {
			return "", "starts with ~ but HOME is not set"
		}
		return filepath.Join(home, strings.TrimPrefix(p, "~")), ""
	}
	return p, ""
}
