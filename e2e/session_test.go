package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
)

// A session is a Hermes agent that loaded one provider's pool when it
// started and keeps that copy: on its next mark it writes its copy of every
// row back (write_credential_pool), whatever credpool did since. Two kinds
// drive the same scenarios: testdata/stale_hermes.py, which mimics Hermes'
// row contract with the standard library only, and the real Hermes pool
// code through testdata/real_hermes.py.
type session struct {
	t      testing.TB
	p      *daemontest.Proc
	loaded []string
}

// startSession starts a session of some kind on h's auth.json for
// provider; its clock runs clockOffset seconds ahead.
type startSession func(t *testing.T, h *harness, provider string, clockOffset float64) *session

// sessionKinds are the two kinds of session every stale-writer scenario
// meets.
var sessionKinds = []struct {
	name  string
	start startSession
}{
	{"hermes-like writer", mimicSession},
	{"real Hermes", realHermesSession},
}

// anyPython is Debian's /usr/bin/python3 (the one the Hermes packages
// are installed for), else the python3 on PATH; without one the test
// skips, saying that who (a script, a check) needs it.
func anyPython(t testing.TB, who string) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skipf("python3 is not installed: %s needs it", who)
	}
	return py
}

func mimicSession(t *testing.T, h *harness, provider string, clockOffset float64) *session {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "stale_hermes.py"))
	require.NoError(t, err)
	argv := []string{anyPython(t, "the Hermes-like writer"), script, h.AuthFile, provider, "--clock-offset", fmt.Sprint(clockOffset)}
	return newSession(t, hermesProc(t, hermesEnv(t, h.AuthFile), argv...))
}

// hermesCheckout finds the Hermes checkout the interop tests run (the
// shared folder beside the repository, or $CREDPOOL_TEST_HERMES), and
// skips the test, saying what is missing, when it or Debian's
// python3-httpx, python3-yaml and python3-dotenv are not there.
func hermesCheckout(t testing.TB) (python, dir string) {
	t.Helper()
	dir = os.Getenv("CREDPOOL_TEST_HERMES")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		// A clone has shared/ beside it; a worktree may sit one level deeper.
		for up := filepath.Dir(filepath.Dir(file)); up != filepath.Dir(up); up = filepath.Dir(up) {
			if _, err := os.Stat(filepath.Join(up, "shared", "hermes", "agent", "credential_pool.py")); err == nil {
				dir = filepath.Join(up, "shared", "hermes")
				break
			}
		}
	}
	if dir == "" {
		t.Skip("the Hermes checkout (../shared/hermes, or $CREDPOOL_TEST_HERMES) is missing: the real-Hermes scenarios need it")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("Debian's /usr/bin/python3 is missing: the real-Hermes scenarios need it")
	}
	if out, err := exec.Command("/usr/bin/python3", "-c", "import httpx, yaml, dotenv").CombinedOutput(); err != nil {
		t.Skipf("python3-httpx, python3-yaml or python3-dotenv is missing (apt-get install -y python3-httpx python3-yaml python3-dotenv): %s",
			strings.TrimSpace(string(out)))
	}
	return "/usr/bin/python3", dir
}

// hermesEnv is the environment of every Hermes process these tests run
// (the real Hermes code and the Hermes-style scripts): HERMES_HOME is the
// auth file's directory and HOME a scratch directory (Hermes seeds entries
// from files under HOME), and nothing else of this process's environment
// but PATH: nothing Hermes would seed from (*_API_KEY, *_TOKEN) or be
// steered by (PYTHON*, XDG_*, a proxy). PYTHONDONTWRITEBYTECODE keeps .pyc
// files out of the shared Hermes checkout.
func hermesEnv(t testing.TB, authFile string) []string {
	t.Helper()
	return []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1",
		"HOME=" + t.TempDir(), "HERMES_HOME=" + filepath.Dir(authFile)}
}

// hermesProc starts a Hermes process (argv, in env) that the test drives
// line by line; at the end of the test its stderr must hold no secret.
func hermesProc(t testing.TB, env []string, argv ...string) *daemontest.Proc {
	t.Helper()
	p := daemontest.StartProc(t, env, argv...)
	t.Cleanup(func() { daemontest.NoSecret(t, "the stderr of "+filepath.Base(argv[1]), p.Stderr()) })
	return p
}

func realHermesSession(t *testing.T, h *harness, provider string, clockOffset float64) *session {
	t.Helper()
	py, dir := hermesCheckout(t)
	script, err := filepath.Abs(filepath.Join("testdata", "real_hermes.py"))
	require.NoError(t, err)
	argv := []string{py, script, "--hermes", dir, "--clock-offset", fmt.Sprint(clockOffset), provider}
	return newSession(t, hermesProc(t, hermesEnv(t, h.AuthFile), argv...))
}

func newSession(t testing.TB, p *daemontest.Proc) *session {
	t.Helper()
	s := &session{t: t, p: p}
	var hello struct {
		Loaded []string `json:"loaded"`
	}
	line := p.Expect(30 * time.Second)
	require.NoError(t, json.Unmarshal([]byte(line), &hello), "first line of the session: %q; stderr:\n%s", line, p.Stderr())
	s.loaded = hello.Loaded
	return s
}

// do sends one command and waits until the session has carried it out
// (and written the file).
func (s *session) do(cmd map[string]any) map[string]any {
	s.t.Helper()
	b, err := json.Marshal(cmd)
	require.NoError(s.t, err)
	s.p.Send(string(b))
	line := s.p.Expect(30 * time.Second)
	var out map[string]any
	require.NoError(s.t, json.Unmarshal([]byte(line), &out), "answer of the session to %s: %q; stderr:\n%s", b, line, s.p.Stderr())
	return out
}

// mark is Hermes' mark_exhausted_and_rotate on the entry id, which writes
// the session's whole snapshot of the provider.
func (s *session) mark(id string, code int, reason string) {
	s.t.Helper()
	s.do(map[string]any{"op": "mark", "id": id, "code": code, "reason": reason})
}
