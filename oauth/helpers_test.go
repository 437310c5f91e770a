package oauth_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/oauth/oauthtest"
)

// now is the tests' clock.
var now = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// fake starts a plain-http fake on the tests' clock.
func fake(t *testing.T) *oauthtest.Server {
	s := oauthtest.New(t)
	s.SetClock(clock)
	return s
}

// fakeTLS starts an https fake on the tests' clock.
func fakeTLS(t *testing.T) *oauthtest.Server {
	s := oauthtest.NewTLS(t)
	s.SetClock(clock)
	return s
}

// pointedAt is a Refresher that sends every provider to the fake.
func pointedAt(s *oauthtest.Server) *oauth.Refresher {
	return &oauth.Refresher{Overrides: s.Overrides(), Now: clock}
}

// refreshErr asserts err is an *oauth.Error whose every rendering is free
// of the fake's token marker, and returns it.
func refreshErr(t *testing.T, err error) *oauth.Error {
	t.Helper()
	require.Error(t, err)
	noSecret(t, err)
	var e *oauth.Error
	require.True(t, errors.As(err, &e), "want *oauth.Error, got %T: %v", err, err)
	return e
}

// noSecret asserts no rendering of err carries a token.
func noSecret(t *testing.T, err error) {
	t.Helper()
	for _, text := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		assert.NotContains(t, text, oauthtest.Marker)
		assert.False(t, strings.Contains(text, "-rt-"), "refresh token in %q", text)
	}
}

// lastIssued is the newest token set the fake issued.
func lastIssued(t *testing.T, s *oauthtest.Server) oauthtest.Token {
	t.Helper()
	issued := s.Issued()
	require.NotEmpty(t, issued)
	return issued[len(issued)-1]
}

// rawServer answers every request with status, content type and body: a
// remote that is not one of the fake's well-behaved providers. It returns
// the URL to send to.
func rawServer(t *testing.T, status int, contentType, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/token"
}
