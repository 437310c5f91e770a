package apitype_test

// Reading the Go sources that decide the API, for doc_test.go.

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func parseFile(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	require.NoError(t, err)
	return f
}

// parseDir parses the non-test Go files of one directory.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	var out []*ast.File
	for _, n := range names {
		if !strings.HasSuffix(n, "_test.go") {
			out = append(out, parseFile(t, n))
		}
	}
	require.NotEmpty(t, out, "no Go files in %s", dir)
	return out
}

// structTags maps each struct type (whose name keep admits) that has JSON
// tags to its JSON field names.
func structTags(t *testing.T, files []*ast.File, keep func(string) bool) map[string][]string {
	out := map[string][]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok || !keep(ts.Name.Name) {
				return false
			}
			for _, fl := range st.Fields.List {
				if fl.Tag == nil {
					continue
				}
				tag, err := strconv.Unquote(fl.Tag.Value)
				require.NoError(t, err)
				if name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ","); name != "" && name != "-" {
					out[ts.Name.Name] = append(out[ts.Name.Name], name)
				}
			}
			return false
		})
	}
	return out
}

func selector(e ast.Expr, pkg string) (string, bool) {
	s, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	x, ok := s.X.(*ast.Ident)
	return s.Sel.Name, ok && x.Name == pkg
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// eventTypes are the event types the code can send: pool's ChangeKind
// constants and the literal types of apitype.Event values anywhere in the
// module.
func eventTypes(t *testing.T) []string {
	var out []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		ast.Inspect(parseFile(t, path), func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				if id, ok := n.Type.(*ast.Ident); ok && id.Name == "ChangeKind" {
					for _, v := range n.Values {
						if s, ok := stringLit(v); ok {
							out = append(out, s)
						}
					}
				}
			case *ast.CompositeLit:
				if name, ok := selector(n.Type, "apitype"); ok && name == "Event" {
					for _, e := range n.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok && fmt.Sprint(kv.Key) == "Type" {
							if s, ok := stringLit(kv.Value); ok {
								out = append(out, s)
							}
						}
					}
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, out, "found no event types in the code; update this test's reading of it")
	slices.Sort(out)
	return slices.Compact(out)
}

type metric struct {
	kind   string
	labels []string
}

// metricsOf reads the credpool_* metrics a file defines: collectors made
// with prometheus.New*(Opts{Name: ...}, labels) and descriptors made with
// prometheus.NewDesc, typed where MustNewConstMetric uses them.
func metricsOf(t *testing.T, f *ast.File) map[string]metric {
	out := map[string]metric{}
	descs := map[string]string{} // variable -> metric name
	labelsOf := func(e ast.Expr) []string {
		var ls []string
		if lit, ok := e.(*ast.CompositeLit); ok {
			for _, el := range lit.Elts {
				s, _ := stringLit(el)
				ls = append(ls, s)
			}
		}
		return ls
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, v := range n.Values {
				if call, ok := v.(*ast.CallExpr); ok && len(call.Args) == 4 {
					if fn, ok := selector(call.Fun, "prometheus"); ok && fn == "NewDesc" {
						name, _ := stringLit(call.Args[0])
						descs[n.Names[i].Name] = name
						out[name] = metric{labels: labelsOf(call.Args[2])}
					}
				}
			}
		case *ast.CallExpr:
			fn, ok := selector(n.Fun, "prometheus")
			switch {
			case !ok:
			case fn == "MustNewConstMetric" && len(n.Args) > 1:
				id, _ := n.Args[0].(*ast.Ident)
				vt, _ := selector(n.Args[1], "prometheus")
				if name, ok := descs[fmt.Sprint(id)]; ok {
					m := out[name]
					m.kind = strings.ToLower(strings.TrimSuffix(vt, "Value"))
					out[name] = m
				}
			case strings.HasPrefix(fn, "New") && len(n.Args) > 0:
				opts, ok := n.Args[0].(*ast.CompositeLit)
				if !ok {
					break
				}
				for _, e := range opts.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok && fmt.Sprint(kv.Key) == "Name" {
						name, _ := stringLit(kv.Value)
						m := metric{kind: strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(fn, "New"), "Vec"))}
						if len(n.Args) > 1 {
							m.labels = labelsOf(n.Args[1])
						}
						out[name] = m
					}
				}
			}
		}
		return true
	})
	for name, m := range out {
		require.NotEmpty(t, m.kind, "metric %s: its type could not be read from the source; update this test", name)
	}
	return out
}

// constOf evaluates the constant name declared in files: integers, shifts,
// products, and time.Duration units (then in seconds).
func constOf(t *testing.T, files []*ast.File, name string) float64 {
	t.Helper()
	units := map[string]time.Duration{"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute, "Hour": time.Hour}
	duration := false
	var eval func(e ast.Expr) constant.Value
	eval = func(e ast.Expr) constant.Value {
		switch e := e.(type) {
		case *ast.BasicLit:
			return constant.MakeFromLiteral(e.Value, e.Kind, 0)
		case *ast.ParenExpr:
			return eval(e.X)
		case *ast.SelectorExpr:
			if u, ok := selector(e, "time"); ok && units[u] != 0 {
				duration = true
				return constant.MakeInt64(int64(units[u]))
			}
		case *ast.BinaryExpr:
			x, y := eval(e.X), eval(e.Y)
			if e.Op == token.SHL {
				n, _ := constant.Uint64Val(y)
				return constant.Shift(x, e.Op, uint(n))
			}
			return constant.BinaryOp(x, e.Op, y)
		}
		return constant.MakeUnknown()
	}
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if n.Name != name || i >= len(vs.Values) {
						continue
					}
					v, ok := constant.Float64Val(eval(vs.Values[i]))
					require.True(t, ok, "constant %s: cannot evaluate %s", name, types.ExprString(vs.Values[i]))
					if duration {
						v /= float64(time.Second)
					}
					return v
				}
			}
		}
	}
	t.Fatalf("constant %s not found", name)
	return 0
}
