// Package paths is where credpool's files live by default: the socket, the
// auth file, the config file, credpool's own state beside the auth file and
// the gateway token. Each default is decided here and nowhere else; the
// daemon, the command line, the Go client and (through its golden table)
// the Python client all take them from here.
package paths

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// The environment variables that override the socket and the auth file,
// for every client and for the daemon; the config package reads them as a
// layer, and the service units set them so that the service and the CLI
// resolve the same files.
const (
	SocketEnv   = "CREDPOOL_SOCKET"
	AuthFileEnv = "CREDPOOL_AUTH_FILE"
)

// Socket is the default socket path on the running system, ignoring
// CREDPOOL_SOCKET (the config package layers that in with the others).
func Socket(getenv func(string) string) string { return socket(runtime.GOOS, getenv, os.Getuid()) }

// SocketFor is the socket a client dials: $CREDPOOL_SOCKET, else the
// default.
func SocketFor(getenv func(string) string) string {
	if p := getenv(SocketEnv); p != "" {
		return p
	}
	return Socket(getenv)
}

// socket: $XDG_RUNTIME_DIR/credpool/credpool.sock, else
// $HOME/.cache/credpool/credpool.sock; on macOS, which has no
// XDG_RUNTIME_DIR, the per-user $TMPDIR.
func socket(goos string, getenv func(string) string, uid int) string {
	const rel = "credpool/credpool.sock"
	if goos == "darwin" {
		if dir := getenv("TMPDIR"); filepath.IsAbs(dir) {
			return filepath.Join(dir, rel)
		}
		// No TMPDIR (launchd without a session): a per-user name keeps
		// users on a shared /tmp apart.
		return filepath.Join("/tmp", fmt.Sprintf("credpool-%d", uid), "credpool.sock")
	}
	// The XDG spec says relative values are to be ignored.
	if dir := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(dir) {
		return filepath.Join(dir, rel)
	}
	if home := getenv("HOME"); filepath.IsAbs(home) {
		return filepath.Join(home, ".cache", rel)
	}
	return filepath.Join("/tmp", fmt.Sprintf("credpool-%d", uid), "credpool.sock")
}

// AuthFile is $HERMES_HOME/auth.json when HERMES_HOME is set (credpool then
// serves Hermes' own file), else $XDG_CONFIG_HOME/credpool/auth.json. ok
// is false when none of HERMES_HOME, XDG_CONFIG_HOME and HOME is usable.
func AuthFile(getenv func(string) string) (path string, ok bool) {
	if h := getenv("HERMES_HOME"); h != "" {
		if p, why := Expand(h, getenv); why == "" {
			return filepath.Join(p, "auth.json"), true
		}
	}
	dir, ok := ConfigDir(getenv)
	if !ok {
		return "", false
	}
	return filepath.Join(dir, "auth.json"), true
}

// ConfigDir is $XDG_CONFIG_HOME/credpool (default ~/.config/credpool).
func ConfigDir(getenv func(string) string) (string, bool) {
	if dir := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "credpool"), true
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", "credpool"), true
	}
	return "", false
}

// ConfigFile is $XDG_CONFIG_HOME/credpool/config.toml.
func ConfigFile(getenv func(string) string) (string, bool) {
	dir, ok := ConfigDir(getenv)
	if !ok {
		return "", false
	}
	return filepath.Join(dir, "config.toml"), true
}

// GatewayToken is the gateway's per-user token file, beside the config.
func GatewayToken(getenv func(string) string) (string, bool) {
	dir, ok := ConfigDir(getenv)
	if !ok {
		return "", false
	}
	return filepath.Join(dir, "gateway.token"), true
}

// HermesAnthropicOAuth is the credentials file Hermes keeps its own
// Anthropic login in, beside its auth.json; its spent-token ledger is named
// after it.
func HermesAnthropicOAuth(authFile string) string {
	return filepath.Join(filepath.Dir(authFile), ".anthropic_oauth.json")
}

// State is credpool's own state file beside an auth file: tombstones,
// token histories and quota observations, which Hermes does not know.
func State(authFile string) string {
	return filepath.Join(filepath.Dir(authFile), "credpool-state.json")
}

// Expand expands a leading "~/" to $HOME. why is non-empty when the path
// cannot be used.
func Expand(p string, getenv func(string) string) (path, why string) {
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
