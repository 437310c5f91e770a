package socketapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/credpool/credpool/apitype"
)

// writeBackendError maps the backend's error to a status and code by the
// one table (apitype). Backend errors never carry secrets (pool and daemon
// guarantee it), so their text is passed on.
func (s *Server) writeBackendError(w http.ResponseWriter, r *http.Request, err error) {
	code, status, known := apitype.CodeOf(err)
	if !known {
		if r.Context().Err() != nil {
			return // the client is gone; nobody reads an answer
		}
		s.log.Error("socketapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if errors.Is(err, apitype.ErrShuttingDown) {
		// The client may retry at once, against the next daemon.
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, status, code, err.Error())
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apitype.ErrorBody{Error: apitype.ErrorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
