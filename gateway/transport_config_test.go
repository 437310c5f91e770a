package gateway

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The bench's bare proxy calls UpstreamTransport and CopyBuffers to stay a
// fair baseline, so they must be what the gateway itself uses.
func TestDefaultTransportIsUpstreamTransport(t *testing.T) {
	cfg, _, err := Config{Token: gwToken}.withDefaults()
	require.NoError(t, err)
	tr, ok := cfg.Transport.(*http.Transport)
	require.True(t, ok, "%T", cfg.Transport)
	assert.Equal(t, 0, tr.MaxIdleConns)
	assert.Equal(t, maxIdlePerHost, tr.MaxIdleConnsPerHost)
	assert.True(t, tr.TLSClientConfig == nil || !tr.TLSClientConfig.InsecureSkipVerify, "TLS is verified")
	assert.NotNil(t, tr.Proxy, "the environment's proxy is honoured, as by http.DefaultTransport")

	other := UpstreamTransport()
	assert.NotSame(t, tr, other, "each caller gets its own connections")
	assert.Equal(t, tr.MaxIdleConnsPerHost, other.MaxIdleConnsPerHost)

	s, err := New(Config{Token: gwToken}, newMemBackend(fixedClock, nil))
	require.NoError(t, err)
	assert.IsType(t, CopyBuffers(), s.proxy.BufferPool)
	buf := s.proxy.BufferPool.Get()
	assert.Len(t, buf, copyBufferSize)
	s.proxy.BufferPool.Put(buf)
}
