package loopback

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIs(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost":        true,
		"LocalHost":        true,
		"127.0.0.1":        true,
		"127.255.0.9":      true,
		"::1":              true,
		"::ffff:127.0.0.1": true,
		"0:0:0:0:0:0:0:1":  true,

		"":                   false,
		"localhost.":         false, // a name a resolver may send elsewhere
		"localhost.evil.com": false,
		"127.0.0.1.nip.io":   false,
		"0.0.0.0":            false,
		"::":                 false,
		"::1%lo":             false,
		"[::1]":              false,
		"127.0.0.1:80":       false,
		"0127.0.0.1":         false,
		"10.0.0.1":           false,
		"::ffff:10.0.0.1":    false,
		"example.com":        false,
	} {
		assert.Equal(t, want, Is(host), "%q", host)
	}
}
