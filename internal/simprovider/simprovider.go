// Package simprovider is a simulated LLM provider for credpool's rate-limit
// simulation (cmd/credpool-sim): per-key request budgets that answer, as
// OpenAI's API does, with x-ratelimit-* headers on every answer and 429 with
// Retry-After once a key's budget is spent. It runs on simulated time (every
// call takes the moment it happens); it does no I/O and never sleeps.
//
// The limiter is a token bucket per key: capacity RPM requests, refilled at
// RPM per minute. That is how OpenAI describes its limits ("the time until
// the rate limit resets to its initial state" for x-ratelimit-reset-*), not
// a copy of its implementation, which is not public.
package simprovider

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Key is one API key's limit.
type Key struct {
	Token string
	RPM   int // requests per minute
	TPM   int // tokens per minute; reported, not enforced (the simulation meters requests)
}

// Provider holds the buckets of every key. It is not safe for concurrent
// use; the simulation is single-threaded.
type Provider struct {
	buckets map[string]*bucket
	// Served and Limited count the answers: 200s and 429s.
	Served, Limited int
}

type bucket struct {
	key    Key
	tokens float64   // requests left, fractional while refilling
	at     time.Time // when tokens was reckoned
}

// New returns a provider with full buckets for keys.
func New(keys []Key) *Provider {
	p := &Provider{buckets: make(map[string]*bucket, len(keys))}
	for _, k := range keys {
		p.buckets[k.Token] = &bucket{key: k, tokens: float64(k.RPM)}
	}
	return p
}

// Answer is what the provider sends back for one call.
type Answer struct {
	Status  int
	Headers map[string]string // as sent, canonical names
	Body    string
}

// Call is one chat completion with token at now. An unknown token gets 401.
func (p *Provider) Call(token string, now time.Time) Answer {
	b := p.buckets[token]
	if b == nil {
		return Answer{Status: 401, Body: `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}`}
	}
	b.refill(now)
	rate := float64(b.key.RPM) / 60 // requests per second
	if b.tokens < 1 {
		p.Limited++
		wait := (1 - b.tokens) / rate
		h := b.headers(0, rate)
		h["Retry-After"] = strconv.Itoa(int(math.Ceil(wait)))
		h["Retry-After-Ms"] = strconv.Itoa(int(math.Ceil(wait * 1000)))
		return Answer{Status: 429, Headers: h, Body: fmt.Sprintf(
			`{"error":{"message":"Rate limit reached for requests on this key: Limit %d, Used %d, Requested 1. Please try again in %s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			b.key.RPM, b.key.RPM, goDuration(wait))}
	}
	b.tokens--
	p.Served++
	return Answer{Status: 200, Headers: b.headers(int(math.Floor(b.tokens)), rate),
		Body: `{"object":"chat.completion","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"ok"}}]}`}
}

func (b *bucket) refill(now time.Time) {
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = math.Min(float64(b.key.RPM), b.tokens+dt*float64(b.key.RPM)/60)
		b.at = now
	}
}

// headers are OpenAI's rate-limit headers: the reset is how long until the
// bucket is full again, written as a Go duration as OpenAI writes it
// ("6m0s", "1.5s", "12ms").
func (b *bucket) headers(remaining int, rate float64) map[string]string {
	full := (float64(b.key.RPM) - b.tokens) / rate
	tpm := b.key.TPM
	if tpm == 0 {
		tpm = 1000 * b.key.RPM
	}
	return map[string]string{
		"X-Ratelimit-Limit-Requests":     strconv.Itoa(b.key.RPM),
		"X-Ratelimit-Remaining-Requests": strconv.Itoa(remaining),
		"X-Ratelimit-Reset-Requests":     goDuration(full),
		"X-Ratelimit-Limit-Tokens":       strconv.Itoa(tpm),
		"X-Ratelimit-Remaining-Tokens":   strconv.Itoa(tpm - 200),
		"X-Ratelimit-Reset-Tokens":       "12ms",
		"X-Request-Id":                   "req_sim",
		"Openai-Processing-Ms":           "1200",
	}
}

// goDuration writes seconds as a Go duration rounded to the millisecond.
func goDuration(sec float64) string {
	return (time.Duration(math.Max(0, sec)*1000) * time.Millisecond).String()
}
