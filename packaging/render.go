package packaging

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/credpool/credpool/paths"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").ParseFS(templateFS, "templates/*.tmpl"))

// systemdUnitData is what the two systemd templates see. Every string is
// already escaped for its position in the unit file.
type systemdUnitData struct {
	UnitName         string
	Template         bool
	User             string
	ExecStart        string
	Environment      []string
	RuntimeDirectory string
	ReadWritePaths   string
}

// RenderUserUnit renders the systemd --user unit (credpool.service).
func RenderUserUnit(opts Options) ([]byte, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkSystemdBinary(opts.BinaryPath); err != nil {
		return nil, err
	}
	data := systemdUnitData{
		UnitName:    ServiceName + ".service",
		ExecStart:   execStart(opts),
		Environment: unitEnvironment(opts.AuthFile, opts.Socket),
	}
	return execute("user.service.tmpl", data)
}

// RenderSystemUnit renders a system unit that runs the daemon as opts.User,
// hardened so that it can write only the auth-file directory and its runtime
// directory. opts.AuthFile is required: with ProtectHome=read-only the daemon
// could write nowhere else.
func RenderSystemUnit(opts Options) ([]byte, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := opts.requireUser(); err != nil {
		return nil, err
	}
	if opts.AuthFile == "" {
		return nil, fmt.Errorf("packaging: a system unit needs the auth file path: %w", ErrInvalidOption)
	}
	if err := checkSystemdBinary(opts.BinaryPath); err != nil {
		return nil, err
	}
	socket := opts.Socket
	if socket == "" {
		socket = DefaultSystemSocket
	}
	rw := []string{unitPathWord("", filepath.Dir(opts.AuthFile))}
	// The runtime directory is writable already; any other socket directory
	// must be listed, or Listen fails on the read-only file system.
	if sockDir := filepath.Dir(socket); sockDir != filepath.Dir(DefaultSystemSocket) && sockDir != filepath.Dir(opts.AuthFile) {
		rw = append(rw, unitPathWord("-", sockDir))
	}
	data := systemdUnitData{
		UnitName:         ServiceName + ".service",
		User:             opts.User,
		ExecStart:        execStart(opts),
		Environment:      unitEnvironment(opts.AuthFile, socket),
		RuntimeDirectory: ServiceName,
		ReadWritePaths:   strings.Join(rw, " "),
	}
	return execute("system.service.tmpl", data)
}

// RenderSystemTemplateUnit renders credpool@.service, the system template
// unit that the .deb and .rpm ship: `systemctl enable --now credpool@alice`
// runs alice's daemon with her files under /home/alice/.config/credpool and
// its socket at /run/credpool-alice/credpool.sock. Only BinaryPath and
// ConfigFile of opts are used; a home elsewhere than /home needs
// `credpool service install --system --user NAME`, which writes a concrete
// unit, or a drop-in.
func RenderSystemTemplateUnit(opts Options) ([]byte, error) {
	opts, err := Options{BinaryPath: opts.BinaryPath, ConfigFile: opts.ConfigFile}.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkSystemdBinary(opts.BinaryPath); err != nil {
		return nil, err
	}
	// Specifiers (%i) are written raw here: they are the point of a template.
	data := systemdUnitData{
		UnitName:  ServiceName + "@.service",
		Template:  true,
		User:      "%i",
		ExecStart: execStart(opts),
		Environment: []string{
			`"` + paths.AuthFileEnv + `=/home/%i/.config/credpool/auth.json"`,
			`"` + paths.SocketEnv + `=/run/credpool-%i/credpool.sock"`,
		},
		RuntimeDirectory: ServiceName + "-%i",
		ReadWritePaths:   "-/home/%i/.config/credpool",
	}
	return execute("system.service.tmpl", data)
}

// launchdData is what the plist template sees; every string is XML-escaped.
type launchdData struct {
	Label             string
	ProgramArguments  []string
	Environment       []launchdEnv
	UserName          string
	StandardOutPath   string
	StandardErrorPath string
}

type launchdEnv struct{ Key, Value string }

// RenderLaunchdPlist renders the LaunchAgent plist (LaunchDaemon with
// opts.System, which adds UserName).
func RenderLaunchdPlist(opts Options) ([]byte, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	logDir, err := launchdLogDir(opts)
	if err != nil {
		return nil, err
	}
	data := launchdData{
		Label:             xmlEscape(LaunchdLabel),
		StandardOutPath:   xmlEscape(filepath.Join(logDir, "credpool.out.log")),
		StandardErrorPath: xmlEscape(filepath.Join(logDir, "credpool.err.log")),
	}
	for _, a := range daemonArgs(opts) {
		data.ProgramArguments = append(data.ProgramArguments, xmlEscape(a))
	}
	for _, kv := range [][2]string{{paths.AuthFileEnv, opts.AuthFile}, {paths.SocketEnv, opts.Socket}} {
		if kv[1] != "" {
			data.Environment = append(data.Environment, launchdEnv{Key: kv[0], Value: xmlEscape(kv[1])})
		}
	}
	if opts.System {
		if err := opts.requireUser(); err != nil {
			return nil, err
		}
		data.UserName = xmlEscape(opts.User)
	}
	return execute("launchd.plist.tmpl", data)
}

func launchdLogDir(opts Options) (string, error) {
	if opts.LogDir != "" {
		return opts.LogDir, nil
	}
	if opts.System {
		return "/Library/Logs/credpool", nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("packaging: find home for launchd logs: %w", err)
	}
	return filepath.Join(home, "Library", "Logs", "credpool"), nil
}

func execute(name string, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("packaging: render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// daemonArgs is the command line the service runs.
func daemonArgs(opts Options) []string {
	args := []string{opts.BinaryPath, "daemon"}
	if opts.ConfigFile != "" {
		args = append(args, "--config="+opts.ConfigFile)
	}
	return args
}

// checkSystemdBinary refuses what systemd rejects in an executable name
// ("contains special characters"), so that install fails before writing a
// unit that systemd would not start.
func checkSystemdBinary(path string) error {
	if strings.ContainsAny(path, "\"'\\") {
		return fmt.Errorf("packaging: systemd cannot run a binary whose path contains quotes or backslashes (%q): %w", path, ErrInvalidOption)
	}
	return nil
}

func execStart(opts Options) string {
	words := daemonArgs(opts)
	for i, w := range words {
		words[i] = execWord(w)
	}
	return strings.Join(words, " ")
}

func unitEnvironment(authFile, socket string) []string {
	var env []string
	for _, kv := range [][2]string{{paths.AuthFileEnv, authFile}, {paths.SocketEnv, socket}} {
		if kv[1] != "" {
			env = append(env, unitQuote(kv[0]+"="+kv[1]))
		}
	}
	return env
}

// unitQuote double-quotes a value for Environment=: backslash and quote are
// C-escaped, and % is doubled because systemd expands specifiers there.
func unitQuote(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`).Replace(s)
	return `"` + s + `"`
}

// execWord escapes one ExecStart word: systemd expands both %specifiers and
// $VARIABLES on that line, so both are doubled, and a word with blanks or
// quotes is double-quoted.
func execWord(s string) string {
	s = strings.NewReplacer(`%`, `%%`, `$`, `$$`).Replace(s)
	if strings.ContainsAny(s, " \t\"'\\;") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return s
}

// unitPathWord escapes one path in a space-separated path list such as
// ReadWritePaths=. The prefix ("-": ignore if missing) goes inside the quotes.
func unitPathWord(prefix, p string) string {
	p = prefix + strings.ReplaceAll(p, "%", "%%")
	if strings.ContainsAny(p, " \t\"'\\") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
	}
	return p
}

var xmlEscaper = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&quot;", `'`, "&apos;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }
