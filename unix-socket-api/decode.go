package socketapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/credpool/credpool/apitype"
)

// decodeBody reads a JSON object into v, answering 400 or 413 itself and
// returning false on failure. An empty body is fine when optional.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, apitype.CodeTooLarge,
				fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes))
		} else {
			writeError(w, http.StatusBadRequest, apitype.CodeBadRequest, "reading the request body failed")
		}
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return true
		}
		writeError(w, http.StatusBadRequest, apitype.CodeBadRequest, "a JSON request body is required")
		return false
	}
	if msg := decodeJSON(body, v); msg != "" {
		writeError(w, http.StatusBadRequest, apitype.CodeBadRequest, msg)
		return false
	}
	return true
}

// maxEchoedName bounds an unknown field name echoed in an error: a name is
// caller's text and the caller might have pasted a token as a key.
const maxEchoedName = 40

// decodeJSON decodes exactly one JSON object without unknown fields into v
// and returns "" or a message naming the problem without echoing a value.
func decodeJSON(body []byte, v any) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Sprintf("unexpected data after the JSON object at offset %d", dec.InputOffset())
	}
	return ""
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at offset %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	case errors.As(err, &typ):
		got, _, _ := strings.Cut(typ.Value, " ") // "number 1.5" → "number": no value
		if typ.Field == "" {
			return fmt.Sprintf("the body must be a JSON object, not %s", got)
		}
		return fmt.Sprintf("field %s: expected %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), got)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil && len(n) <= maxEchoedName {
			return fmt.Sprintf("unknown field %q", n)
		}
		return "unknown field (name too long to repeat)"
	}
	return "malformed JSON"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "ptr":
		return "a number"
	}
	return goKind
}
