package gateway

import (
	"bytes"
	"encoding/json"
)

// modelScan is how much of a body is read to find its model: "model" comes
// first in what every SDK sends, and a body can be 32 MiB of context.
const modelScan = 1 << 20

// modelOf is the top-level "model" string of a JSON object body, looked for
// in its first MiB; "" for no body, a body that is not JSON, or no model
// there.
func modelOf(body []byte) string {
	if len(body) > modelScan {
		body = body[:modelScan]
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		if key == "model" {
			var m string
			if dec.Decode(&m) != nil {
				return ""
			}
			return m
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	return ""
}
