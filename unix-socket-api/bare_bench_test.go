package socketapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/credpool/credpool/internal/testio"
)

// BenchmarkBareHTTPRoundTrip is the floor: a plain net/http handler over a
// Unix socket, to compare the API's round trip with on the same machine.
func BenchmarkBareHTTPRoundTrip(b *testing.B) {
	path := filepath.Join(testio.ShortTempDir(b), "bare.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	})}
	go func() { _ = hs.Serve(l) }()
	defer hs.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for b.Loop() {
		resp, err := hc.Post("http://x/", "application/json", nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
