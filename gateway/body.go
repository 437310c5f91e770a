package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"unicode/utf8"
)

// errorPeek bounds the copy of an error body read for its reason; the
// client still gets the whole body.
const errorPeek = 64 << 10

// maxReportMessage bounds the message handed to the pool.
const maxReportMessage = 1024

// peekError reads a bounded copy of an error answer's body for its reason
// and message, and puts it back in front of the rest for the client.
func peekError(resp *http.Response) (reason, message string) {
	head, err := io.ReadAll(io.LimitReader(resp.Body, errorPeek))
	resp.Body = &readCloser{Reader: io.MultiReader(bytes.NewReader(head), resp.Body), Closer: resp.Body}
	if err != nil {
		// The client will see the same failure when it reads on.
		return "", ""
	}
	return parseErrorBody(head)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// parseErrorBody reads the error of an OpenAI-style body
// ({"error":{"message","type","code"}}), an Anthropic-style one
// ({"type":"error","error":{"type","message"}}), or the looser forms some
// compatible providers send ({"error":"..."}, {"message":"..."},
// {"detail":"..."}). Reason is error.code when it is a string, else
// error.type.
func parseErrorBody(b []byte) (reason, message string) {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(b, &v) != nil {
		return "", ""
	}
	var obj struct {
		Code    any    `json:"code"`
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	var str string
	e := bytes.TrimSpace(v.Error)
	switch {
	case len(e) > 0 && e[0] == '{' && json.Unmarshal(e, &obj) == nil:
		reason, message = obj.Type, obj.Message
		if code, ok := obj.Code.(string); ok && code != "" {
			reason = code
		}
	case len(e) > 0 && e[0] == '"' && json.Unmarshal(e, &str) == nil:
		message = str
	case v.Message != "":
		message = v.Message
	case json.Unmarshal(v.Detail, &str) == nil:
		message = str
	}
	return reason, truncate(message, maxReportMessage)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// watchBody reports a success answer once its body has ended: at the end
// of the body, the answer as it came; if the body breaks off (the upstream
// connection dies half way through a stream), a 502 stream_interrupted, so
// that the pool learns of the failure the client saw. A client that leaves
// early is no failure of the upstream's.
func (s *Server) watchBody(ctx context.Context, c *call, cred Credential, resp *http.Response) {
	header := resp.Header.Clone() // ReverseProxy edits resp.Header in place
	status := resp.StatusCode
	if status == http.StatusSwitchingProtocols {
		// An upgraded connection (a WebSocket) is a tunnel, not a body.
		s.report(ctx, c, cred, Report{StatusCode: status, Header: header})
		return
	}
	wb := &watchedBody{rc: resp.Body}
	wb.done = func(err error) {
		r := Report{StatusCode: status, Header: header}
		if err != nil && ctx.Err() == nil {
			r = Report{StatusCode: http.StatusBadGateway, Header: header, Reason: ReasonStreamInterrupted, Message: err.Error()}
			c.reason = ReasonStreamInterrupted
		}
		s.report(ctx, c, cred, r)
	}
	resp.Body = wb
}

// watchedBody calls done once: with nil at EOF or at a Close before it, with
// the error when a read fails.
type watchedBody struct {
	rc   io.ReadCloser
	done func(error)
	once sync.Once
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.once.Do(func() { b.done(nil) })
	case err != nil:
		b.once.Do(func() { b.done(err) })
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.once.Do(func() { b.done(nil) })
	return b.rc.Close()
}
