package packaging

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/golden"
)

func goldenOptions() Options {
	return Options{
		BinaryPath: "/usr/local/bin/credpool",
		AuthFile:   "/home/alice/.hermes/auth.json",
		Socket:     "/run/user/1000/credpool/credpool.sock",
		LogDir:     "/Users/alice/Library/Logs/credpool",
	}
}

func TestRenderGolden(t *testing.T) {
	spaced := Options{
		BinaryPath: "/opt/my tools/credpool",
		AuthFile:   `/home/al "x" 100%/auth.json`,
		Socket:     "/srv/credpool $HOME/credpool.sock",
		ConfigFile: "/etc/credpool/config.toml",
		LogDir:     "/Users/a&b/Library/Logs/credpool",
	}
	system := goldenOptions()
	system.System, system.User = true, "alice"
	system.Socket = ""

	tests := []struct {
		golden string
		render func(Options) ([]byte, error)
		opts   Options
	}{
		{"user.service.golden", RenderUserUnit, goldenOptions()},
		{"user-bare.service.golden", RenderUserUnit, Options{BinaryPath: PackagedBinary}},
		{"user-quoted.service.golden", RenderUserUnit, spaced},
		{"system.service.golden", RenderSystemUnit, system},
		{"system-quoted.service.golden", RenderSystemUnit, func() Options { o := spaced; o.User = "alice"; return o }()},
		{"system-template.service.golden", RenderSystemTemplateUnit, Options{BinaryPath: PackagedBinary}},
		{"launchd.plist.golden", RenderLaunchdPlist, goldenOptions()},
		{"launchd-quoted.plist.golden", RenderLaunchdPlist, spaced},
		{"launchd-system.plist.golden", RenderLaunchdPlist, Options{System: true, User: "alice", BinaryPath: "/usr/local/bin/credpool", AuthFile: "/Users/alice/.config/credpool/auth.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := tt.render(tt.opts)
			require.NoError(t, err)
			golden.Assert(t, tt.golden, got)
		})
	}
}

func TestRenderRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name   string
		render func(Options) ([]byte, error)
		opts   Options
	}{
		{"relative binary", RenderUserUnit, Options{BinaryPath: "bin/credpool"}},
		{"quote in binary", RenderUserUnit, Options{BinaryPath: `/opt/"x"/credpool`}},
		{"backslash in binary", RenderSystemTemplateUnit, Options{BinaryPath: `/opt/a\b/credpool`}},
		{"newline in auth file", RenderUserUnit, Options{BinaryPath: "/bin/credpool", AuthFile: "/tmp/a\nExecStartPre=/bin/rm"}},
		{"system without user", RenderSystemUnit, Options{BinaryPath: "/bin/credpool", AuthFile: "/a/auth.json"}},
		{"system without auth file", RenderSystemUnit, Options{BinaryPath: "/bin/credpool", User: "alice"}},
		{"user with space", RenderSystemUnit, Options{BinaryPath: "/bin/credpool", User: "a b", AuthFile: "/a/auth.json"}},
		{"plist relative socket", RenderLaunchdPlist, Options{BinaryPath: "/bin/credpool", Socket: "x.sock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.render(tt.opts)
			assert.ErrorIs(t, err, ErrInvalidOption)
		})
	}
}

// TestSystemdAnalyzeVerify lets systemd itself judge the rendered units.
// verify checks that ExecStart's binary exists and is executable, so the
// units point at this test binary.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd); CI installs it")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth dir", "auth.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(auth), 0o700))
	// A binary path with a blank and a percent sign proves that the
	// ExecStart quoting is what systemd parses back.
	oddExe := filepath.Join(dir, "bin dir 100%", "credpool")
	require.NoError(t, os.MkdirAll(filepath.Dir(oddExe), 0o755))
	require.NoError(t, os.Symlink(exe, oddExe))

	units := map[string]func() ([]byte, error){
		"user/credpool.service": func() ([]byte, error) {
			return RenderUserUnit(Options{BinaryPath: oddExe, AuthFile: auth, Socket: filepath.Join(dir, "s 1", "credpool.sock")})
		},
		"system/credpool.service": func() ([]byte, error) {
			return RenderSystemUnit(Options{System: true, User: "root", BinaryPath: exe, AuthFile: auth, ConfigFile: "/etc/credpool/config.toml"})
		},
		"template/credpool@.service": func() ([]byte, error) {
			return RenderSystemTemplateUnit(Options{BinaryPath: exe})
		},
	}
	for name, render := range units {
		t.Run(name, func(t *testing.T) {
			unit, err := render()
			require.NoError(t, err)
			path := filepath.Join(dir, name)
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, unit, 0o644))
			args := []string{"verify", "--man=no"}
			if strings.HasPrefix(name, "user/") {
				args = append(args, "--user")
			}
			target := path
			if strings.HasSuffix(name, "@.service") {
				// A template is verified through an instance of it.
				target = filepath.Join(filepath.Dir(path), "credpool@root.service")
				require.NoError(t, os.Symlink(path, target))
			}
			cmd := exec.Command(analyze, append(args, target)...)
			// A --user manager needs a runtime directory even just to verify.
			cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice", "XDG_RUNTIME_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, "systemd-analyze verify:\n%s", out)
			// verify exits 0 for some warnings; any line naming our unit is a finding.
			for _, line := range strings.Split(string(out), "\n") {
				assert.NotContains(t, line, "credpool", "systemd-analyze verify finding")
			}
		})
	}
}

func TestPlistIsWellFormedXML(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed (Debian package libxml2-utils); CI installs it")
	}
	for _, opts := range []Options{goldenOptions(), {BinaryPath: "/a&b/<credpool>", AuthFile: `/x/"q'/auth.json`, LogDir: "/l"}} {
		plist, err := RenderLaunchdPlist(opts)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "credpool.plist")
		require.NoError(t, os.WriteFile(path, plist, 0o644))
		// --nonet: the DOCTYPE names Apple's DTD; well-formedness must not need it.
		out, err := exec.Command(xmllint, "--noout", "--nonet", path).CombinedOutput()
		assert.NoError(t, err, "xmllint:\n%s", out)
		assert.Empty(t, bytes.TrimSpace(out))
	}
}
