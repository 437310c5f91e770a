package gateway

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultUpstreams is the upstream base URL of each well-known pool: what
// the gateway URL http://127.0.0.1:PORT/<pool> stands for when neither the
// credential nor Config.Upstreams names one. Each is the base URL the
// provider's docs give for its SDKs (Anthropic's without /v1, which its SDK
// adds; Gemini's OpenAI-compatible endpoint). Read-only: callers copy it.
var DefaultUpstreams = map[string]string{
	"openai":       "https://api.openai.com/v1",
	"anthropic":    "https://api.anthropic.com",
	"openrouter":   "https://openrouter.ai/api/v1",
	"openai-codex": "https://chatgpt.com/backend-api/codex",
	"xai":          "https://api.x.ai/v1",
	"deepseek":     "https://api.deepseek.com",
	"groq":         "https://api.groq.com/openai/v1",
	"mistral":      "https://api.mistral.ai/v1",
	"gemini":       "https://generativelanguage.googleapis.com/v1beta/openai",
	"together":     "https://api.together.ai/v1",
	"fireworks":    "https://api.fireworks.ai/inference/v1",
}

// ParseBase checks an upstream base URL: absolute http(s), a host, no
// query, fragment or user info (a key in a URL would end up in logs and
// errors). The trailing slash is dropped so that base+rest joins cleanly.
// Error messages name the field, not the value. The config package checks
// an upstream setting with it, so that a URL it takes is one the gateway
// takes.
func ParseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme must be http or https")
	case u.Host == "":
		return nil, fmt.Errorf("no host")
	case u.User != nil:
		return nil, fmt.Errorf("user info is not allowed (put keys in the pool)")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("query and fragment are not allowed")
	}
	return u, nil
}

// joinURL is base followed by the request's rest of path, in its decoded
// and escaped forms, and its query. The host always comes from base:
// nothing in the request can name another one.
func joinURL(base *url.URL, rest route) *url.URL {
	u := *base
	u.Path = base.Path + rest.path
	u.RawPath = base.EscapedPath() + rest.rawPath
	u.RawQuery = rest.rawQuery
	return &u
}
