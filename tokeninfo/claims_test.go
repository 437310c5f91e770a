package tokeninfo

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestOpenAIClaims pins where a ChatGPT login's tokens name the account and
// the email, and that a claim of an unexpected type beside them (Codex's
// exp written as a string) loses neither.
func TestOpenAIClaims(t *testing.T) {
	for _, tc := range []struct {
		name, token, account, email string
	}{
		{"id token", jwtWith(`{"email":"dev@example.com","https://api.openai.com/auth":{"chatgpt_account_id":"acct-1"}}`), "acct-1", "dev@example.com"},
		{"access token: profile email", jwtWith(`{"exp":1900000000,"https://api.openai.com/profile":{"email":"p@example.com"},"https://api.openai.com/auth":{"chatgpt_account_id":"acct-2","chatgpt_plan_type":"pro"}}`), "acct-2", "p@example.com"},
		{"email claim wins over the profile", jwtWith(`{"email":"a@example.com","https://api.openai.com/profile":{"email":"b@example.com"}}`), "", "a@example.com"},
		{"exp a string", jwtWith(`{"exp":"1900000000","email":"dev@example.com","https://api.openai.com/auth":{"chatgpt_account_id":"acct-3"}}`), "acct-3", "dev@example.com"},
		{"other claims of odd types", jwtWith(`{"iat":"x","aud":{},"sub":7,"email":"dev@example.com","https://api.openai.com/auth":{"chatgpt_plan_type":1,"chatgpt_account_id":"acct-4"}}`), "acct-4", "dev@example.com"},
		{"auth claim not an object", jwtWith(`{"https://api.openai.com/auth":"acct-5","email":"dev@example.com"}`), "", "dev@example.com"},
		{"account id not a string", jwtWith(`{"https://api.openai.com/auth":{"chatgpt_account_id":5}}`), "", ""},
		{"account id null", jwtWith(`{"https://api.openai.com/auth":{"chatgpt_account_id":null}}`), "", ""},
		{"email with a space", jwtWith(`{"email":"dev@example.com SECRET"}`), "", ""},
		{"email with a newline", jwtWith(`{"email":"dev@example.com\nSECRET"}`), "", ""},
		{"email too long", jwtWith(`{"email":"` + strings.Repeat("a", 250) + `@x.io"}`), "", ""},
		{"not a JWT", "sk-proj-SECRET", "", ""},
		{"payload an array", jwtWith(`["acct-7"]`), "", ""},
		{"payload not json", jwtWith(`email=dev@example.com`), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.account, ChatGPTAccountID(tc.token))
			assert.Equal(t, tc.email, Email(tc.token))
		})
	}
}

func BenchmarkChatGPTAccountID(b *testing.B) {
	tok := jwtWith(`{"exp":1900000000,"sub":"user-1234567890","aud":["https://api.openai.com/v1"],"scope":"openid profile email offline_access",` +
		`"https://api.openai.com/profile":{"email":"dev@example.com","email_verified":true},` +
		`"https://api.openai.com/auth":{"chatgpt_account_id":"acct-1234","chatgpt_plan_type":"pro","user_id":"user-1234"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if ChatGPTAccountID(tok) == "" {
			b.Fatal("no account")
		}
	}
}
