package gatewaytest

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
)

// NewRequest is a request to a gateway as an SDK sends it: method url with
// body as JSON and token as a Bearer token; headers are "Name: value"
// pairs that set a header, or "Name:" that removes one (Authorization:, to
// send the token another way or not at all).
func NewRequest(ctx context.Context, method, url, token, body string, headers ...string) (*http.Request, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ":")
		if v = strings.TrimSpace(v); v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return req, nil
}

// SSEData delivers the data of each event of a stream as it arrives; the
// channel closes when the stream ends.
func SSEData(r io.Reader) <-chan string {
	ch := make(chan string, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				ch <- d
			}
		}
	}()
	return ch
}
