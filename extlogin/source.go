package extlogin

import (
	"path/filepath"
	"strings"
)

// Source names: the "source" of the pool entries each tool's login becomes,
// as Hermes names them.
const (
	SourceCodex  = "codex_cli"
	SourceClaude = "claude_code"
	SourceQwen   = "qwen-cli"
	SourceGemini = "gemini_cli"
)

// Names are the source names in Sources' order: the list a setting that
// turns sources on and off accepts.
func Names() []string {
	out := make([]string, len(homes))
	for i, h := range homes {
		out[i] = h.name
	}
	return out
}

// EnvVars are the environment variables that move a tool's home, one per
// source in Sources' order; Sources reads HOME besides. A harness that must
// keep a daemon off the developer's own logins unsets them all.
func EnvVars() []string {
	out := make([]string, len(homes))
	for i, h := range homes {
		out[i] = h.env
	}
	return out
}

// Pool keys (providers) the logins go to. A Codex CLI login goes to
// ProviderOpenAI when it is an API key and to ProviderOpenAICodex when it
// is a ChatGPT login; ProviderGeminiCLI is the key the Hermes agent uses
// for Gemini CLI OAuth (its agent/google_oauth.py).
const (
	ProviderOpenAI      = "openai"
	ProviderOpenAICodex = "openai-codex"
	ProviderAnthropic   = "anthropic"
	ProviderQwenOAuth   = "qwen-oauth"
	ProviderGeminiCLI   = "google-gemini-cli"
)

// kind is the file format (and lock protocol) of a source.
type kind uint8

const (
	kindNone kind = iota
	kindCodex
	kindClaude
	kindQwen
	kindGemini
)

// Source is one tool's credential file. Sources makes them: a Source
// built by hand has no format, and Read, Watcher and WriteBack refuse it.
// To turn a source off, leave it out of the slice.
type Source struct {
	// Name is the source name (SourceCodex, ...).
	Name string
	// Provider is the pool key of this source's logins. For the Codex CLI
	// it is ProviderOpenAICodex, the key of a ChatGPT login; an API-key
	// login read from the same file has Provider ProviderOpenAI. A Login's
	// own Provider is the one to use.
	Provider string
	// Path is the credential file, absolute and clean.
	Path string

	kind kind
}

// Dir is the directory that holds the credential file.
func (s Source) Dir() string { return filepath.Dir(s.Path) }

// homes is where each tool keeps its credential file, in Sources' order:
// env's directory if set, else underHome in $HOME; then sub and file.
var homes = [...]struct {
	name, provider      string
	env, underHome, sub string
	file                string
	kind                kind
}{
	{SourceCodex, ProviderOpenAICodex, "CODEX_HOME", ".codex", "", "auth.json", kindCodex},
	{SourceClaude, ProviderAnthropic, "CLAUDE_CONFIG_DIR", ".claude", "", ".credentials.json", kindClaude},
	{SourceQwen, ProviderQwenOAuth, "QWEN_HOME", ".qwen", "", "oauth_creds.json", kindQwen},
	// GEMINI_CLI_HOME stands for the home directory, not for ~/.gemini.
	{SourceGemini, ProviderGeminiCLI, "GEMINI_CLI_HOME", ".gemini", ".gemini", "oauth_creds.json", kindGemini},
}

// Sources is the table of every tool credpool follows, with paths resolved
// from the environment through getenv (os.Getenv in the daemon): the same
// variables the tools themselves honour.
//
//   - Codex CLI: $CODEX_HOME/auth.json, else ~/.codex/auth.json.
//   - Claude Code: $CLAUDE_CONFIG_DIR/.credentials.json, else
//     ~/.claude/.credentials.json.
//   - Qwen Code: $QWEN_HOME/oauth_creds.json, else ~/.qwen/oauth_creds.json.
//   - Gemini CLI: $GEMINI_CLI_HOME/.gemini/oauth_creds.json (it replaces the
//     home directory), else ~/.gemini/oauth_creds.json.
//
// "~" is $HOME. A source whose path cannot be resolved (no HOME and no
// override, or an override that is not absolute after "~" expansion) is
// left out: there is nothing to watch. The order is fixed.
func Sources(getenv func(string) string) []Source {
	home := clean(getenv("HOME"), "")
	out := make([]Source, 0, len(homes))
	for _, h := range homes {
		dir := ""
		if v := clean(getenv(h.env), home); v != "" {
			dir = filepath.Join(v, h.sub)
		} else if home != "" {
			dir = filepath.Join(home, h.underHome)
		}
		if dir == "" {
			continue
		}
		out = append(out, Source{Name: h.name, Provider: h.provider, Path: filepath.Join(dir, h.file), kind: h.kind})
	}
	return out
}

// clean expands a leading "~" with home and returns the cleaned path, or ""
// when v is empty or not absolute: the daemon's working directory is not
// the user's shell's, so a relative path would name the wrong place.
func clean(v, home string) string {
	v = strings.TrimSpace(v)
	if v == "~" || strings.HasPrefix(v, "~/") {
		if home == "" {
			return ""
		}
		v = home + v[1:]
	}
	if !filepath.IsAbs(v) {
		return ""
	}
	return filepath.Clean(v)
}
