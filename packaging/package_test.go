package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDebPackage builds the .deb and .rpm with build-packages.sh, checks the
// .deb's file list, installs it with dpkg -i and runs /usr/bin/credpool. It
// changes the machine, so it runs only where asked: CREDPOOL_PACKAGE_TEST=1
// (set by .ci/run) and dpkg-deb present.
func TestDebPackage(t *testing.T) {
	if os.Getenv("CREDPOOL_PACKAGE_TEST") != "1" {
		t.Skip("set CREDPOOL_PACKAGE_TEST=1 to build and install the .deb (changes the machine)")
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	build := exec.Command("sh", filepath.Join(root, "packaging", "build-packages.sh"))
	build.Env = append(os.Environ(), "CREDPOOL_VERSION=0.0.0-test")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build-packages.sh:\n%s", out)

	debs, err := filepath.Glob(filepath.Join(root, "dist", "credpool_*.deb"))
	require.NoError(t, err)
	require.Len(t, debs, 1, "one .deb in dist/")
	rpms, err := filepath.Glob(filepath.Join(root, "dist", "credpool-*.rpm"))
	require.NoError(t, err)
	assert.Len(t, rpms, 1, "one .rpm in dist/")

	listing, err := exec.Command("dpkg-deb", "-c", debs[0]).CombinedOutput()
	require.NoError(t, err, "%s", listing)
	for _, path := range []string{
		"./usr/bin/credpool",
		"./usr/lib/systemd/user/credpool.service",
		"./usr/lib/systemd/system/credpool@.service",
		"./usr/share/man/man1/credpool.1.gz",
		"./usr/share/doc/credpool/README.md",
	} {
		assert.Contains(t, string(listing), " "+path+"\n", "the .deb ships %s", path)
	}
	assert.Regexp(t, `-rwxr-xr-x root/root +\d+ \S+ \S+ \./usr/bin/credpool\n`, string(listing))

	out, err = asRoot("dpkg", "-i", debs[0]).CombinedOutput()
	require.NoError(t, err, "dpkg -i:\n%s", out)
	t.Cleanup(func() {
		out, err := asRoot("dpkg", "--purge", "credpool").CombinedOutput()
		assert.NoError(t, err, "dpkg --purge:\n%s", out)
	})

	version, err := exec.Command("/usr/bin/credpool", "version").CombinedOutput()
	require.NoError(t, err, "%s", version)
	assert.Contains(t, string(version), "0.0.0-test")

	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		for _, unit := range []string{"/usr/lib/systemd/user/credpool.service"} {
			cmd := exec.Command(analyze, "verify", "--user", "--man=no", unit)
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, "%s", out)
			assert.NotContains(t, string(out), "credpool")
		}
	}
	if man, err := exec.LookPath("man"); err == nil {
		out, err := exec.Command(man, "-w", "credpool").CombinedOutput()
		assert.NoError(t, err, "%s", out)
		assert.True(t, strings.HasSuffix(strings.TrimSpace(string(out)), "/usr/share/man/man1/credpool.1.gz"), "man -w: %s", out)
	}
}

// asRoot runs a command as root: directly when the test is root (CI), else
// through non-interactive sudo.
func asRoot(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command(name, args...)
	}
	return exec.Command("sudo", append([]string{"-n", name}, args...)...)
}
