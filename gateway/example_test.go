package gateway_test

import (
	"context"
	"log"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/credpool/credpool/gateway"
)

// How the daemon wires the gateway: its pool behind gateway.Backend, a
// token that survives restarts, its own metrics registry, and Run under the
// daemon's context. Clients then set OPENAI_BASE_URL=http://127.0.0.1:8484/openai
// (or ANTHROPIC_BASE_URL=http://127.0.0.1:8484/anthropic) and the token as
// their API key.
func Example() {
	var pool gateway.Backend // the daemon's pool: Select with model and exclude, Report with headers
	reg := prometheus.NewRegistry()
	ctx := context.Background()

	token, err := gateway.LoadOrCreateToken(filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "credpool", "gateway.token"))
	if err != nil {
		log.Fatal(err)
	}
	s, err := gateway.New(gateway.Config{
		Addr:      gateway.DefaultAddr,
		Token:     token,
		Upstreams: map[string]string{"custom:together.ai": "https://api.together.ai/v1"},
	}, pool)
	if err != nil {
		log.Fatal(err)
	}
	reg.MustRegister(s.Collectors()...)
	if err := s.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
