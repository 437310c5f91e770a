// Package gatewaytest holds what tests of the gateway share, here and in the
// end-to-end tests against the real daemon: a fake provider (the only fake:
// the provider is a remote service) that plays OpenAI's, Anthropic's and the
// Responses API's wire formats and misbehaves per key, and runners for the
// official SDK scripts under gateway/testdata/sdk and for the Codex CLI.
// Only tests import it, and credpool-bench, which measures the gateway
// against the same fake provider.
package gatewaytest
