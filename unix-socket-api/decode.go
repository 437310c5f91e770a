package socketapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/pool"
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
		got, num, _ := strings.Cut(typ.Value, " ") // "number 1.5" → "number": no value
		if typ.Field == "" {
			return fmt.Sprintf("the body must be a JSON object, not %s", got)
		}
		want := jsonKind(typ.Type.Kind())
		switch {
		case want == wholeNumber && got == "number" && strings.Trim(num, "-0123456789") == "":
			return fmt.Sprintf("field %s: expected %s, got one out of range", typ.Field, want)
		case want == wholeNumber && got == "number":
			// 1.5, 1e3: a number, but not one written as a whole number.
			return fmt.Sprintf("field %s: expected %s", typ.Field, want)
		}
		return fmt.Sprintf("field %s: expected %s, got %s", typ.Field, want, got)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil && len(n) <= maxEchoedName {
			return "unknown field " + pool.Quote(n)
		}
		return "unknown field (name too long to repeat)"
	}
	return "malformed JSON"
}

const wholeNumber = "a whole number"

// jsonKind names the JSON a Go kind decodes from, for a message.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return wholeNumber
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a different kind of value"
}
