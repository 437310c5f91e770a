package extlogin

import (
	"unicode"

	"github.com/credpool/credpool/tokeninfo"
)

// layout is where one tool keeps its OAuth tokens: the object that holds
// them ("" for the top level) and the names of the fields. Reading and
// write-back both go by it, so they cannot disagree on a name.
type layout struct {
	section  string
	access   string
	refresh  string
	id       string // "" when the tool keeps no ID token
	expiryMS string // expiry in epoch milliseconds; "" when it is in the JWT
}

var layouts = [...]layout{
	// Codex CLI (codex-rs login, AuthDotJson / TokenData): the expiry is
	// the access token's own "exp" claim; last_refresh is an RFC 3339 time.
	kindCodex: {section: "tokens", access: "access_token", refresh: "refresh_token", id: "id_token"},
	// Claude Code: {"claudeAiOauth": {accessToken, refreshToken, expiresAt
	// (ms), scopes, subscriptionType}}.
	kindClaude: {section: "claudeAiOauth", access: "accessToken", refresh: "refreshToken", expiryMS: "expiresAt"},
	// Qwen Code: {access_token, refresh_token, token_type, resource_url,
	// expiry_date (ms)}.
	kindQwen: {access: "access_token", refresh: "refresh_token", id: "id_token", expiryMS: "expiry_date"},
	// Gemini CLI (google-auth-library Credentials): {access_token,
	// refresh_token, scope, token_type, id_token, expiry_date (ms, may be
	// fractional)}.
	kindGemini: {access: "access_token", refresh: "refresh_token", id: "id_token", expiryMS: "expiry_date"},
}

// Codex auth_mode values and field names.
const (
	codexModeKey       = "auth_mode"
	codexAPIKey        = "OPENAI_API_KEY"
	codexModeAPIKey    = "apikey"
	codexModeChatGPT   = "chatgpt"
	codexModeExternal  = "chatgptAuthTokens" // tokens handed in by a host app
	codexAccountID     = "account_id"
	codexLastRefresh   = "last_refresh"
	claudeSubscription = "subscriptionType"
	geminiType         = "type"
	geminiUserType     = "authorized_user"
)

// parse turns a credential file's bytes into a Login.
func parse(src Source, data []byte) (Login, error) {
	top, err := decodeObject(data, "the file")
	if err != nil {
		return Login{}, err
	}
	base := Login{Source: src.Name, Provider: src.Provider, AuthType: AuthOAuth, Label: src.Name}
	switch src.kind {
	case kindCodex:
		return parseCodex(base, top)
	case kindClaude, kindQwen, kindGemini:
		return parseOAuth(base, src.kind, top)
	}
	return Login{}, problemf(ErrBadFile, "unknown source %q", src.Name)
}

func parseCodex(l Login, top object) (Login, error) {
	mode, _, err := top.str("", codexModeKey)
	if err != nil {
		return Login{}, err
	}
	key, _, err := top.str("", codexAPIKey)
	if err != nil {
		return Login{}, err
	}
	_, hasTokens, err := top.obj("", layouts[kindCodex].section)
	if err != nil {
		return Login{}, err
	}
	// Without auth_mode (older files) Codex takes the API key if there is
	// one, else the tokens.
	switch {
	case mode == codexModeAPIKey || (mode == "" && key != ""):
		l.Provider, l.AuthType = ProviderOpenAI, AuthAPIKey
		if key == "" {
			return broken(l, codexAPIKey+" is empty"), nil
		}
		l.AccessToken = key
		return l, nil
	case mode == codexModeChatGPT || mode == codexModeExternal || (mode == "" && hasTokens):
		l.Provider = ProviderOpenAICodex
		if !hasTokens {
			return broken(l, "auth_mode is "+mode+" but there are no tokens"), nil
		}
		l, err = parseOAuth(l, kindCodex, top)
		if err != nil || l.Broken != "" {
			return l, err
		}
		tokens, _, _ := top.obj("", layouts[kindCodex].section)
		if l.AccountID, _, err = tokens.str(layouts[kindCodex].section, codexAccountID); err != nil {
			return Login{}, err
		}
		// Codex keeps no expiry beside the tokens: it is the access
		// token's own (an unreadable one is unknown, 0).
		l.ExpiresAt, _ = tokeninfo.JWTExp(l.AccessToken)
		if l.AccountID == "" {
			l.AccountID = tokeninfo.ChatGPTAccountID(l.IDToken)
		}
		l.Label = labelWith(l.Source, tokeninfo.Email(l.IDToken))
		return l, nil
	case mode == "":
		return Login{}, problemf(ErrNotLoggedIn, "neither %s nor tokens", codexAPIKey)
	}
	if !isWord(mode) {
		mode = "(unprintable)"
	}
	return broken(l, "auth_mode "+mode+" is not one credpool can use"), nil
}

// parseOAuth reads the tokens of a file laid out as layouts[k].
func parseOAuth(l Login, k kind, top object) (Login, error) {
	lay := layouts[k]
	o, path := top, ""
	if lay.section != "" {
		sub, ok, err := top.obj("", lay.section)
		if err != nil {
			return Login{}, err
		}
		if !ok {
			return Login{}, problemf(ErrNotLoggedIn, "no %s", lay.section)
		}
		o, path = sub, lay.section
	}
	var err error
	if l.AccessToken, _, err = o.str(path, lay.access); err != nil {
		return Login{}, err
	}
	if l.RefreshToken, _, err = o.str(path, lay.refresh); err != nil {
		return Login{}, err
	}
	if lay.id != "" {
		if l.IDToken, _, err = o.str(path, lay.id); err != nil {
			return Login{}, err
		}
	}
	if lay.expiryMS != "" {
		ms, err := o.num(path, lay.expiryMS)
		if err != nil {
			return Login{}, err
		}
		if ms > 0 {
			l.ExpiresAt = ms / 1000
		}
	}
	switch {
	case l.AccessToken == "" && l.RefreshToken == "":
		// What a Claude Code instance that lost a refresh race writes.
		return broken(l, join(path, lay.access)+" and "+lay.refresh+" are empty (another instance may have lost a refresh race); log in again"), nil
	case l.AccessToken == "":
		return broken(l, join(path, lay.access)+" is empty"), nil
	}
	switch k {
	case kindClaude:
		sub, _, err := o.str(path, claudeSubscription)
		if err != nil {
			return Login{}, err
		}
		if isWord(sub) {
			l.Label = labelWith(l.Source, sub)
		}
	case kindGemini:
		typ, _, err := o.str(path, geminiType)
		if err != nil {
			return Login{}, err
		}
		if typ != "" && typ != geminiUserType {
			return broken(l, "type is not "+geminiUserType+" (not a Google user OAuth login)"), nil
		}
		l.Label = labelWith(l.Source, tokeninfo.Email(l.IDToken))
	}
	return l, nil
}

// broken is l that cannot be used: no secret of it is kept, so none can be
// adopted by mistake.
func broken(l Login, why string) Login {
	l.AccessToken, l.RefreshToken, l.IDToken, l.ExpiresAt = "", "", "", 0
	l.Broken = why
	return l
}

func labelWith(name, detail string) string {
	if detail == "" {
		return name
	}
	return name + " (" + detail + ")"
}

// isWord reports whether s is short and plain enough to print: an enum
// value such as an auth_mode, never a token.
func isWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}
