package quota

import (
	"fmt"
	"net/http"
	"net/textproto"
)

// Check refuses a report's headers (name to value, as the API report body
// carries them) that exceed the bounds: more than MaxHeaders, a name longer
// than MaxNameBytes, a value longer than MaxValueBytes, or a known header
// given twice under names that differ only in case. The error wraps
// ErrBadHeaders and names the problem; it names a header only when it is
// one this package reads, and never quotes a value.
func Check(m map[string]string) error {
	if len(m) > MaxHeaders {
		return fmt.Errorf("quota: %d headers, at most %d: %w", len(m), MaxHeaders, ErrBadHeaders)
	}
	seen := make(map[string]bool, len(m))
	for name, v := range m {
		if len(name) > MaxNameBytes {
			return fmt.Errorf("quota: a header name is %d bytes, at most %d: %w", len(name), MaxNameBytes, ErrBadHeaders)
		}
		kn, ok := classify(name)
		if len(v) > MaxValueBytes {
			if ok {
				return fmt.Errorf("quota: header %s: value is %d bytes, at most %d: %w", kn.lowerName(), len(v), MaxValueBytes, ErrBadHeaders)
			}
			return fmt.Errorf("quota: an unread header's value is %d bytes, at most %d: %w", len(v), MaxValueBytes, ErrBadHeaders)
		}
		if ok {
			if seen[kn.lowerName()] {
				return fmt.Errorf("quota: header %s given twice (names are case-insensitive): %w", kn.lowerName(), ErrBadHeaders)
			}
			seen[kn.lowerName()] = true
		}
	}
	return nil
}

// HeaderFrom builds the http.Header that Parse reads from a report's
// name-to-value map. It copies only the headers Parse reads, so whatever
// else a careless client sent (request headers, an Authorization) is not
// even copied. Of a known header given under names that differ only in
// case (Check refuses those) the name that sorts first wins, so the result
// does not depend on map order.
func HeaderFrom(m map[string]string) http.Header {
	h := make(http.Header)
	from := make(map[string]string) // canonical name -> the name it came from
	for name, v := range m {
		kn, ok := classify(name)
		if !ok {
			continue
		}
		key := textproto.CanonicalMIMEHeaderKey(kn.lowerName())
		if prev, dup := from[key]; dup && prev < name {
			continue
		}
		from[key] = name
		h[key] = []string{v}
	}
	return h
}

// Headers keeps, of a provider's response headers, those this package
// reads, as the name-to-value map a report carries (lower-case names, the
// first value of each). A client sends only these: the daemon would ignore
// the rest, and they might carry something private.
func Headers(h http.Header) map[string]string {
	var out map[string]string
	for name, values := range h {
		kn, ok := classify(name)
		if !ok || len(values) == 0 || len(values[0]) > MaxValueBytes {
			continue
		}
		if out == nil {
			out = make(map[string]string, 8)
		}
		out[kn.lowerName()] = values[0]
	}
	return out
}
