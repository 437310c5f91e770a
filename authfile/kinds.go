package authfile

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/pool"
)

// The kinds of the field table. Each reads what Hermes and the other
// writers put on disk, and writes what Hermes writes: numbers as JSON
// numbers, times as Python's float repr, and the zero value of a nullable
// field as null.

// Decode errors. They name what was expected, never what was found: the
// value may be a secret in the wrong member.
var (
	errNotString  = errors.New("not a string")
	errNotInteger = errors.New("not an integer")
	errBigInteger = errors.New("an integer beyond ±2^53")
	errNotNumber  = errors.New("not a number")
	errNotTime    = errors.New("not a time (epoch seconds or milliseconds, or ISO-8601, from 1970 to 9999)")
	errNotTimeMap = errors.New("not an object of names to times")
)

// text is a string; with null, "" is written as null.
type text struct {
	at   func(*pool.Entry) *string
	null bool
}

func (k text) decode(d *entryDecoder, raw []byte) error {
	s, err := str(raw)
	if err != nil {
		return err
	}
	*k.at(d.e) = d.sa.copy(s)
	return nil
}

func (k text) same(a, b *pool.Entry) bool { return *k.at(a) == *k.at(b) }
func (k text) zero(e *pool.Entry) bool    { return *k.at(e) == "" }
func (k text) ptr(e *pool.Entry) any      { return k.at(e) }

func (k text) render(b []byte, e *pool.Entry, _ *record, _ []byte) []byte {
	s := *k.at(e)
	if k.null && s == "" {
		return append(b, "null"...)
	}
	return appendQuoted(b, s)
}

// integer is an integral number (or a numeric string, as some writers put
// an HTTP code); with null, 0 is written as null. Beyond ±2^53 a float64
// (and JavaScript) no longer holds every integer, so such a value is not
// read.
type integer struct {
	at   func(*pool.Entry) *int
	null bool
}

func (k integer) decode(d *entryDecoder, raw []byte) error {
	s, err := numberText(raw)
	if err != nil {
		return err
	}
	if s == "" {
		*k.at(d.e) = 0
		return nil
	}
	// Integers are read as integers: as a float64, 2^53+1 would pass for
	// 2^53.
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return errBigInteger
		}
		f, err := parseNumber(s)
		if err != nil {
			return err
		}
		if f != math.Trunc(f) {
			return errNotInteger
		}
		if math.Abs(f) > 1<<53 {
			return errBigInteger
		}
		n = int64(f)
	}
	if n > 1<<53 || n < -(1<<53) {
		return errBigInteger
	}
	*k.at(d.e) = int(n)
	return nil
}

func (k integer) same(a, b *pool.Entry) bool { return *k.at(a) == *k.at(b) }
func (k integer) zero(e *pool.Entry) bool    { return *k.at(e) == 0 }
func (k integer) ptr(e *pool.Entry) any      { return k.at(e) }

func (k integer) render(b []byte, e *pool.Entry, _ *record, _ []byte) []byte {
	n := *k.at(e)
	if k.null && n == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(n), 10)
}

// epochTime is a time in epoch seconds, read in every form package epoch
// knows; 0 (no time) is written as null.
type epochTime struct {
	at func(*pool.Entry) *float64
}

func (k epochTime) decode(d *entryDecoder, raw []byte) error {
	sec, _, err := readEpoch(raw)
	if err != nil {
		return err
	}
	*k.at(d.e) = sec
	return nil
}

func (k epochTime) same(a, b *pool.Entry) bool { return *k.at(a) == *k.at(b) }
func (k epochTime) zero(e *pool.Entry) bool    { return *k.at(e) == 0 }
func (k epochTime) ptr(e *pool.Entry) any      { return k.at(e) }

func (k epochTime) render(b []byte, e *pool.Entry, _ *record, _ []byte) []byte {
	t := *k.at(e)
	if t == 0 {
		return append(b, "null"...)
	}
	return appendFloat(b, t)
}

// expiry is Entry.ExpiresAt, held by expires_at (ISO text as Hermes
// writes it, or epoch seconds or milliseconds from other writers) or by
// expires_at_ms (ms). A changed expiry is written in the form its member
// had, so that the tool that wrote it can still read it.
type expiry struct {
	ms bool // the expires_at_ms member
}

func (k expiry) decode(d *entryDecoder, raw []byte) error {
	if k.ms {
		v, err := number(raw)
		if err != nil {
			return errNotTime
		}
		if v == 0 {
			d.expMS = 0
			return nil
		}
		// Milliseconds by name, whatever their size: never read twice as
		// milliseconds by FromNumber's rule.
		if sec := v / 1000; sec > 0 && sec <= epoch.Max {
			if sec, err = epoch.FromNumber(sec); err == nil {
				d.expMS = sec
				return nil
			}
		}
		return errNotTime
	}
	sec, millis, err := readEpoch(raw)
	if err != nil {
		return err
	}
	d.expAt, d.rec.expAtMillis = sec, millis
	return nil
}

func (k expiry) same(a, b *pool.Entry) bool { return a.ExpiresAt == b.ExpiresAt }
func (k expiry) zero(e *pool.Entry) bool    { return e.ExpiresAt == 0 }
func (k expiry) ptr(e *pool.Entry) any      { return &e.ExpiresAt }

func (k expiry) render(b []byte, e *pool.Entry, rec *record, raw []byte) []byte {
	sec := e.ExpiresAt
	switch {
	case sec == 0 || math.IsNaN(sec) || math.IsInf(sec, 0):
		return append(b, "null"...)
	case k.ms || (rec != nil && rec.expAtMillis):
		return strconv.AppendInt(b, int64(math.Round(sec*1000)), 10)
	case raw != nil && raw[0] != 'n' && raw[0] != '"':
		return strconv.AppendFloat(b, sec, 'f', -1, 64)
	}
	return appendQuoted(b, epoch.ISO(sec))
}

// epochMap is {name: epoch time}, as Hermes keeps per-model cooldowns.
// Every value must be a time; a map with one that is not is unreadable as
// a whole (and so kept as written). A changed map keeps the on-disk order
// of the names it still holds and adds new ones sorted.
type epochMap struct {
	at func(*pool.Entry) *map[string]float64
}

func (k epochMap) decode(d *entryDecoder, raw []byte) error {
	switch raw[0] {
	case 'n':
		*k.at(d.e) = nil
		return nil
	case '{':
	default:
		return errNotTimeMap
	}
	var a arena
	spans, _ := a.object(raw, 0, nil)
	if len(spans) == 0 {
		*k.at(d.e) = nil
		return nil
	}
	m := make(map[string]float64, len(spans))
	for _, sp := range spans {
		sec, _, err := readEpoch(sp.val(raw))
		if err != nil || sec == 0 {
			return errNotTimeMap
		}
		m[d.sa.copy(sp.key(raw))] = sec
	}
	*k.at(d.e) = m
	return nil
}

func (k epochMap) same(a, b *pool.Entry) bool { return maps.Equal(*k.at(a), *k.at(b)) }
func (k epochMap) zero(e *pool.Entry) bool    { return len(*k.at(e)) == 0 }
func (k epochMap) ptr(e *pool.Entry) any      { return k.at(e) }

func (k epochMap) render(b []byte, e *pool.Entry, _ *record, raw []byte) []byte {
	m := *k.at(e)
	if len(m) == 0 {
		return append(b, "{}"...)
	}
	keys := make([]string, 0, len(m))
	if raw != nil && raw[0] == '{' {
		var a arena
		spans, _ := a.object(raw, 0, nil)
		for _, sp := range spans {
			if key := sp.key(raw); hasKey(m, key) {
				keys = append(keys, key)
			}
		}
	}
	onDisk := len(keys)
	for key := range m {
		if !slices.Contains(keys[:onDisk], key) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys[onDisk:])
	b = append(b, '{')
	for i, key := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '\n')
		b = append(b, prefixes[entryDepth+1]...)
		b = appendQuoted(b, key)
		b = append(b, ": "...)
		b = appendFloat(b, m[key])
	}
	b = append(b, '\n')
	b = append(b, prefixes[entryDepth]...)
	return append(b, '}')
}

func hasKey(m map[string]float64, k string) bool { _, ok := m[k]; return ok }

// str reads a string or null ("").
func str(raw []byte) (string, error) {
	switch raw[0] {
	case 'n':
		return "", nil
	case '"':
		return decodeString(raw)
	}
	return "", errNotString
}

// number reads a number, a numeric string, or null; null and a blank
// string are 0.
func number(raw []byte) (float64, error) {
	s, err := numberText(raw)
	if err != nil {
		return 0, err
	}
	return parseNumber(s)
}

// numberText is the text of a number or numeric string, trimmed; "" for
// null or a blank string.
func numberText(raw []byte) (string, error) {
	switch raw[0] {
	case 'n':
		return "", nil
	case '"':
		s, err := decodeString(raw)
		if err != nil {
			return "", errNotNumber
		}
		return strings.TrimSpace(s), nil
	case 't', 'f', '{', '[':
		return "", errNotNumber
	}
	return view(raw), nil
}

func parseNumber(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errNotNumber
	}
	return f, nil
}

// readEpoch reads a time with package epoch: a number (seconds, or
// milliseconds above epoch.MillisFrom, which it reports), a numeric string
// read the same way, or ISO-8601 text. Null, 0 and a blank string are no
// time (0).
func readEpoch(raw []byte) (sec float64, millis bool, err error) {
	if raw[0] == '"' {
		s, err := decodeString(raw)
		if err != nil {
			return 0, false, errNotTime
		}
		if s = strings.TrimSpace(s); s == "" {
			return 0, false, nil
		}
		// A numeric string is read below as a number is, to tell
		// milliseconds; anything else is a date (epoch.IsNumber is the
		// shape Parse itself goes by).
		if !epoch.IsNumber(s) {
			if sec, err = epoch.Parse(s); err != nil {
				return 0, false, errNotTime
			}
			return sec, false, nil
		}
	}
	v, err := number(raw)
	if err != nil {
		return 0, false, errNotTime
	}
	if v == 0 {
		return 0, false, nil
	}
	if sec, err = epoch.FromNumber(v); err != nil {
		return 0, false, errNotTime
	}
	return sec, v > epoch.MillisFrom, nil
}
