// Package extlogin follows the logins that other agent tools keep in their
// own credential files — the Codex CLI's auth.json, Claude Code's
// .credentials.json, Qwen Code's and Gemini CLI's oauth_creds.json — so
// that each appears in credpool's pool under its source name, and a
// re-login in another terminal reaches the pool within milliseconds.
//
// It owns three things: reading those files (hostile-input safe: a FIFO,
// a device or a huge file at the path gets a clear error, never a hang or
// a huge allocation), watching them (Watcher: fsnotify on each file's
// directory, or on its nearest existing parent until the directory
// appears, with a slow re-stat as a safety net), and writing refreshed
// tokens back (Writer.WriteBack, only when the user opts in) under each
// tool's own lock, changing nothing but the token fields.
//
// The tools write differently, and the reader is built for all of them:
// Claude Code, Qwen Code and the Codex CLI 0.171 write a temp file and
// rename it over the target (which replaces a symlink, so directories are
// watched, not files); Gemini CLI and the Codex CLIs whose codex-rs
// FileAuthStorage opened auth.json with truncate truncate and rewrite the
// file in place, so a file that does not parse yet is ErrPartial (read
// again shortly), not corruption; and a Claude Code instance that lost a
// refresh race writes blanked tokens, which are reported as a Broken login
// and never adopted.
//
// Nothing here prints a secret: Login's String, GoString, LogValue and
// MarshalJSON show a fingerprint instead of tokens, and every error names
// fields and byte offsets, never values.
package extlogin
