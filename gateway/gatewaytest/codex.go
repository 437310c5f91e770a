package gatewaytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// CodexBin is the Codex CLI that npm install put under the repository root.
func CodexBin() string { return filepath.Join(repoRoot(), "node_modules", ".bin", "codex") }

// CodexReady says why the Codex CLI cannot run here (nil when it can).
func CodexReady() error {
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node is not on PATH (the Codex CLI is installed through npm)")
	}
	if _, err := os.Stat(CodexBin()); err != nil {
		return errors.New("node_modules/.bin/codex is missing: run npm install at the repository root")
	}
	return nil
}

// CodexTokenEnv is the variable the generated Codex config reads the
// gateway token from (its env_key).
const CodexTokenEnv = "CREDPOOL_GATEWAY_TOKEN"

// CodexConfig is a Codex config.toml whose model provider is the gateway:
// baseURL is the pool's gateway URL (http://127.0.0.1:PORT/openai), the
// token comes from CodexTokenEnv, and Codex speaks the Responses API over
// HTTP (no WebSocket), as the gateway expects.
func CodexConfig(baseURL, model string) string {
	return fmt.Sprintf(`model = %s
model_provider = "credpool"

[model_providers.credpool]
name = "credpool gateway"
base_url = %s
env_key = %q
wire_api = "responses"
requires_openai_auth = false
supports_websockets = false

[features]
plugins = false
remote_plugin = false
shell_snapshot = false

[analytics]
enabled = false

[feedback]
enabled = false
`, strconv.Quote(model), strconv.Quote(baseURL), CodexTokenEnv)
}

// deadProxy is a loopback port nothing listens on; noProxy is what goes
// direct (the gateway).
const (
	deadProxy = "http://127.0.0.1:9"
	noProxy   = "127.0.0.1,localhost,::1"
)

// RunCodex runs codex exec with prompt against the gateway at baseURL, in a
// fresh CODEX_HOME holding CodexConfig, and returns its final message
// (stdout) and its log (stderr).
func RunCodex(ctx context.Context, baseURL, token, model, prompt string) (stdout, stderr string, err error) {
	home, err := os.MkdirTemp("", "codex-home-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(home)
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(CodexConfig(baseURL, model)), 0o600); err != nil {
		return "", "", err
	}
	work := filepath.Join(home, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		return "", "", err
	}
	cmd := exec.CommandContext(ctx, CodexBin(), "exec", "--skip-git-repo-check", "--sandbox", "read-only",
		"--cd", work, prompt)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "CODEX_HOME=" + home,
		CodexTokenEnv + "=" + token, "NO_COLOR=1", "RUST_LOG=warn",
	}
	// Codex also reaches for GitHub and ChatGPT (plugin sync): send all of
	// that to a closed loopback port, so that nothing but the gateway is
	// ever contacted.
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"} {
		cmd.Env = append(cmd.Env, v+"="+deadProxy, strings.ToLower(v)+"="+deadProxy)
	}
	cmd.Env = append(cmd.Env, "NO_PROXY="+noProxy, "no_proxy="+noProxy)
	cmd.Stdin = nil
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("gatewaytest: codex exec: %w", err)
	}
	return out.String(), errb.String(), err
}
