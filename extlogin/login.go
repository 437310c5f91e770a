package extlogin

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"

	"github.com/credpool/credpool/tokeninfo"
)

// Auth types, as in auth.json's auth_type.
const (
	AuthAPIKey = "api_key"
	AuthOAuth  = "oauth"
)

// Login is what one tool's credential file says.
//
// A Login with Broken set cannot be used: its tokens are empty and must
// not be adopted, but its Source and Provider say which entry it concerns.
// Login never prints its secrets: String, GoString, LogValue and
// MarshalJSON show Fingerprint instead.
type Login struct {
	Source   string // SourceCodex, ...
	Provider string // pool key
	AuthType string // AuthAPIKey or AuthOAuth

	// AccessToken is the bearer secret: the API key of an API-key login.
	AccessToken  string
	RefreshToken string
	IDToken      string // Codex and Gemini logins carry an OpenID token
	AccountID    string // the ChatGPT account of a Codex login
	Label        string // human-readable, never secret: source and account

	// ExpiresAt is the access token's expiry in epoch seconds, 0 if unknown
	// (an API key does not expire).
	ExpiresAt float64
	// Broken says why the login cannot be used, "" if it can.
	Broken string
}

// Fingerprint is "sha256:" and the first 16 hex digits of the SHA-256 of
// the access token (the API key of an API-key login): the form Hermes
// stores as secret_fingerprint, so a borrowed entry can be matched without
// its secret. It is "" when there is no access token.
func (l Login) Fingerprint() string { return fingerprint(l.AccessToken) }

func fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	return tokeninfo.Fingerprint(secret)
}

// redacted is what Login shows of itself: everything but the secrets.
type redacted struct {
	Source      string  `json:"source"`
	Provider    string  `json:"provider"`
	AuthType    string  `json:"auth_type"`
	Label       string  `json:"label,omitempty"`
	AccountID   string  `json:"account_id,omitempty"`
	Fingerprint string  `json:"secret_fingerprint,omitempty"`
	ExpiresAt   float64 `json:"expires_at,omitempty"`
	Broken      string  `json:"broken,omitempty"`
}

func (l Login) redacted() redacted {
	return redacted{l.Source, l.Provider, l.AuthType, l.Label, l.AccountID, l.Fingerprint(), l.ExpiresAt, l.Broken}
}

// String shows the login without its secrets.
func (l Login) String() string {
	r := l.redacted()
	return fmt.Sprintf("Login{Source:%s Provider:%s AuthType:%s Label:%q AccountID:%q Fingerprint:%s ExpiresAt:%.3f Broken:%q}",
		r.Source, r.Provider, r.AuthType, r.Label, r.AccountID, r.Fingerprint, r.ExpiresAt, r.Broken)
}

// GoString is String, for %#v.
func (l Login) GoString() string { return "extlogin." + l.String() }

// LogValue is the login for log/slog, without its secrets.
func (l Login) LogValue() slog.Value {
	r := l.redacted()
	attrs := []slog.Attr{
		slog.String("source", r.Source),
		slog.String("provider", r.Provider),
		slog.String("auth_type", r.AuthType),
		slog.String("fingerprint", r.Fingerprint),
	}
	if r.Label != "" {
		attrs = append(attrs, slog.String("label", r.Label))
	}
	if r.ExpiresAt != 0 {
		attrs = append(attrs, slog.Float64("expires_at", r.ExpiresAt))
	}
	if r.Broken != "" {
		attrs = append(attrs, slog.String("broken", r.Broken))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON writes the login without its secrets: a Login that ends up in
// an event or a status answer by accident carries its fingerprint only.
func (l Login) MarshalJSON() ([]byte, error) { return json.Marshal(l.redacted()) }

// sum is the hash of everything a login says, secrets included: two reads
// with the same sum are the same login, whatever else the file changed.
func (l Login) sum() [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, s := range [...]string{l.Source, l.Provider, l.AuthType, l.AccessToken, l.RefreshToken, l.IDToken, l.AccountID, l.Label, l.Broken} {
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	binary.LittleEndian.PutUint64(n[:], math.Float64bits(l.ExpiresAt))
	h.Write(n[:])
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
