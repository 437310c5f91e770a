package apitype_test

// Reading docs/API.md, and the JSON that a Go type is, for doc_test.go.

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type apiDoc struct {
	text  string
	lines []string
}

func readDoc(t *testing.T) apiDoc {
	t.Helper()
	b, err := os.ReadFile(docPath)
	require.NoError(t, err, "the API reference must exist")
	return apiDoc{text: string(b), lines: strings.Split(string(b), "\n")}
}

// after is the index of the line after "<!-- marker -->" lines, in order.
func (d apiDoc) after(marker string) []int {
	var out []int
	for i, l := range d.lines {
		if strings.TrimSpace(l) == "<!-- "+marker+" -->" {
			out = append(out, i+1)
		}
	}
	return out
}

// table is the body rows, as trimmed cells, of the table after the marker.
func (d apiDoc) table(marker string) ([][]string, bool) {
	at := d.after(marker)
	if len(at) != 1 {
		return nil, false
	}
	var rows [][]string
	for i := at[0]; i < len(d.lines) && strings.HasPrefix(d.lines[i], "|"); i++ {
		if i < at[0]+2 { // header and separator
			continue
		}
		cells := strings.Split(strings.Trim(d.lines[i], "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, cells)
	}
	return rows, len(rows) > 0
}

// examples are the fenced blocks after "<!-- example: T -->", by T.
func (d apiDoc) examples() map[string][]string {
	out := map[string][]string{}
	for i, l := range d.lines {
		name, ok := strings.CutPrefix(strings.TrimSpace(l), "<!-- example: ")
		if !ok || i+1 >= len(d.lines) || !strings.HasPrefix(d.lines[i+1], "```") {
			continue
		}
		name = strings.TrimSuffix(name, " -->")
		var block []string
		for j := i + 2; j < len(d.lines) && !strings.HasPrefix(d.lines[j], "```"); j++ {
			block = append(block, d.lines[j])
		}
		out[name] = append(out[name], strings.Join(block, "\n"))
	}
	return out
}

// paragraphs are the rests of the paragraphs from a line that begins with
// prefix, joined into one line.
func (d apiDoc) paragraphs(prefix string) []string {
	var out []string
	for _, p := range strings.Split(d.text, "\n\n") {
		p = "\n" + p
		if i := strings.Index(p, "\n"+prefix); i >= 0 {
			out = append(out, strings.ReplaceAll(p[i+1:], "\n", " "))
		}
	}
	return out
}

var backtick = regexp.MustCompile("`([^`]+)`")

func backticked(s string) []string {
	var out []string
	for _, m := range backtick.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// fieldName is a first cell's `name`, or the cell when it has no backticks.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func fieldName(cell string) string {
	if n := backticked(cell); len(n) == 1 {
		return n[0]
	}
	return cell
}

// ---- the JSON of a Go type ----

type jsonField struct {
	name      string
	typ       reflect.Type
	omitempty bool
}

// jsonFields lists t's fields as encoding/json writes them, embedded
// structs flattened.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
			continue
		case f.Anonymous && name == "":
			out = append(out, jsonFields(f.Type)...)
			continue
		case name == "":
			name = f.Name
		}
		out = append(out, jsonField{name, f.Type, slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	return out
}

var marshaler = reflect.TypeFor[json.Marshaler]()

// kindProblems compares a field with the doc's type cell: the JSON kind,
// and for answers whether it can be null and whether it can be left out.
func kindProblems(f jsonField, cell string, request bool) []string {
	var out []string
	base := f.typ
	if base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	var kinds []string
	switch {
	case base.Implements(marshaler):
		kinds = []string{"number", "string"} // FlexString
	case base.Kind() == reflect.String:
		kinds = []string{"string"}
	case base.Kind() == reflect.Bool:
		kinds = []string{"boolean"}
	case base.Kind() >= reflect.Int && base.Kind() <= reflect.Float64:
		kinds = []string{"number"}
	case base.Kind() == reflect.Struct || base.Kind() == reflect.Map:
		kinds = []string{"object"}
	case base.Kind() == reflect.Slice:
		kinds = []string{"array"}
	}
	for _, k := range kinds {
		if !strings.Contains(cell, k) {
			out = append(out, "its JSON kind is "+k)
		}
	}
	if request {
		return out
	}
	says := func(w string) bool { return strings.Contains(cell, w) }
	k := f.typ.Kind()
	switch {
	case f.omitempty && !says("omitted"):
		out = append(out, `it is omitted when empty; say "omitted"`)
	case !f.omitempty && says("omitted"):
		out = append(out, `it is always sent, never omitted`)
	}
	switch {
	case k == reflect.Pointer && !f.omitempty && !says("null"):
		out = append(out, `it can be null; say "null"`)
	case (f.omitempty || k != reflect.Pointer && k != reflect.Slice && k != reflect.Map) && says("null"):
		out = append(out, "it is never null")
	}
	return out
}

// missingFields lists the fields (as paths) an example value leaves out
// that an answer always carries.
func missingFields(t reflect.Type, v any, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		obj, _ := v.(map[string]any)
		for _, f := range jsonFields(t) {
			fv, ok := obj[f.name]
			if !ok && !f.omitempty && obj != nil {
				out = append(out, path+"."+f.name)
			}
			if ok && fv != nil {
				out = append(out, missingFields(f.typ, fv, path+"."+f.name)...)
			}
		}
	case reflect.Slice:
		list, _ := v.([]any)
		for i, e := range list {
			out = append(out, missingFields(t.Elem(), e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}
