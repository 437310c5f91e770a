// Package oauthtest is a fake of the OAuth token endpoints of openai-codex,
// anthropic, xai-oauth and nous, for tests of anything that refreshes tokens
// (package oauth, the daemon, end-to-end tests against the real binary via
// CREDPOOL_TOKEN_URL / --token-url).
//
// It behaves like the real endpoints where a refresher can tell: it checks
// each provider's request format, rotates tokens (each success issues a new
// access and refresh token and spends the old refresh token, whose second use
// answers refresh_token_reused), and can be told to fail. Every token it
// issues contains the marker SECRET, and every error answer echoes the
// refresh token it was sent, as a careless real server might, so that leak
// tests have something to find. It is safe for concurrent use.
package oauthtest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Marker is in every token the fake issues.
const Marker = "SECRET"

// Token is a set of tokens the fake issued.
type Token struct {
	Provider, AccessToken, RefreshToken, IDToken string
}

// Request is a token POST as the fake saw it.
type Request struct {
	Provider    string
	Host        string // the Host the client asked for
	ContentType string
	Status      int  // the status the fake answered; 0 while it has not
	Cancelled   bool // the client gave up during a Delay
}

// Server is the fake. Create it with New or NewTLS.
type Server struct {
	URL string

	srv *httptest.Server
	tb  TB

	mu            sync.Mutex
	grants        map[string]*grant // refresh token → its state
	posts         map[string]int
	total         int
	issued        []Token
	requests      []Request
	next          []Failure
	always        Failure
	lifetime      time.Duration
	omitExpiresIn bool
	now           func() time.Time
	discoveryTE   string
	seq           int
}

type grant struct {
	provider string
	spent    bool
}

// TB is all the fake asks of its owner (a *testing.T or *testing.B, or a
// program such as credpool-bench): to run its cleanups when done. It never
// fails a test itself, so it needs nothing that could.
type TB interface {
	Helper()
	Cleanup(func())
}

// New starts a fake on plain http (loopback), closed when the test ends.
func New(tb TB) *Server { return start(tb, false) }

// NewTLS starts a fake on https; its Client routes real provider hosts to it.
func NewTLS(tb TB) *Server { return start(tb, true) }

func start(tb TB, useTLS bool) *Server {
	tb.Helper()
	s := &Server{
		tb:       tb,
		grants:   map[string]*grant{},
		posts:    map[string]int{},
		lifetime: time.Hour,
		now:      time.Now,
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	if useTLS {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// TokenURL is the fake's token endpoint for provider.
func (s *Server) TokenURL(provider string) string { return s.URL + contractFor(provider).path }

// Overrides points every provider at the fake, in the form
// oauth.Refresher.Overrides takes.
func (s *Server) Overrides() map[string]string {
	m := make(map[string]string, len(contracts))
	for _, c := range contracts {
		m[c.provider] = s.URL + c.path
	}
	return m
}

// OverrideString is Overrides in the PROVIDER=URL,… form of
// CREDPOOL_TOKEN_URL.
func (s *Server) OverrideString() string {
	parts := make([]string, 0, len(contracts))
	for _, c := range contracts {
		parts = append(parts, c.provider+"="+s.URL+c.path)
	}
	return strings.Join(parts, ",")
}

// DiscoveryURL is where the fake serves xAI's OpenID configuration.
func (s *Server) DiscoveryURL() string { return s.URL + DiscoveryPath }

// SetDiscoveryTokenEndpoint sets the token_endpoint the discovery document
// names ("" for the fake's own xAI token URL).
func (s *Server) SetDiscoveryTokenEndpoint(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discoveryTE = u
}

// SetLifetime sets how long issued access tokens live (their JWT exp, and
// expires_in unless omitExpiresIn).
func (s *Server) SetLifetime(d time.Duration, omitExpiresIn bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime, s.omitExpiresIn = d, omitExpiresIn
}

// SetClock sets the clock issued tokens' expiry is counted from.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Fail makes every following POST answer f (Failure{} to stop).
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = f
}

// FailNext makes the next POSTs answer fs, one each, before Fail's.
func (s *Server) FailNext(fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = append(s.next, fs...)
}

// Issue mints a valid pair for provider, as a login would.
func (s *Server) Issue(provider string) Token {
	c := contractFor(provider)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mint(c)
}

// Posts counts the token POSTs that carried refreshToken.
func (s *Server) Posts(refreshToken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts[refreshToken]
}

// TotalPosts counts every token POST.
func (s *Server) TotalPosts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Issued lists every set of tokens the fake issued, oldest first.
func (s *Server) Issued() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Token(nil), s.issued...)
}

// Requests lists every token POST, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Client is an https client that sends the named hosts (e.g. auth.x.ai,
// platform.claude.com) to this TLS fake and refuses to dial any other, so a
// test can exercise a provider's real default URLs without the network.
func (s *Server) Client(hosts ...string) *http.Client {
	if s.srv.TLS == nil {
		panic("oauthtest: Client needs a server from NewTLS")
	}
	routed := map[string]bool{}
	for _, h := range hosts {
		routed[strings.ToLower(h)] = true
	}
	addr := s.srv.Listener.Addr().String()
	roots := x509.NewCertPool()
	roots.AddCert(s.srv.Certificate())
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(a)
			if !routed[strings.ToLower(host)] {
				// What a refused connection looks like to the client.
				return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("oauthtest: host %s is not routed to the fake", host)}
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		// httptest's certificate names example.com; verify against that
		// name whatever host the URL says.
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"},
	}
	s.tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == DiscoveryPath {
		s.serveDiscovery(w)
		return
	}
	var c *contract
	for i := range contracts {
		if contracts[i].path == r.URL.Path {
			c = &contracts[i]
		}
	}
	if c == nil || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	fields, formErr := readFields(r, c, ct)
	rt := fields["refresh_token"]
	if c.header != "" {
		rt = r.Header.Get(c.header)
	}

	s.mu.Lock()
	s.posts[rt]++
	s.total++
	idx := len(s.requests)
	s.requests = append(s.requests, Request{Provider: c.provider, Host: r.Host, ContentType: ct})
	f := s.always
	if len(s.next) > 0 {
		f, s.next = s.next[0], s.next[1:]
	}
	s.mu.Unlock()

	status := s.answer(w, r, c, f, fields, formErr, rt)
	s.mu.Lock()
	s.requests[idx].Status = status
	s.requests[idx].Cancelled = status == 0
	s.mu.Unlock()
}

// answer writes the answer to one token POST and returns its status (0 when
// the request was cancelled during a Delay).
func (s *Server) answer(w http.ResponseWriter, r *http.Request, c *contract, f Failure, fields map[string]string, formErr error, rt string) int {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return 0
		}
	}
	if problem := checkFormat(c, fields, formErr, r, rt); problem != "" {
		return writeError(w, c, http.StatusBadRequest, "invalid_request", problem+" (refresh token "+rt+")")
	}
	switch {
	case f.Body != "":
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
		return status
	case f.Location != "":
		w.Header().Set("Location", f.Location)
		w.WriteHeader(f.Status)
		return f.Status
	case f.Status == http.StatusTooManyRequests:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		return writeError(w, c, f.Status, f.Code, "slow down, refresh token "+rt)
	case f.Status >= 500:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, "<html><body>upstream failed for %s</body></html>", rt)
		return f.Status
	case f.Status != 0:
		msg := f.Message
		if msg == "" {
			msg = "refused"
		}
		return writeError(w, c, f.Status, f.Code, msg+" (refresh token "+rt+")")
	}

	s.mu.Lock()
	g := s.grants[rt]
	var tok Token
	switch {
	case g == nil || g.provider != c.provider:
		s.mu.Unlock()
		return writeError(w, c, http.StatusBadRequest, "invalid_grant", "refresh token "+rt+" is not known")
	case g.spent:
		s.mu.Unlock()
		return writeError(w, c, c.reuseStatus, "refresh_token_reused", "refresh token "+rt+" was already used")
	}
	g.spent = true
	tok = s.mint(c)
	lifetime, omit := s.lifetime, s.omitExpiresIn
	s.mu.Unlock()

	body := map[string]any{"access_token": tok.AccessToken, "refresh_token": tok.RefreshToken, "token_type": "Bearer"}
	if !omit {
		body["expires_in"] = int(lifetime.Seconds())
	}
	if tok.IDToken != "" {
		body["id_token"] = tok.IDToken
	}
	for k, v := range c.extra {
		body[k] = v
	}
	writeJSON(w, http.StatusOK, body)
	return http.StatusOK
}

// readFields reads the body's fields: a form, or for a provider that takes
// one, a JSON object of strings.
func readFields(r *http.Request, c *contract, ct string) (map[string]string, error) {
	out := map[string]string{}
	switch {
	case ct == "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return out, err
		}
		for k := range r.PostForm {
			out[k] = r.PostForm.Get(k)
		}
	case ct == "application/json" && c.acceptsJSON:
		if err := json.NewDecoder(r.Body).Decode(&out); err != nil {
			return out, err
		}
	default:
		return out, fmt.Errorf("content type %q not accepted", ct)
	}
	return out, nil
}

// checkFormat names what is wrong with a token request, or "".
func checkFormat(c *contract, fields map[string]string, formErr error, r *http.Request, rt string) string {
	switch {
	case formErr != nil:
		return "unreadable body: " + formErr.Error()
	case fields["grant_type"] != "refresh_token":
		return "grant_type must be refresh_token"
	case fields["client_id"] != c.clientID:
		return "unknown client_id"
	case c.header != "" && fields["refresh_token"] != "":
		return "the refresh token belongs in " + c.header + ", not in the body"
	case rt == "":
		return "no refresh token"
	case r.Header.Get("Authorization") != "":
		return "no client authentication expected"
	}
	return ""
}

func (s *Server) serveDiscovery(w http.ResponseWriter) {
	s.mu.Lock()
	te := s.discoveryTE
	s.mu.Unlock()
	if te == "" {
		te = s.URL + contractFor("xai-oauth").path
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"issuer":                 "https://auth.x.ai",
		"authorization_endpoint": "https://auth.x.ai/oauth2/auth",
		"token_endpoint":         te,
	})
}

// mint issues a fresh valid pair; s.mu is held.
func (s *Server) mint(c *contract) Token {
	s.seq++
	n := fmt.Sprintf("%d-%s", s.seq, randomHex())
	exp := s.now().Add(s.lifetime).Unix()
	tok := Token{Provider: c.provider, RefreshToken: c.provider + "-rt-" + Marker + "-" + n}
	if c.jwtAccess {
		tok.AccessToken = jwt(exp, c.provider+"-at-"+Marker+"-"+n)
	} else {
		tok.AccessToken = "sk-ant-oat01-" + Marker + "-" + n
	}
	if c.idToken {
		tok.IDToken = jwt(exp, c.provider+"-id-"+Marker+"-"+n)
	}
	s.grants[tok.RefreshToken] = &grant{provider: c.provider}
	s.issued = append(s.issued, tok)
	return tok
}

// jwt is an unsigned JWT with an exp claim; sig stands in for a signature.
func jwt(exp int64, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"exp":%d,"sub":"oauthtest"}`, exp))) + "." +
		url.PathEscape(sig)
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeError writes an OAuth error in the provider's shape.
func writeError(w http.ResponseWriter, c *contract, status int, code, message string) int {
	if c.nestedErrors {
		writeJSON(w, status, map[string]any{"error": map[string]string{
			"code": code, "message": message, "type": "invalid_request_error",
		}})
	} else {
		writeJSON(w, status, map[string]string{"error": code, "error_description": message})
	}
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
