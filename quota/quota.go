// Package quota turns the rate-limit headers that providers send on every
// answer (200s included) into observations, keeps the latest observation per
// credential and budget window, and answers "is this credential out of
// budget, and until when?" and "how much headroom does it have?".
//
// It is pure: no I/O, no clock of its own (every call takes now), no locks.
// A State belongs to one credential; its owner serialises access.
//
// Budgets are read from these header families (names case-insensitive):
//
//   - OpenAI: x-ratelimit-{limit,remaining,reset}-{requests,tokens}, and the
//     tokens_usage_based / requests_usage_based variants; resets are Go-style
//     durations relative to now ("6m0s", "425ms", "16m17.764s").
//   - Anthropic API keys: anthropic-ratelimit-{requests,tokens,input-tokens,
//     output-tokens}-{limit,remaining,reset}; resets in RFC 3339.
//   - Anthropic subscriptions: anthropic-ratelimit-unified-status and -reset
//     (the verdict on this answer), -representative-claim, and per window
//     anthropic-ratelimit-unified-<5h|7d|7d_sonnet|...>-{status,reset,
//     utilization}; resets in epoch seconds, utilization a fraction.
//   - Codex: x-<limit>-{primary,secondary}-{used-percent,reset-at,
//     reset-after-seconds} (x-codex-* and per-model families such as
//     x-codex-bengalfox-*), with x-<limit>-limit-name naming the model.
//   - Any: retry-after (delta seconds or HTTP-date) and retry-after-ms.
//
// Everything else is ignored unread. A known header whose value cannot be
// trusted is ignored too and named (never quoted) in Observation.Ignored.
package quota

import (
	"errors"
	"time"

	"github.com/credpool/credpool/epoch"
)

// Bounds of one report's headers (Check) and of the kept state.
const (
	MaxHeaders    = 64  // headers per report
	MaxValueBytes = 256 // bytes per header value
	MaxNameBytes  = 128 // bytes per header name; the longest known one is ~100
	MaxWindows    = 32  // windows kept per credential; the oldest seen goes first
	maxModelBytes = 64  // a model family name (x-<limit>-limit-name)
	maxKeyBytes   = 96  // a window key
)

// MaxResetAt bounds every time this package reads or keeps: a reset must be
// after 1970 and at most epoch.Max (the end of year 9999). Anything else is
// garbage: a reset at 0 would end a block at once, one past 9999 is a typo
// or an attack, not a provider's clock.
const MaxResetAt = epoch.Max

// DefaultThreshold is the utilization at and above which a window counts as
// out of budget when the caller passes no threshold of its own: the last 2 %
// of a budget are too few to be worth an answer that may well be a 429.
const DefaultThreshold = 0.98

// NoResetHold is how long an exhausted window without a known reset blocks,
// counted from when it was seen; it is also how long such a window is kept
// at all. A provider that says "no budget" but not until when has still
// said "not now", so the credential rests; but a single reading must not
// park a credential for good, and the budgets that come without a reset
// (per-minute request and token windows) are back within a minute. The next
// answer, or a 429 the pool handles, tells more.
const NoResetHold = 60 * time.Second

// Unknown marks a Remaining, Limit or Utilization the provider did not send.
const Unknown = -1.0

// StateVersion is the version written into, and required from, a State's JSON.
const StateVersion = 1

// ErrBadHeaders is wrapped by Check's errors: the report is refused whole.
var ErrBadHeaders = errors.New("bad rate-limit headers")

// ErrBadState is wrapped by the errors of State.UnmarshalJSON.
var ErrBadState = errors.New("bad quota state")
