package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// SDKDir is gateway/testdata/sdk, where the SDK scripts are. It is found
// from this file's place in the source tree, so tests of any package can
// run the scripts.
func SDKDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "sdk")
}

// repoRoot is where package.json and node_modules are.
func repoRoot() string { return filepath.Join(SDKDir(), "..", "..", "..") }

// NodeReady says why the SDK scripts cannot run here (nil when they can):
// no node on PATH, or the root's npm packages not installed.
func NodeReady() error {
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node is not on PATH (the SDK tests need Node 20 or later)")
	}
	for _, pkg := range []string{"openai", filepath.Join("@anthropic-ai", "sdk")} {
		if _, err := os.Stat(filepath.Join(repoRoot(), "node_modules", pkg, "package.json")); err != nil {
			return fmt.Errorf("node_modules/%s is missing: run npm install at the repository root", pkg)
		}
	}
	return nil
}

// Result is what an SDK script prints.
type Result struct {
	SDK          string       `json:"sdk"`
	Version      string       `json:"version"`
	Text         string       `json:"text"`
	StreamText   string       `json:"stream_text"`
	StreamEvents int          `json:"stream_events"`
	Error        *ScriptError `json:"error"`
}

// ScriptError is the SDK error a script caught.
type ScriptError struct {
	Status  *int   `json:"status"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Script names under SDKDir.
const (
	OpenAIScript    = "openai.mjs"
	AnthropicScript = "anthropic.mjs"
)

// RunScript runs an SDK script against the gateway: baseURL is the pool's
// gateway URL (http://127.0.0.1:PORT/<pool>), token the gateway token, put
// in the SDK's own variables. env adds KEY=VALUE pairs (MODEL, MAX_RETRIES,
// or ANTHROPIC_AUTH_TOKEN to send the token as a Bearer token). The script
// gets a clean environment: no key of the user's can leak in.
func RunScript(ctx context.Context, script, baseURL, token string, env ...string) (Result, error) {
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "NODE_NO_WARNINGS=1"}
	switch script {
	case OpenAIScript:
		base = append(base, "OPENAI_BASE_URL="+baseURL, "OPENAI_API_KEY="+token)
	case AnthropicScript:
		base = append(base, "ANTHROPIC_BASE_URL="+baseURL)
		if !hasKey(env, "ANTHROPIC_AUTH_TOKEN") {
			base = append(base, "ANTHROPIC_API_KEY="+token)
		}
	default:
		return Result{}, fmt.Errorf("gatewaytest: no script %q", script)
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join(SDKDir(), script))
	cmd.Env = append(base, env...)
	cmd.Dir = SDKDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("gatewaytest: node %s: %w; stderr: %s", script, err, stderr.String())
	}
	var r Result
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		return Result{}, fmt.Errorf("gatewaytest: %s printed no result (%w): %q; stderr: %s", script, err, stdout.String(), stderr.String())
	}
	return r, nil
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}
