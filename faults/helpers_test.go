package faults

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// churnPool is the provider key the Python writers churn; the fixture has
// no such pool, so everything in it belongs to the writers.
const churnPool = "faults"

// countPool is a fixture pool no writer touches: selections on it are
// counted to check that batched request counts survive concurrent writers.
const countPool = "openrouter"

// tokenPrefix starts every fake token of these tests (testdata's writers
// make theirs the same way): its marker lets daemontest.Start's check of
// each daemon's stderr, and the checks of the answers' texts, find a leak
// of any of them.
const tokenPrefix = "sk-faults-" + daemontest.SecretMark + "-"

// churnToken is the token of a churn entry as the fixture (and
// hermes_writer.py's add) first gives it.
func churnToken(id string) string { return tokenPrefix + id + "-t0" }

// baseFixture is daemontest.Fixture with every token replaced by a marked
// fake named for the one it replaces, so that every call gives the same
// tokens.
func baseFixture(t testing.TB) []byte {
	t.Helper()
	doc := decode(t, daemontest.Fixture)
	daemontest.MarkSecrets(doc, func(field, old string) string {
		sum := sha256.Sum256([]byte(old))
		return tokenPrefix + "fixture-" + field + "-" + hex.EncodeToString(sum[:6])
	})
	return encode(t, doc)
}

// fixtureIDs are the ids of every entry of baseFixture.
var fixtureIDs = []string{"a1b2c3", "d4e5f6", "abc123", "9f8e7d", "77aa11", "c0ffee"}

// baseArgs keep the fixture stable: its manual DEAD entry would otherwise be
// pruned at start, which is right but would look like a lost entry here.
var baseArgs = []string{"--prune-dead-after", "0", "--strategy", churnPool + "=round_robin"}

// knob is an integer setting from the environment; def is the issue's
// value, short the one for go test -short.
func knob(t testing.TB, name string, def, short int) int {
	t.Helper()
	if testing.Short() {
		def = short
	}
	return envInt(t, name, def)
}

func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "%s must be an integer", name)
	return n
}

func scriptPath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", name)
}

func needPython(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found: the fault tests need a real Hermes-style writer process")
	}
}

// pyTimeout bounds a wait for a line from a Python helper. It is generous:
// CI machines may be loaded, and a timeout here only ends a stuck test.
const pyTimeout = 20 * time.Second

// pyProc is a Python helper process with line-based stdin and stdout.
type pyProc = daemontest.Proc

func startPython(t testing.TB, script string, args ...string) *pyProc {
	t.Helper()
	needPython(t)
	return daemontest.StartProc(t, nil, append([]string{"python3", scriptPath(script)}, args...)...)
}

// writerOp is one line of hermes_writer.py's log.
type writerOp struct {
	Op         string   `json:"op"`
	Seq        int      `json:"seq"`
	Writer     int      `json:"writer"`
	ID         string   `json:"id"`
	Token      string   `json:"token"`
	Missing    []string `json:"missing"`
	Extra      []string `json:"extra"`
	Duplicates []string `json:"duplicates"`
}

// hermesWriter starts hermes_writer.py on d's auth.json; its log is returned.
func hermesWriter(t testing.TB, authFile string, writer int, extra ...string) (*pyProc, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("writer%d.jsonl", writer))
	args := append([]string{"--auth", authFile, "--log", logPath, "--writer", strconv.Itoa(writer),
		"--seed", strconv.Itoa(1000 + writer)}, extra...)
	return startPython(t, "hermes_writer.py", args...), logPath
}

func readOps(t testing.TB, logs ...string) []writerOp {
	t.Helper()
	var ops []writerOp
	for _, path := range logs {
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		for _, line := range bytes.Split(raw, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var op writerOp
			require.NoError(t, json.Unmarshal(line, &op), "writer log line %q", line)
			ops = append(ops, op)
		}
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Seq < ops[j].Seq })
	return ops
}

// replay applies the writers' logged operations in lock order (seq) and
// returns the ids they left in the churn pool with each one's last token.
// It fails the test on writer-side violations and on a seq seen twice or
// skipped: each operation ran under the lock and read the seq from the
// file, so a gap or a repeat means a daemon wrote an old snapshot over a
// writer's change.
func replay(t testing.TB, ops []writerOp, seq0 int) map[string]string {
	t.Helper()
	present := map[string]string{}
	next := seq0 + 1
	for _, op := range ops {
		switch op.Op {
		case "violation":
			t.Errorf("writer %d read a pool that disagrees with its own log at seq %d: missing %v, extra %v, duplicated %v",
				op.Writer, op.Seq, op.Missing, op.Extra, op.Duplicates)
			continue
		case "read_error":
			t.Errorf("writer %d could not parse auth.json", op.Writer)
			continue
		}
		if op.Seq != next {
			t.Errorf("writer op seq %d, want %d: an operation was rolled back or repeated", op.Seq, next)
		}
		next = op.Seq + 1
		switch op.Op {
		case "add", "retoken":
			present[op.ID] = op.Token
		case "remove":
			delete(present, op.ID)
		}
	}
	return present
}

// poolTokens maps the ids of a pool on disk to their access tokens and
// fails on a duplicated id.
func poolTokens(t testing.TB, doc map[string]any, provider string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range daemontest.Entries(doc, provider) {
		m, _ := e.(map[string]any)
		id, _ := m["id"].(string)
		if _, dup := out[id]; dup {
			t.Errorf("entry %s/%s is on disk twice", provider, id)
		}
		tok, _ := m["access_token"].(string)
		out[id] = tok
	}
	return out
}

// checkDoc checks a decoded auth.json against the writers' log: no id twice
// in any pool, every fixture entry present, the churn pool exactly what the
// writers left (same ids, same tokens), and the writers' bookkeeping keys
// kept.
func checkDoc(t testing.TB, doc map[string]any, ops []writerOp, seq0 int) {
	t.Helper()
	pools, _ := doc["credential_pool"].(map[string]any)
	all := map[string]string{}
	for provider := range pools {
		for id := range poolTokens(t, doc, provider) {
			if other, dup := all[id]; dup {
				t.Errorf("id %s is in both %s and %s", id, other, provider)
			}
			all[id] = provider
		}
	}
	for _, id := range fixtureIDs {
		if _, ok := all[id]; !ok {
			t.Errorf("fixture entry %s is gone", id)
		}
	}
	want := replay(t, ops, seq0)
	got := poolTokens(t, doc, churnPool)
	for id, tok := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("entry %s added by a writer is lost", id)
		case g != tok:
			t.Errorf("entry %s carries an old token (want the writer's last one)", id)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("entry %s is on disk though the writers removed it (or never added it)", id)
		}
	}
	wantSeq := seq0
	if n := len(ops); n > 0 {
		wantSeq = ops[n-1].Seq
	}
	if s, _ := doc["x_faults_seq"].(json.Number); s.String() != strconv.Itoa(wantSeq) && !(wantSeq == 0 && s == "") {
		t.Errorf("x_faults_seq on disk is %q, want %d: an unknown top-level key was rolled back", s, wantSeq)
	}
}

// withAuthLock runs fn while this process holds auth.lock, so that neither
// the daemon nor a Hermes-style writer changes the file meanwhile.
func withAuthLock(t testing.TB, authFile string, fn func()) {
	t.Helper()
	_, release := daemontest.HoldLock(t, authFile)
	defer release()
	fn()
}

// hermesReplace writes content as auth.json the way Hermes does, under the
// lock, through a temp file and a rename.
func hermesReplace(t testing.TB, authFile string, content []byte) {
	t.Helper()
	withAuthLock(t, authFile, func() {
		tmp := filepath.Join(filepath.Dir(authFile), ".auth.json.test-tmp")
		require.NoError(t, os.WriteFile(tmp, content, 0o600))
		require.NoError(t, os.Rename(tmp, authFile))
	})
}

func decode(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	require.NoError(t, dec.Decode(&doc))
	return doc
}

func encode(t testing.TB, doc map[string]any) []byte {
	t.Helper()
	out, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	return out
}

// fixtureWith is baseFixture plus a churn pool of n available API keys
// (ids e00000, e00001, ...), with the writers' bookkeeping set to match.
func fixtureWith(t testing.TB, n int) []byte {
	t.Helper()
	doc := decode(t, baseFixture(t))
	var entries []any
	var ids []any
	for i := range n {
		id := fmt.Sprintf("e%05x", i)
		ids = append(ids, id)
		entries = append(entries, map[string]any{
			"id": id, "label": "churn-" + id, "auth_type": "api_key", "priority": i,
			"source": "manual", "access_token": churnToken(id),
			"last_status": nil, "last_status_at": nil, "last_error_code": nil,
			"last_error_reason": nil, "last_error_message": nil, "last_error_reset_at": nil,
			"request_count": 0,
		})
	}
	if n > 0 {
		doc["credential_pool"].(map[string]any)[churnPool] = entries
		doc["x_faults_expected"] = ids
	}
	return encode(t, doc)
}

// entryField reads one field of an entry on disk as a string ("" if absent
// or null).
func entryField(doc map[string]any, provider, id, field string) string {
	e := daemontest.Entry(doc, provider, id)
	if e == nil || e[field] == nil {
		return ""
	}
	return fmt.Sprint(e[field])
}

// requestCounts reads request_count of every entry of a pool on disk.
func requestCounts(t testing.TB, doc map[string]any, provider string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range daemontest.Entries(doc, provider) {
		m, _ := e.(map[string]any)
		n, _ := m["request_count"].(json.Number).Int64()
		out[m["id"].(string)] = int(n)
	}
	return out
}

// deadMark is a 401 token_invalidated that the daemon answered with DEAD,
// with the token the client had been given for that entry.
type deadMark struct{ id, token string }

// load is a set of agent goroutines: they select from the churn pool and
// report some selections as revoked (401 token_invalidated), and select
// from countPool, counting what they were given.
type load struct {
	client   *socketapi.Client
	deadFrac float64
	// count, when set, makes every worker also select from countPool.
	count bool

	mu      sync.Mutex
	dead    []deadMark
	counted map[string]int
	selects int
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func startLoad(c *socketapi.Client, workers int, deadFrac float64, count bool) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{client: c, deadFrac: deadFrac, count: count, counted: map[string]int{}, cancel: cancel}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.work(ctx, rand.New(rand.NewPCG(uint64(w), 42)))
		}()
	}
	return l
}

func (l *load) work(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil {
		sel, err := l.client.Select(ctx, churnPool, apitype.SelectRequest{})
		if err == nil {
			l.mu.Lock()
			l.selects++
			l.mu.Unlock()
			if rng.Float64() < l.deadFrac {
				rep, err := l.client.Report(ctx, churnPool, apitype.ReportRequest{
					CredentialID: sel.Credential.ID, StatusCode: 401, Reason: "token_invalidated",
					Message: "Your authentication token has been invalidated."})
				if err == nil && rep.Marked != nil && rep.Marked.Status == string(pool.StatusDead) {
					l.mu.Lock()
					l.dead = append(l.dead, deadMark{sel.Credential.ID, sel.Credential.AccessToken})
					l.mu.Unlock()
				}
			}
		} else {
			// 503 or 404 while the writers have not added anything yet.
			sleepCtx(ctx, 2*time.Millisecond)
		}
		if l.count {
			// Not cancelled with the load: a select the daemon counted
			// must also be counted here.
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			sel, err := l.client.Select(cctx, countPool, apitype.SelectRequest{})
			cancel()
			if err == nil {
				l.mu.Lock()
				l.counted[sel.Credential.ID]++
				l.mu.Unlock()
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// stop ends the load and waits for its goroutines.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}
