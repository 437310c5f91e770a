// Package gateway is a local provider gateway: an HTTP server on loopback
// that agent tools which only take a base URL and a key (Codex CLI, Claude
// Code, aider, the OpenAI and Anthropic SDKs) point at instead of the
// provider. For each request it picks a credential from the pool, sends the
// request upstream with that credential, reports what came back (status and
// quota headers) to the pool, and retries a 429, 401 or 402 with the next
// credential before the client has seen a byte.
//
// The gateway URL http://127.0.0.1:PORT/<pool> stands for the pool's
// upstream base URL exactly, so OPENAI_BASE_URL=http://127.0.0.1:PORT/openai
// and ANTHROPIC_BASE_URL=http://127.0.0.1:PORT/anthropic work unchanged, with
// the per-user gateway token as the API key.
//
// The pool is behind the Backend interface; the daemon implements it. The
// proxy is net/http/httputil.ReverseProxy, with the rotation in its
// Transport.
package gateway
