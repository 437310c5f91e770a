package socketapi

import (
	"context"
	"testing"

	"github.com/credpool/credpool/apitype"
)

// BenchmarkSelectRoundTrip is one client's select over the real socket with
// an instant backend: the API's own cost (HTTP, JSON, peer check once per
// connection, metrics).
func BenchmarkSelectRoundTrip(b *testing.B) {
	ts := startServer(b, newFake(), ServerOptions{Logger: discardLogger()})
	c := NewClient(ts.path)
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Select(ctx, "openrouter", apitype.SelectRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSelectParallel is many clients' selects at once (GOMAXPROCS × 16
// goroutines sharing a client's connection pool): throughput.
func BenchmarkSelectParallel(b *testing.B) {
	ts := startServer(b, newFake(), ServerOptions{Logger: discardLogger()})
	c := NewClient(ts.path)
	defer c.Close()
	ctx := context.Background()
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Select(ctx, "openrouter", apitype.SelectRequest{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
