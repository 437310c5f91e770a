package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gt "github.com/credpool/credpool/gateway/gatewaytest"
)

// steppedGateway is a gateway whose one key streams at the test's pace.
func steppedGateway(t *testing.T, grace time.Duration) (*gt.Upstream, *Server, running) {
	up := gt.NewUpstream(t, map[string]gt.Behaviour{openaiKey(1): gt.Stepped})
	b := newMemBackend(fixedClock, map[string][]Credential{"openai": {{ID: "k1", AccessToken: openaiKey(1)}}})
	s, r := runServer(t, Config{Addr: "127.0.0.1:0", Token: gwToken, Upstreams: map[string]string{"openai": up.URL},
		ShutdownGrace: grace, Logger: slog.New(slog.DiscardHandler)}, b)
	return up, s, r
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// Run shuts down gracefully: a stream under way when the context ends
// runs to its end, new connections are refused, and Run returns nil.
func TestRunShutsDownGracefully(t *testing.T) {
	up, s, r := steppedGateway(t, 0)
	again, err := s.Listen()
	require.NoError(t, err)
	assert.Equal(t, r.addr, again.String(), "Listen binds once")

	resp := streamRequest(t, r.url)
	events := gt.SSEData(resp.Body)
	<-events
	<-events

	r.stop()
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-r.done:
		t.Fatalf("Run returned (%v) with a stream still under way", err)
	default:
	}
	for range gt.StreamPieces {
		require.NoError(t, up.Step())
	}
	n := 0
	for range events {
		n++
	}
	assert.Equal(t, len(gt.StreamPieces)+1, n, "the rest of the pieces, the finish chunk and [DONE]")
	resp.Body.Close()
	assert.NoError(t, wait(t, r.done))
}

// A stream that outlives the grace is cut, and Run still returns.
func TestRunClosesWhatOutlivesTheGrace(t *testing.T) {
	_, _, r := steppedGateway(t, time.Millisecond)
	resp := streamRequest(t, r.url)
	r.stop()
	assert.NoError(t, wait(t, r.done))
	_, err := io.ReadAll(resp.Body)
	assert.Error(t, err, "the stream was cut")
}

func TestRunReportsListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	s, err := New(Config{Addr: ln.Addr().String(), Token: gwToken}, newMemBackend(fixedClock, nil))
	require.NoError(t, err)
	err = s.Run(context.Background())
	assert.ErrorContains(t, err, "gateway: listen")
}
