package apitype

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// FlexString is a JSON value that may be sent as a number or a string; it
// keeps the text (a number keeps its literal text, so 1.7e9 stays "1.7e9") and
// leaves parsing to pool, which knows what a reset time or Retry-After means.
type FlexString string

var errFlexString = errors.New("must be a number or a string")

// UnmarshalJSON accepts a JSON string, number or null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*f = FlexString(b)
	default:
		return errFlexString
	}
	return nil
}

// MarshalJSON writes a number when the text is a JSON number, else a string.
func (f FlexString) MarshalJSON() ([]byte, error) {
	if isJSONNumber(string(f)) {
		return []byte(f), nil
	}
	return json.Marshal(string(f))
}

// isJSONNumber reports whether s is a JSON number literal, which is a subset
// of what strconv.ParseFloat accepts (no "Inf", "0x1p3", "+1", "1_0", ".5").
func isJSONNumber(s string) bool {
	if s == "" || !json.Valid([]byte(s)) {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	c := s[0]
	return err == nil && (c == '-' || (c >= '0' && c <= '9'))
}
