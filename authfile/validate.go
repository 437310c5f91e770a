package authfile

// validateCount checks that data is exactly one JSON value (RFC 8259, with
// surrounding whitespace), as encoding/json.Valid does, and says where it
// stops being one: the offset of the first bad byte, or len(data) when the
// data ends too early (a truncated file). It exists because it is several
// times faster than encoding/json's scanner, which was most of the time spent
// parsing a large auth.json. It also counts the objects held by arrays that
// are members of members of the top-level object (the entries of
// credential_pool, and a few others at most), so that Parse can size its
// entry arrays instead of growing them.
func validateCount(data []byte) (off int, ok bool, entries int) {
	const (
		stValue = iota // a value is expected
		stKey          // an object key is expected
		stAfter        // a value just ended
	)
	var stack []byte // '{' or '[' for each open container
	n := len(data)
	i := skipWS(data, 0)
	state := stValue
	for {
		if i >= n {
			if state == stAfter && len(stack) == 0 {
				return n, true, entries
			}
			return n, false, entries
		}
		switch state {
		case stValue:
			switch c := data[i]; {
			case c == '{' || c == '[':
				if len(stack) >= maxDepth {
					return i, false, entries
				}
				if c == '{' && len(stack) == 3 && stack[2] == '[' && stack[1] == '{' && stack[0] == '{' {
					entries++
				}
				close := byte('}')
				if c == '[' {
					close = ']'
				}
				i = skipWS(data, i+1)
				if i < n && data[i] == close {
					i++
					state = stAfter
					continue
				}
				stack = append(stack, c)
				if c == '{' {
					state = stKey
				}
				continue
			case c == '"':
				if i = validString(data, i); i < 0 {
					return -i - 1, false, entries
				}
			case c == 't':
				if i = literal(data, i, "true"); i < 0 {
					return -i - 1, false, entries
				}
			case c == 'f':
				if i = literal(data, i, "false"); i < 0 {
					return -i - 1, false, entries
				}
			case c == 'n':
				if i = literal(data, i, "null"); i < 0 {
					return -i - 1, false, entries
				}
			case c == '-' || (c >= '0' && c <= '9'):
				if i = validNumber(data, i); i < 0 {
					return -i - 1, false, entries
				}
			default:
				return i, false, entries
			}
			state = stAfter
		case stKey:
			if data[i] != '"' {
				return i, false, entries
			}
			if i = validString(data, i); i < 0 {
				return -i - 1, false, entries
			}
			if i = skipWS(data, i); i >= n {
				return n, false, entries
			}
			if data[i] != ':' {
				return i, false, entries
			}
			i = skipWS(data, i+1)
			state = stValue
		case stAfter:
			i = skipWS(data, i)
			if len(stack) == 0 {
				if i < n {
					return i, false, entries
				}
				return n, true, entries
			}
			if i >= n {
				return n, false, entries
			}
			top := stack[len(stack)-1]
			switch c := data[i]; {
			case c == ',':
				i = skipWS(data, i+1)
				state = stValue
				if top == '{' {
					state = stKey
				}
			case (c == '}' && top == '{') || (c == ']' && top == '['):
				stack = stack[:len(stack)-1]
				i++
			default:
				return i, false, entries
			}
		}
	}
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// plainInString marks the bytes a string may hold without further checks.
var plainInString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// validString returns the index past the string at data[i], or -(bad+1).
// Like encoding/json it accepts any bytes >= 0x20, valid UTF-8 or not.
func validString(data []byte, i int) int {
	n := len(data)
	for i++; i < n; i++ {
		c := data[i]
		if plainInString[c] {
			continue
		}
		switch c {
		case '"':
			return i + 1
		case '\\':
			i++
			if i >= n {
				return -n - 1
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for k := 0; k < 4; k++ {
					i++
					if i >= n {
						return -n - 1
					}
					if !isHex(data[i]) {
						return -i - 1
					}
				}
			default:
				return -i - 1
			}
		default: // a control character
			return -i - 1
		}
	}
	return -n - 1
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func literal(data []byte, i int, word string) int {
	for k := 0; k < len(word); k++ {
		if i+k >= len(data) {
			return -len(data) - 1
		}
		if data[i+k] != word[k] {
			return -(i + k) - 1
		}
	}
	return i + len(word)
}

// validNumber returns the index past the number at data[i], or -(bad+1):
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(data []byte, i int) int {
	n := len(data)
	digits := func(i int) (int, bool) {
		s := i
		for i < n && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		return i, i > s
	}
	if data[i] == '-' {
		i++
	}
	if i >= n {
		return -n - 1
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i, _ = digits(i)
	default:
		return -i - 1
	}
	if i < n && data[i] == '.' {
		var ok bool
		if i, ok = digits(i + 1); !ok {
			return -min(i, n) - 1
		}
	}
	if i < n && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < n && (data[i] == '+' || data[i] == '-') {
			i++
		}
		var ok bool
		if i, ok = digits(i); !ok {
			return -min(i, n) - 1
		}
	}
	return i
}
