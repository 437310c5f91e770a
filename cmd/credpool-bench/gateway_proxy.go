package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/credpool/credpool/gateway"
)

// proxyEnv makes the bench binary a bare reverse proxy to the URL it names:
// httputil.ReverseProxy and nothing else, in a process of its own on
// loopback, the floor that any gateway process pays for the extra hop. It
// prints the address it listens on.
const proxyEnv = "CREDPOOL_BENCH_PROXY_TO"

func serveProxy(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// The gateway's own transport and buffers, so that the two differ by
	// the gateway's own work only.
	rp.Transport, rp.BufferPool = gateway.UpstreamTransport(), gateway.CopyBuffers()
	// Like the gateway, it buffers the request body: handing the server's
	// own body reader to the upstream transport races the server closing
	// it once the answer has begun, and about one stream in a hundred lost
	// its upstream connection half way.
	buffered := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		rp.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: buffered, ReadHeaderTimeout: 10 * time.Second}
	fmt.Println(ln.Addr().String())
	// The parent closes stdin when it is done with us.
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startProxy runs the bare proxy child in front of target and returns it
// with its base URL.
func startProxy(target string) (*echoProc, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("proxy: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), proxyEnv+"="+target)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", fmt.Errorf("proxy: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", fmt.Errorf("proxy: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("proxy: %w", err)
	}
	p := &echoProc{cmd: cmd, stdin: stdin}
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		p.stop()
		return nil, "", fmt.Errorf("proxy did not say where it listens: %w", err)
	}
	return p, "http://" + strings.TrimSpace(addr), nil
}
