package extlogin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// The latency from a tool's write to Watcher.OnChange, with the default
// Debounce, reported as p50/p99/max in milliseconds. Writes are 2×Debounce
// apart (outside the measured time), as a re-login or a refresh is: a
// write within Debounce of the last read is folded into a read at the end
// of that window, which is the burst folding, not the latency of a login.
// Run many writes for a meaningful p99:
//
//	go test -run '^$' -bench WriteToOnChange -benchtime 2000x ./extlogin/
func BenchmarkWriteToOnChange(b *testing.B) {
	b.Run("rename (Claude Code, Qwen Code, codex 0.171)", func(b *testing.B) {
		benchLatency(b, SourceClaude, func(path string, data []byte) time.Time {
			tmp := path + ".tmp.bench"
			if err := os.WriteFile(tmp, data, 0o600); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now() // the write is the rename
			if err := os.Rename(tmp, path); err != nil {
				b.Fatal(err)
			}
			return t0
		}, func(tok string) []byte { return claudeFile(tok, "rt-SECRET", 1893456000000) })
	})
	b.Run("in place (Gemini CLI, older Codex CLIs)", func(b *testing.B) {
		benchLatency(b, SourceGemini, func(path string, data []byte) time.Time {
			t0 := time.Now() // the write starts with the truncate
			if err := os.WriteFile(path, data, 0o600); err != nil {
				b.Fatal(err)
			}
			return t0
		}, func(tok string) []byte { return geminiFile(tok, "1//SECRET", 1893456000000, "") })
	})
}

func benchLatency(b *testing.B, source string, write func(path string, data []byte) time.Time, content func(tok string) []byte) {
	src := sourceNamed(b, homeSources(b.TempDir()), source)
	if err := os.MkdirAll(filepath.Dir(src.Path), 0o700); err != nil {
		b.Fatal(err)
	}
	var want atomic.Pointer[string]
	arrived := make(chan time.Time, 1)
	w := &Watcher{Sources: []Source{src}, OnChange: func(u Update) {
		if p := want.Load(); p != nil && u.Err == nil && u.Login.AccessToken == *p {
			arrived <- time.Now()
		}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		time.Sleep(2 * DefaultDebounce)
		b.StartTimer()
		tok := fmt.Sprintf("tok-SECRET-%d", i)
		want.Store(&tok)
		data := content(tok)
		t0 := write(src.Path, data)
		select {
		case t1 := <-arrived:
			lat = append(lat, t1.Sub(t0))

		case <-time.After(5 * time.Second):
			b.Fatalf("write %d never reached OnChange", i)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
}
