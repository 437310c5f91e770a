package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	gt "github.com/credpool/credpool/gateway/gatewaytest"
)

// benchBackend is a pool of one good key that remembers nothing: the
// benchmarks measure the gateway, not a pool.
type benchBackend struct{ cred Credential }

func (b benchBackend) Select(context.Context, string, string, []string) (Credential, error) {
	return b.cred, nil
}
func (benchBackend) Report(context.Context, string, Report) {}

// benchPair is the same fake upstream reached directly and through the
// gateway, with one keep-alive client for both.
type benchPair struct {
	client         *http.Client
	direct, viaGW  string // chat completions URLs
	key, token     string
	body, streamed string
}

func newBenchPair(b *testing.B) *benchPair {
	b.Helper()
	up := gt.NewUpstream(b, map[string]gt.Behaviour{openaiKey(1): gt.OK})
	up.StopRecording()
	s, err := New(Config{Addr: "127.0.0.1:0", Token: gwToken, Upstreams: map[string]string{"openai": up.URL + "/v1"},
		// Formatted and thrown away: the cost of the log line stays in.
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		benchBackend{Credential{ID: "k1", AccessToken: openaiKey(1)}})
	if err != nil {
		b.Fatal(err)
	}
	addr, err := s.Listen()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	return &benchPair{
		client: &http.Client{Transport: tr},
		direct: up.URL + "/v1/chat/completions", viaGW: "http://" + addr.String() + "/openai/chat/completions",
		key: openaiKey(1), token: gwToken, body: chatBody, streamed: chatStreamBody,
	}
}

// do sends one request and returns the time to the first event (or the
// first body byte) and to the end of the body.
func (p *benchPair) do(b *testing.B, viaGateway, stream bool) (first, total time.Duration) {
	url, key, body := p.direct, p.key, p.body
	if viaGateway {
		url, key = p.viaGW, p.token
	}
	if stream {
		body = p.streamed
	}
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if stream {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				b.Fatalf("stream ended before an event: %v", err)
			}
			if strings.HasPrefix(line, "data: ") {
				break
			}
		}
	} else if _, err := br.Peek(1); err != nil {
		b.Fatal(err)
	}
	first = time.Since(start)
	if _, err := io.Copy(io.Discard, br); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
	return first, time.Since(start)
}

func percentile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// reportLatency reports p50 and p99 of direct and gateway, and the
// gateway's extra (the difference of the percentiles), in microseconds.
func reportLatency(b *testing.B, what string, direct, gw []time.Duration) {
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p99", 0.99}} {
		d, g := percentile(direct, q.q), percentile(gw, q.q)
		b.ReportMetric(float64(d.Microseconds()), what+"-direct-"+q.name+"-µs")
		b.ReportMetric(float64(g.Microseconds()), what+"-gateway-"+q.name+"-µs")
		b.ReportMetric(float64((g - d).Microseconds()), what+"-extra-"+q.name+"-µs")
	}
	b.ReportMetric(0, "ns/op") // one op is a direct and a gateway request: not a useful number
}

// benchLatency alternates a direct request and one through the gateway,
// and reports the percentiles of both: of the whole answer, or (stream) of
// the time to its first event.
func benchLatency(b *testing.B, stream bool, what string) {
	p := newBenchPair(b)
	var direct, gw []time.Duration
	pick := func(first, total time.Duration) time.Duration {
		if stream {
			return first
		}
		return total
	}
	for b.Loop() {
		direct = append(direct, pick(p.do(b, false, stream)))
		gw = append(gw, pick(p.do(b, true, stream)))
	}
	reportLatency(b, what, direct, gw)
}

// A small non-streaming request, direct and through the gateway in turn.
func BenchmarkSmallRequestLatency(b *testing.B) { benchLatency(b, false, "total") }

// Time to the first event of a stream, direct and through the gateway.
func BenchmarkStreamFirstByte(b *testing.B) { benchLatency(b, true, "ttfb") }

// Requests per second with 64 concurrent clients, direct and through the
// gateway, on one machine (so the two share its cores).
func BenchmarkThroughput64Clients(b *testing.B) {
	p := newBenchPair(b)
	for _, via := range []struct {
		name string
		gw   bool
	}{{"direct", false}, {"gateway", true}} {
		b.Run(via.name, func(b *testing.B) {
			b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p.do(b, via.gw, false)
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
