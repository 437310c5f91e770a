package faults

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/credpool/credpool/apitype"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/daemon"
	"github.com/credpool/credpool/internal/daemontest"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// otherContent is a different auth.json: the fixture's other pools are gone,
// 77aa11 is kept with a new label, and a new pool appears.
func otherContent(t *testing.T, label string) []byte {
	t.Helper()
	doc := decode(t, baseFixture(t))
	keep := daemontest.Entry(doc, countPool, "77aa11")
	keep["label"] = label
	doc["credential_pool"] = map[string]any{
		countPool: []any{keep},
		"newprov": []any{map[string]any{
			"id": "0a0a0a", "label": "new-key", "auth_type": "api_key", "priority": 0,
			"source": "manual", "access_token": tokenPrefix + "newprov-0a0a0a", "request_count": 0,
		}},
	}
	return encode(t, doc)
}

var otherIDs = map[string][]string{countPool: {"77aa11"}, "newprov": {"0a0a0a"}}

func currentIDs(t *testing.T, c *socketapi.Client) map[string][]string {
	t.Helper()
	views, err := c.Pools(context.Background())
	require.NoError(t, err)
	return poolIDs(views)
}

func label(t *testing.T, c *socketapi.Client, provider, id string) string {
	t.Helper()
	v, err := c.Pool(context.Background(), provider)
	if err != nil {
		return ""
	}
	for _, e := range v.Entries {
		if e.ID == id {
			return e.Label
		}
	}
	return ""
}

// servesFromMemory checks that the daemon still answers with the state it
// had: same pools and entries, and a select works.
func servesFromMemory(t *testing.T, d *daemontest.Daemon, want map[string][]string) {
	t.Helper()
	assert.Equal(t, want, currentIDs(t, d.Client), "the daemon dropped its last good state")
	_, err := d.Client.Select(context.Background(), countPool, apitype.SelectRequest{})
	assert.NoError(t, err, "select from the last good state")
}

// report429 reports a 429 and returns the answer. The answer waits for the
// write up to the daemon's answer timeout (2 s), so the client allows more.
func report429(t *testing.T, c *socketapi.Client, provider, id string) apitype.ReportResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rep, err := c.Report(ctx, provider, apitype.ReportRequest{CredentialID: id, StatusCode: 429, Reason: "rate_limit_exceeded"})
	require.NoError(t, err, "report 429 on %s/%s", provider, id)
	daemontest.NoSecret(t, "a report's persist_error", rep.PersistError)
	require.NotNil(t, rep.Marked)
	assert.EqualValues(t, pool.StatusExhausted, rep.Marked.Status)
	return rep
}

func onDisk(t *testing.T, path, provider, id, field, want string) func() bool {
	return func() bool {
		raw, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		return entryField(decode(t, raw), provider, id, field) == want
	}
}

// TestAuthFileDeletedThenRecreated: while auth.json is missing the daemon
// serves its last good state, says degraded, and does not re-create the
// file from memory (that could undo whoever is replacing it); once a new
// file appears it adopts that content. The file is deleted under auth.lock
// (an unlocked delete may lose the race with a write in flight, which then
// rightly re-creates the file), and a 429 is reported at once, so that the
// daemon's write of it meets the missing file before the watcher's reload
// does.
func TestAuthFileDeletedThenRecreated(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Fixture: baseFixture(t), Args: baseArgs})
	base := currentIDs(t, d.Client)

	withAuthLock(t, d.AuthFile, func() {
		require.NoError(t, os.Remove(d.AuthFile))
		report429(t, d.Client, countPool, "77aa11")
	})
	_, ok := waitHealth(d.Client, "degraded", 5*time.Second)
	assert.True(t, ok, "health while auth.json is missing")
	servesFromMemory(t, d, base)
	// A few ticks (100 ms each) to give a wrong re-creation its chance.
	time.Sleep(400 * time.Millisecond)
	_, err := os.Lstat(d.AuthFile)
	assert.ErrorIs(t, err, os.ErrNotExist, "the daemon re-created auth.json from memory while it was missing")
	servesFromMemory(t, d, base)

	hermesReplace(t, d.AuthFile, otherContent(t, "recreated"))
	daemontest.Eventually(t, "the re-created file's content", func() bool {
		return mapsEqual(currentIDs(t, d.Client), otherIDs) && label(t, d.Client, countPool, "77aa11") == "recreated"
	})
	_, ok = waitHealth(d.Client, "ok", 5*time.Second)
	assert.True(t, ok, "health after the file is back")
}

// TestAuthDirRemovedAndRecreated removes the whole auth directory and makes
// it again with a new auth.json at once (the racy case: the file may exist
// before the daemon watches the new directory). The daemon serves from
// memory meanwhile, adopts the new file, keeps watching (a later change is
// seen) and writes into the new directory. With a 1-minute tick the parent
// directory watch alone must bring the watch back; with 100 ms the ticker's
// safety net may do it.
func TestAuthDirRemovedAndRecreated(t *testing.T) {
	for _, tick := range []string{"100ms", "1m"} {
		t.Run("tick="+tick, func(t *testing.T) {
			d := daemontest.Start(t, daemontest.Options{Fixture: baseFixture(t), Args: baseArgs, Tick: tick})
			base := currentIDs(t, d.Client)
			dir := filepath.Dir(d.AuthFile)

			// Let the start-up write finish (it holds the lock), then remove
			// the directory and report at once: the daemon's write of the 429
			// meets the missing directory.
			withAuthLock(t, d.AuthFile, func() {})
			require.NoError(t, os.RemoveAll(dir))
			report429(t, d.Client, countPool, "77aa11")
			_, ok := waitHealth(d.Client, "degraded", 5*time.Second)
			assert.True(t, ok, "health while the auth directory is gone")
			servesFromMemory(t, d, base)

			require.NoError(t, os.MkdirAll(dir, 0o700))
			hermesReplace(t, d.AuthFile, otherContent(t, "new-dir"))
			daemontest.Eventually(t, "the new directory's auth.json", func() bool {
				return mapsEqual(currentIDs(t, d.Client), otherIDs)
			})
			hermesReplace(t, d.AuthFile, otherContent(t, "watched-again"))
			daemontest.Eventually(t, "a later change in the new directory", func() bool {
				return label(t, d.Client, countPool, "77aa11") == "watched-again"
			})
			report429(t, d.Client, "newprov", "0a0a0a")
			daemontest.Eventually(t, "the daemon's write in the new directory",
				onDisk(t, d.AuthFile, "newprov", "0a0a0a", "last_status", "exhausted"))
			_, ok = waitHealth(d.Client, "ok", 5*time.Second)
			assert.True(t, ok, "health after the directory is back")
		})
	}
}

// TestAuthFileReplacedBySymlink swaps auth.json (atomically) for a symlink
// to a file in another directory. The daemon reads through it, writes to
// the target (the link stays a link), and sees the target change.
func TestAuthFileReplacedBySymlink(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Fixture: baseFixture(t), Args: baseArgs})
	elsewhere := filepath.Join(d.Dir, "elsewhere")
	require.NoError(t, os.Mkdir(elsewhere, 0o700))
	target := filepath.Join(elsewhere, "real-auth.json")
	require.NoError(t, os.WriteFile(target, otherContent(t, "via-symlink"), 0o600))

	// Under the lock: a daemon write in flight would otherwise rename its
	// temp file over the fresh link, as any unlocked writer's change can be.
	withAuthLock(t, d.AuthFile, func() {
		link := filepath.Join(filepath.Dir(d.AuthFile), ".auth.json.link-tmp")
		require.NoError(t, os.Symlink(target, link))
		require.NoError(t, os.Rename(link, d.AuthFile))
	})
	daemontest.Eventually(t, "the symlink target's content", func() bool {
		return mapsEqual(currentIDs(t, d.Client), otherIDs) && label(t, d.Client, countPool, "77aa11") == "via-symlink"
	})

	report429(t, d.Client, countPool, "77aa11")
	daemontest.Eventually(t, "the daemon's write in the target", onDisk(t, target, countPool, "77aa11", "last_status", "exhausted"))
	fi, err := os.Lstat(d.AuthFile)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode()&os.ModeSymlink, "auth.json is no longer a symlink after a daemon write")
	dest, err := os.Readlink(d.AuthFile)
	require.NoError(t, err)
	assert.Equal(t, target, dest)
	fi, err = os.Stat(target)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "target mode")

	// Hermes replaces the target (under the lock beside the link, the one
	// both take): only the target's directory sees an event, so the daemon
	// must notice by re-stat.
	withAuthLock(t, d.AuthFile, func() {
		doc := daemontest.ReadDoc(t, target)
		daemontest.Entry(doc, countPool, "77aa11")["label"] = "target-changed"
		tmp := filepath.Join(elsewhere, ".tmp")
		require.NoError(t, os.WriteFile(tmp, encode(t, doc), 0o600))
		require.NoError(t, os.Rename(tmp, target))
	})
	daemontest.Eventually(t, "a change of the target", func() bool {
		return label(t, d.Client, countPool, "77aa11") == "target-changed"
	})
	fi, err = os.Lstat(d.AuthFile)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode()&os.ModeSymlink)
}

// TestLockHeldLong: another process holds auth.lock just past the
// daemon's answer timeout (daemon.DefaultAnswerTimeout, 2 s;
// FAULTS_LOCK_HOLD_SECONDS asks for longer). The daemon's writer never
// waits for the lock: it tries it and, while it is busy, tries again with
// backoff, so the 429's answer comes at the answer timeout, with
// "persisted": false and the holder named. Meanwhile selects and the
// report are answered from memory (each returns while the lock is still
// held: it is freed only after the last one), the file is not touched, and
// a Hermes writer queues for the lock. Once the lock frees, the holder's
// own change, the queued writer's, the daemon's 429 and its request counts
// are all on disk.
func TestLockHeldLong(t *testing.T) {
	needPython(t)
	t.Parallel()
	hold := daemon.DefaultAnswerTimeout + time.Second
	if s := envInt(t, "FAULTS_LOCK_HOLD_SECONDS", 0); s > 0 {
		hold = time.Duration(s) * time.Second
	}
	require.Greater(t, hold, daemon.DefaultAnswerTimeout, "FAULTS_LOCK_HOLD_SECONDS: the lock must stay held past the answer timeout")
	d := daemontest.Start(t, daemontest.Options{Fixture: fixtureWith(t, 2), Args: baseArgs})
	counts0 := requestCounts(t, daemontest.ReadDoc(t, d.AuthFile), countPool)

	holder, holderLog := hermesWriter(t, d.AuthFile, 8, "--hold", "--ops", "1", "--only", "add")
	require.Equal(t, "locked", holder.Expect(pyTimeout))
	held := time.Now()
	before, err := os.ReadFile(d.AuthFile)
	require.NoError(t, err)

	rep := report429(t, d.Client, churnPool, "e00000")
	assert.False(t, rep.Persisted, "the lock is held: the answer says the mark is not on disk yet")
	assert.Contains(t, rep.PersistError, "holds "+filepath.Join(filepath.Dir(d.AuthFile), "auth.lock"))
	queued, queuedLog := hermesWriter(t, d.AuthFile, 9, "--ops", "1", "--only", "add")

	counted := map[string]int{}
	var slowest time.Duration
	n := 0
	for time.Since(held) < hold {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		t0 := time.Now()
		sel, err := d.Client.Select(ctx, countPool, apitype.SelectRequest{})
		cancel()
		require.NoError(t, err, "select %d while auth.lock is held: not answered from memory", n)
		counted[sel.Credential.ID]++
		slowest = max(slowest, time.Since(t0))
		n++
		time.Sleep(5 * time.Millisecond)
	}
	v, err := d.Client.Pool(context.Background(), churnPool)
	require.NoError(t, err)
	for _, e := range v.Entries {
		if e.ID == "e00000" {
			assert.EqualValues(t, pool.StatusExhausted, e.Status, "the 429 is in memory during the hold")
		}
	}
	during, err := os.ReadFile(d.AuthFile)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(during), "auth.json changed while another process held auth.lock")
	t.Logf("%d selects answered during a %s hold, slowest %s", n, hold, slowest)

	holder.Send("go")
	holder.Wait(10 * time.Second)
	queued.Wait(30 * time.Second)
	daemontest.Eventually(t, "the daemon's 429 written after the lock freed",
		onDisk(t, d.AuthFile, churnPool, "e00000", "last_status", "exhausted"))
	require.NoError(t, d.Stop())

	doc := daemontest.ReadDoc(t, d.AuthFile)
	ops := readOps(t, holderLog, queuedLog)
	require.Len(t, ops, 2, "one add by the holder, one by the queued writer")
	present := replay(t, ops, 0)
	for _, id := range []string{"e00000", "e00001"} {
		present[id] = churnToken(id)
	}
	got := poolTokens(t, doc, churnPool)
	assert.Equal(t, present, got, "churn pool after the lock freed")
	assert.Equal(t, "exhausted", entryField(doc, churnPool, "e00000", "last_status"))
	counts := requestCounts(t, doc, countPool)
	for id, c := range counted {
		assert.Equal(t, counts0[id]+c, counts[id], "request_count of %s: selections made during the hold", id)
	}
	assert.Equal(t, strconv.Itoa(2), string(doc["x_faults_seq"].(interface{ String() string }).String()))
}
