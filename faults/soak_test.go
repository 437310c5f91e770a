package faults

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/internal/daemontest"
)

// TestFourWritersSoak runs four Hermes-style writer processes that add,
// remove and re-token entries while agents select (counted) and report
// some credentials revoked, which the daemon marks DEAD and writes. After
// a SIGTERM (which flushes), the file must hold: every entry the writers
// left, with the writers' last token; nothing they removed; every DEAD mark
// whose entry still carries the token it was made about; and request counts
// equal to the selections made. The soak lasts the 30 s
// (FAULTS_SOAK_SECONDS; 8 with -short). It runs beside TestLockHeldLong,
// which mostly waits.
func TestFourWritersSoak(t *testing.T) {
	needPython(t)
	t.Parallel()
	secs := knob(t, "FAULTS_SOAK_SECONDS", 30, 8)
	d := daemontest.Start(t, daemontest.Options{Fixture: baseFixture(t), Args: baseArgs})
	counts0 := requestCounts(t, daemontest.ReadDoc(t, d.AuthFile), countPool)

	ld := startLoad(d.Client, 3, 0.15, true)
	var writers []*pyProc
	var logs []string
	for w := range 4 {
		p, log := hermesWriter(t, d.AuthFile, w, "--seconds", strconv.Itoa(secs), "--sleep-ms", "20")
		writers = append(writers, p)
		logs = append(logs, log)
	}
	for _, p := range writers {
		p.Wait(time.Duration(secs+20) * time.Second)
	}
	ld.stop()
	require.NoError(t, d.Stop(), "SIGTERM flushes and exits 0")

	doc := daemontest.ReadDoc(t, d.AuthFile)
	ops := readOps(t, logs...)
	checkDoc(t, doc, ops, 0)

	tokens := poolTokens(t, doc, churnPool)
	kept := 0
	for _, m := range ld.dead {
		if tok, ok := tokens[m.id]; ok && tok == m.token {
			kept++
			assert.Equal(t, "dead", entryField(doc, churnPool, m.id, "last_status"),
				"entry %s was marked DEAD for the token it still has; the mark is lost", m.id)
		}
	}
	counts := requestCounts(t, doc, countPool)
	for id, n := range ld.counted {
		assert.Equal(t, counts0[id]+n, counts[id], "request_count of %s/%s: selections lost or double-counted", countPool, id)
	}
	t.Logf("%ds soak: %d writer operations, %d churn selects, %d DEAD marks (%d still on the token they were about), %d counted selects",
		secs, len(ops), ld.selects, len(ld.dead), kept, sum(ld.counted))
	assert.NotEmpty(t, ld.dead, "the load made no DEAD marks; the test checked nothing")
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
