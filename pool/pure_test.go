package pool

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPureLogic guards DESIGN §5: pool does no I/O, starts no goroutine and
// reads the clock only through Config.Now. Of the project it imports only
// pure leaf packages (epoch, quota, redact).
func TestPureLogic(t *testing.T) {
	allowed := map[string]bool{"cmp": true, "crypto/sha256": true, "encoding/hex": true, "encoding/json": true,
		"errors": true, "fmt": true, "iter": true, "maps": true, "math": true, "math/rand/v2": true, "net/url": true, "regexp": true,
		"slices": true, "strconv": true, "strings": true, "time": true, "unicode": true, "unicode/utf8": true,
		"github.com/credpool/credpool/epoch": true, "github.com/credpool/credpool/quota": true,
		"github.com/credpool/credpool/redact": true, "github.com/credpool/credpool/tokeninfo": true}
	files, err := os.ReadDir(".")
	require.NoError(t, err)
	nowCalls := 0
	for _, f := range files {
		name := f.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		ast, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			assert.True(t, allowed[path], "%s imports %s", name, path)
		}
		assert.NotContains(t, string(src), "go func", name)
		assert.NotContains(t, string(src), "time.Now(", name)
		nowCalls += strings.Count(string(src), "= time.Now")
	}
	assert.Equal(t, 1, nowCalls, "time.Now only as the default of Config.Now")
}
