package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"

	"github.com/credpool/credpool/authfile"
	"github.com/credpool/credpool/pool"
)

// echoEnv makes the bench binary a bare echo server on the socket it names:
// the floor that any HTTP-over-Unix-socket daemon pays, measured in its own
// process like the daemon.
const echoEnv = "CREDPOOL_BENCH_ECHO_SOCKET"

// echoBody is about the size of a select answer.
var echoBody = []byte(`{"credential":{"id":"a1b2c3","provider":"bench-p0","label":"key-0","auth_type":"api_key","source":"manual","access_token":"sk-bench-000000000000000000000000000000000000000000000000","base_url":"https://api.example.invalid/v1","expires_at":null,"priority":0,"request_count":1}}` + "\n")

func serveEcho(socket string) error {
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(echoBody)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	// The parent closes stdin when it is done with us.
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// echoProc is the echo server child.
type echoProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startEcho(socket string) (*echoProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), echoEnv+"="+socket)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	p := &echoProc{cmd: cmd, stdin: stdin}
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("unix", socket)
		if err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("echo server did not listen: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *echoProc) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// echoWorker does what socketapi.Client does for a select (JSON body out,
// JSON answer decoded) against the echo server, on its own connection.
type echoWorker struct {
	hc *http.Client
	tr *http.Transport
}

func newEchoWorker(socket string) *echoWorker {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConnsPerHost: 4,
		DisableCompression:  true,
	}
	return &echoWorker{hc: &http.Client{Transport: tr}, tr: tr}
}

func (w *echoWorker) step(ctx context.Context) (string, error) {
	body, err := json.Marshal(struct {
		Lease bool `json:"lease,omitempty"`
	}{})
	if err != nil {
		return "echo", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://echo/v1/pools/bench-p0/select", bytes.NewReader(body))
	if err != nil {
		return "echo", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.hc.Do(req)
	if err != nil {
		return "echo", err
	}
	defer resp.Body.Close()
	var out struct {
		Credential pool.Credential `json:"credential"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "echo", err
	}
	return "echo", nil
}

func (w *echoWorker) close(context.Context) { w.tr.CloseIdleConnections() }

// fileWorker is an agent without a daemon, doing one selection the way
// Hermes does: take auth.lock (a blocking flock, as Python's fcntl.flock),
// read and parse auth.json, pick fill_first among the available entries,
// count the request, write the file back atomically (temp file, fsync,
// rename, fsync of the directory, as authfile does) and unlock.
type fileWorker struct {
	store    *authfile.Store
	lock     *flock.Flock
	provider string
}

func newFileWorker(path, provider string) *fileWorker {
	s := authfile.NewStore(path)
	return &fileWorker{store: s, lock: flock.New(s.LockPath(), flock.SetPermissions(0o600)), provider: provider}
}

var errFileNoneAvailable = fmt.Errorf("file model: %w", pool.ErrNoneAvailable)

func (w *fileWorker) step(context.Context) (string, error) {
	if err := w.lock.Lock(); err != nil {
		return opSelect, err
	}
	defer func() { _ = w.lock.Unlock() }()
	f, _, err := w.store.Read()
	if err != nil {
		return opSelect, err
	}
	entries := f.Pools[w.provider]
	best := -1
	for i := range entries {
		e := &entries[i]
		if e.AccessToken == "" || (e.LastStatus != "" && e.LastStatus != pool.StatusOK) {
			continue
		}
		if best < 0 || e.Priority < entries[best].Priority {
			best = i
		}
	}
	if best < 0 {
		return opSelect, errFileNoneAvailable
	}
	entries[best].RequestCount++
	data, err := f.Marshal()
	if err != nil {
		return opSelect, err
	}
	_, err = atomicWrite(w.store.Path(), data)
	return opSelect, err
}

func (w *fileWorker) close(context.Context) { _ = w.lock.Close() }

// atomicWrite replaces path the way authfile and Hermes do: temp file in
// the same directory, 0600, fsync, rename, fsync of the directory. It
// returns when the rename was done.
func atomicWrite(path string, data []byte) (renamed time.Time, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".auth.json.bench-*")
	if err != nil {
		return renamed, err
	}
	defer os.Remove(tmp.Name())
	if err := writeSync(tmp, data); err != nil {
		return renamed, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return renamed, err
	}
	renamed = time.Now()
	d, err := os.Open(dir)
	if err != nil {
		return renamed, err
	}
	defer d.Close()
	return renamed, d.Sync()
}

func writeSync(f *os.File, data []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
