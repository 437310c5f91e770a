package apitype_test

// These tests keep docs/API.md true: they read it, and the code that
// decides the API (the wire types here, socketapi's routes, request
// decoders and metrics, the gateway's metrics, pool's event kinds, the
// events the daemon publishes, the limits), and fail naming what one says
// and the other does not. The doc's tables and examples are found by the
// HTML comments before them (<!-- wire: Entry -->, <!-- example: Entry -->,
// <!-- errors -->, ...).

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"io"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/daemon"
	"github.com/credpool/credpool/paths"
	"github.com/credpool/credpool/pool"
	"github.com/credpool/credpool/quota"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

const docPath = "../docs/API.md"

// wireTypes are the types whose JSON the doc documents. A new exported
// struct with JSON fields in apitype must be added here (TestAPIDocWireTypes
// says so).
var wireTypes = []any{
	apitype.Health{}, apitype.Problem{}, apitype.Pools{}, apitype.Pool{}, apitype.Entry{}, apitype.QuotaWindow{},
	apitype.SelectRequest{}, apitype.SelectResponse{}, apitype.Credential{}, apitype.Lease{},
	apitype.ReportRequest{}, apitype.ReportResponse{}, apitype.Marked{}, apitype.Persistence{},
	apitype.AddRequest{}, apitype.AddResponse{}, apitype.RemoveResponse{},
	apitype.ResetRequest{}, apitype.ResetResponse{}, apitype.RepairResponse{},
	apitype.Event{}, apitype.ErrorBody{}, apitype.ErrorDetail{}, apitype.NoneAvailableBody{},
}

func wireType(name string) (reflect.Type, bool) {
	for _, v := range wireTypes {
		if t := reflect.TypeOf(v); t.Name() == name {
			return t, true
		}
	}
	return nil, false
}

func TestAPIDocWireTypes(t *testing.T) {
	doc := readDoc(t)
	declared := structTags(t, parseDir(t, "."), func(string) bool { return true })
	for name := range declared {
		if _, ok := wireType(name); ast.IsExported(name) && !ok {
			t.Errorf("apitype.%s has JSON fields but doc_test.go does not know it: add it to wireTypes and document it in docs/API.md under <!-- wire: %s -->", name, name)
		}
	}
	for _, v := range wireTypes {
		typ := reflect.TypeOf(v)
		rows, ok := doc.table("wire: " + typ.Name())
		if !ok {
			t.Errorf("apitype.%s is not in docs/API.md: no <!-- wire: %s --> table", typ.Name(), typ.Name())
			continue
		}
		documented := map[string]string{}
		for _, r := range rows {
			documented[fieldName(r[0])] = r[1]
		}
		request := strings.HasSuffix(typ.Name(), "Request")
		for _, f := range jsonFields(typ) {
			cell, ok := documented[f.name]
			if !ok {
				t.Errorf("field %s of type %s is not in docs/API.md", f.name, typ.Name())
				continue
			}
			delete(documented, f.name)
			for _, problem := range kindProblems(f, cell, request) {
				t.Errorf("field %s of type %s: %s (docs/API.md says %q)", f.name, typ.Name(), problem, cell)
			}
		}
		for name := range documented {
			t.Errorf("docs/API.md documents field %s of type %s, which has no such JSON field", name, typ.Name())
		}
	}
}

// TestAPIDocRequestDecoders: socketapi decodes some requests through its own
// structs (to see which fields were sent); they must read the fields the
// apitype request has, which is what the doc documents.
func TestAPIDocRequestDecoders(t *testing.T) {
	decoders := structTags(t, parseDir(t, "../unix-socket-api"), func(n string) bool { return strings.HasSuffix(n, "Wire") })
	require.NotEmpty(t, decoders, "found no *Wire decoder structs in unix-socket-api; update this test's reading of it")
	for name, fields := range decoders {
		req := strings.ToUpper(name[:1]) + strings.TrimSuffix(name[1:], "Wire") + "Request"
		typ, ok := wireType(req)
		if !ok {
			t.Errorf("socketapi's decoder %s has no counterpart apitype.%s that docs/API.md documents", name, req)
			continue
		}
		var want []string
		for _, f := range jsonFields(typ) {
			want = append(want, f.name)
		}
		if !sameSet(want, fields) {
			t.Errorf("socketapi's %s decodes %v, but apitype.%s (which docs/API.md documents) has %v", name, fields, req, want)
		}
	}
}

func TestAPIDocExamples(t *testing.T) {
	doc := readDoc(t)
	examples := doc.examples()
	require.NotEmpty(t, examples, "docs/API.md has no <!-- example: T --> blocks")
	events := eventTypes(t)
	for name, blocks := range examples {
		typ, ok := wireType(name)
		if !ok {
			t.Errorf("docs/API.md has an example of %s, which is not a wire type", name)
			continue
		}
		for i, block := range blocks {
			strict := json.NewDecoder(strings.NewReader(block))
			strict.DisallowUnknownFields()
			loose := json.NewDecoder(strings.NewReader(block))
			for n := 1; ; n++ {
				v := reflect.New(typ).Interface()
				err := strict.Decode(v)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Errorf("example %d of %s, value %d, does not decode: %v", i+1, name, n, err)
					break
				}
				var raw any
				require.NoError(t, loose.Decode(&raw))
				if !strings.HasSuffix(name, "Request") {
					for _, miss := range missingFields(typ, raw, name) {
						t.Errorf("example %d of %s, value %d, leaves out %s, which every answer has", i+1, name, n, miss)
					}
				}
				for _, problem := range exampleProblems(v, events) {
					t.Errorf("example %d of %s, value %d: %s", i+1, name, n, problem)
				}
			}
		}
	}
}

// exampleProblems checks what decoding cannot: that codes and event types
// exist.
func exampleProblems(v any, events []string) []string {
	code := ""
	switch x := v.(type) {
	case *apitype.ErrorBody:
		code = x.Error.Code
	case *apitype.NoneAvailableBody:
		code = x.Error.Code
	case *apitype.Event:
		if !slices.Contains(events, x.Type) {
			return []string{fmt.Sprintf("event type %q is not one the code sends", x.Type)}
		}
	}
	if code != "" && !slices.Contains(apitype.Codes(), code) {
		return []string{fmt.Sprintf("error code %q is not in apitype.Codes()", code)}
	}
	return nil
}

func TestAPIDocRoutes(t *testing.T) {
	doc := readDoc(t)
	var code []string
	ast.Inspect(parseFile(t, "../unix-socket-api/routes.go"), func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok || len(lit.Elts) != 3 {
			return true
		}
		method, ok1 := selector(lit.Elts[0], "http")
		path, ok2 := stringLit(lit.Elts[1])
		if ok1 && ok2 && strings.HasPrefix(method, "Method") {
			code = append(code, strings.ToUpper(strings.TrimPrefix(method, "Method"))+" "+path)
		}
		return true
	})
	require.NotEmpty(t, code, "found no routes in unix-socket-api/routes.go; update this test's reading of it")

	heading := regexp.MustCompile("^### `([A-Z]+ /\\S*)`$")
	var sections []string
	for _, l := range doc.lines {
		if m := heading.FindStringSubmatch(l); m != nil {
			sections = append(sections, m[1])
		}
	}
	rows, ok := doc.table("routes")
	require.True(t, ok, "docs/API.md has no <!-- routes --> table")
	var listed []string
	for _, r := range rows {
		listed = append(listed, fieldName(r[0]))
	}
	for what, got := range map[string][]string{"### section": sections, "row in the routes table": listed} {
		for _, r := range code {
			if !slices.Contains(got, r) {
				t.Errorf("route %s (unix-socket-api/routes.go) has no %s of docs/API.md", r, what)
			}
		}
		for _, r := range got {
			if !slices.Contains(code, r) {
				t.Errorf("docs/API.md has a %s for %s, which unix-socket-api/routes.go does not serve", what, r)
			}
		}
	}
}

func TestAPIDocErrors(t *testing.T) {
	doc := readDoc(t)
	rows, ok := doc.table("errors")
	require.True(t, ok, "docs/API.md has no <!-- errors --> table")
	documented := map[string]string{}
	for _, r := range rows {
		documented[fieldName(r[0])] = r[1]
	}
	for _, code := range apitype.Codes() {
		status, ok := documented[code]
		if !ok {
			t.Errorf("error code %s is not in the error table of docs/API.md", code)
		} else if want := strconv.Itoa(apitype.StatusOf(code)); status != want {
			t.Errorf("error code %s is HTTP %s, but docs/API.md says %s", code, want, status)
		}
	}
	for code := range documented {
		if !slices.Contains(apitype.Codes(), code) {
			t.Errorf("docs/API.md's error table lists %s, which is not an error code (apitype.Codes())", code)
		}
	}
	// "Errors: `a` (why), `b`." paragraphs name codes outside parentheses.
	paren := regexp.MustCompile(`\([^)]*\)`)
	for _, p := range doc.paragraphs("Errors:") {
		for _, code := range backticked(paren.ReplaceAllString(p, "")) {
			if !slices.Contains(apitype.Codes(), code) {
				t.Errorf("docs/API.md names error code %s, which is not one (apitype.Codes()), in %q", code, p)
			}
		}
	}
}

func TestAPIDocEvents(t *testing.T) {
	doc := readDoc(t)
	rows, ok := doc.table("events")
	require.True(t, ok, "docs/API.md has no <!-- events --> table")
	var eventFields []string
	for _, f := range jsonFields(reflect.TypeOf(apitype.Event{})) {
		eventFields = append(eventFields, f.name)
	}
	var documented []string
	for _, r := range rows {
		documented = append(documented, fieldName(r[0]))
		for _, f := range backticked(r[1]) {
			if !slices.Contains(eventFields, f) {
				t.Errorf("docs/API.md says event %s sets %s, which is not a field of apitype.Event", r[0], f)
			}
		}
	}
	sent := eventTypes(t)
	for _, typ := range sent {
		if !slices.Contains(documented, typ) {
			t.Errorf("event type %s is not in the events table of docs/API.md", typ)
		}
	}
	for _, typ := range documented {
		if !slices.Contains(sent, typ) {
			t.Errorf("docs/API.md lists event type %s, which the code never sends", typ)
		}
	}
}

func TestAPIDocMetrics(t *testing.T) {
	doc := readDoc(t)
	rows, ok := doc.table("metrics")
	require.True(t, ok, "docs/API.md has no <!-- metrics --> table")
	// The daemon's /metrics serves the socket API's metrics and the
	// gateway's (registered through ServerOptions.Collectors).
	sources := []string{"../unix-socket-api/metrics.go", "../gateway/metrics.go"}
	code := map[string]metric{}
	for _, src := range sources {
		found := metricsOf(t, parseFile(t, src))
		require.NotEmpty(t, found, "found no metrics in %s; update this test's reading of it", src)
		for name, m := range found {
			_, dup := code[name]
			require.False(t, dup, "metric %s is defined twice", name)
			code[name] = m
		}
	}
	seen := map[string]bool{}
	for _, r := range rows {
		name := fieldName(r[0])
		seen[name] = true
		m, ok := code[name]
		if !ok {
			t.Errorf("docs/API.md lists metric %s, which none of %v defines", name, sources)
			continue
		}
		if m.kind != r[1] {
			t.Errorf("metric %s is a %s, but docs/API.md says %s", name, m.kind, r[1])
		}
		if got := backticked(r[2]); !sameSet(m.labels, got) {
			t.Errorf("metric %s has labels %v, but docs/API.md says %v", name, m.labels, got)
		}
	}
	for name := range code {
		if !seen[name] {
			t.Errorf("metric %s is not in the metrics table of docs/API.md", name)
		}
	}
}

func TestAPIDocLimits(t *testing.T) {
	doc := readDoc(t)
	rows, ok := doc.table("limits")
	require.True(t, ok, "docs/API.md has no <!-- limits --> table")
	known := map[string]float64{
		"socketapi.MaxBodyBytes":      socketapi.MaxBodyBytes,
		"apitype.MaxWaitMS":           apitype.MaxWaitMS,
		"quota.MaxHeaders":            quota.MaxHeaders,
		"quota.MaxNameBytes":          quota.MaxNameBytes,
		"quota.MaxValueBytes":         quota.MaxValueBytes,
		"pool.MaxProviderLen":         pool.MaxProviderLen,
		"pool.MaxLabelRunes":          pool.MaxLabelRunes,
		"pool.MaxTokenBytes":          pool.MaxTokenBytes,
		"pool.MaxSafeInt":             pool.MaxSafeInt,
		"daemon.DefaultAnswerTimeout": daemon.DefaultAnswerTimeout.Seconds(),
		"socketapi.DefaultDialRetry":  socketapi.DefaultDialRetry.Seconds(),
		// The server's timeouts are defaults of ServerOptions.
		"socketapi.DefaultReadHeaderTimeout": socketapi.DefaultReadHeaderTimeout.Seconds(),
		"socketapi.DefaultReadTimeout":       socketapi.DefaultReadTimeout.Seconds(),
		"socketapi.DefaultIdleTimeout":       socketapi.DefaultIdleTimeout.Seconds(),
		"socketapi.DefaultShutdownGrace":     socketapi.DefaultShutdownGrace.Seconds(),
	}
	// Unexported limits are read from their source: name, directory.
	for name, dir := range map[string]string{
		"socketapi.maxExclude": "../unix-socket-api", "socketapi.maxIDRunes": "../unix-socket-api",
		"socketapi.maxModel": "../unix-socket-api", "socketapi.maxHeaderBytes": "../unix-socket-api",
		"socketapi.maxEchoedName": "../unix-socket-api", "socketapi.eventWriteTimeout": "../unix-socket-api",
		"pool.maxMessageRunes": "../pool", "pool.maxQuotedRunes": "../pool", "daemon.followerBuffer": "../daemon",
	} {
		known[name] = constOf(t, parseDir(t, dir), strings.SplitN(name, ".", 2)[1])
	}
	number := regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)
	seen := map[string]bool{}
	for _, r := range rows {
		names := backticked(r[2])
		require.Len(t, names, 1, "limits row %q must name one constant", r[0])
		want, ok := known[names[0]]
		if !ok {
			t.Errorf("docs/API.md's limit %q names %s, which this test does not know: add it to TestAPIDocLimits", r[0], names[0])
			continue
		}
		seen[names[0]] = true
		var found []float64
		for _, n := range number.FindAllString(r[1], -1) {
			f, _ := strconv.ParseFloat(n, 64)
			found = append(found, f)
		}
		if !slices.Contains(found, want) {
			t.Errorf("limit %q is %v (%s), but docs/API.md says %q", r[0], want, names[0], r[1])
		}
	}
	for name := range known {
		if !seen[name] {
			t.Errorf("limit %s is not in the limits table of docs/API.md", name)
		}
	}
}

func TestAPIDocSocketPath(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("the doc gives the Linux and macOS rules")
	}
	doc := readDoc(t)
	if !strings.Contains(doc.text, "`"+paths.SocketEnv+"`") {
		t.Errorf("docs/API.md does not name the socket's environment variable %s", paths.SocketEnv)
	}
	// Variables set to "/$NAME" make the default come back spelled as the
	// doc spells it; unsetting the first choices shows the fallbacks.
	uid := fmt.Sprintf("credpool-%d", os.Getuid())
	for _, unset := range [][]string{nil, {"XDG_RUNTIME_DIR"}, {"XDG_RUNTIME_DIR", "HOME"}, {"TMPDIR"}} {
		p := paths.Socket(func(k string) string {
			if slices.Contains(unset, k) {
				return ""
			}
			return "/$" + k
		})
		p = strings.Replace(p, uid, "credpool-<uid>", 1)
		if strings.HasPrefix(p, "/$") {
			p = p[1:]
		}
		if !strings.Contains(doc.text, "`"+p+"`") {
			t.Errorf("docs/API.md does not give the default socket path %s (with %v unset)", p, unset)
		}
	}
}
