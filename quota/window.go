package quota

import (
	"fmt"
	"math"
	"strings"
)

// Window is a provider's last word on one budget of one credential.
type Window struct {
	// Key names the budget: family/window, e.g. openai/requests,
	// anthropic/input-tokens, anthropic-unified/5h, anthropic-unified/status
	// (the verdict on the whole answer), codex/primary, http/retry-after.
	Key string
	// Model is the model family the budget applies to ("sonnet",
	// "gpt-5.3-codex-spark"); "" means every model.
	Model string
	// Remaining and Limit are units (requests, tokens) left and per window;
	// Utilization is the fraction used, 0..1. Each is Unknown when not sent.
	Remaining, Limit, Utilization float64
	// Exhausted is the provider's own "no": unified status rejected, or a
	// Retry-After.
	Exhausted bool
	// ResetAt is when the budget refills, epoch seconds; 0 when not sent.
	ResetAt float64
	// SeenAt is when the answer that carried it came, epoch seconds.
	SeenAt float64
}

// end is when the window stops counting: its reset, or NoResetHold after it
// was seen when the provider gave no reset.
func (w *Window) end() float64 {
	if w.ResetAt > 0 {
		return w.ResetAt
	}
	return w.SeenAt + NoResetHold.Seconds()
}

// used is the fraction of the budget spent: the provider's utilization, or
// what remaining and limit imply; Unknown when neither says.
func (w *Window) used() float64 {
	if w.Utilization != Unknown {
		return w.Utilization
	}
	if w.Remaining != Unknown && w.Limit > 0 {
		return 1 - math.Min(w.Remaining/w.Limit, 1)
	}
	return Unknown
}

// thresholdSlack absorbs float rounding: 1 - 34/100 is a hair under 0.66
// in float64, yet 34 left of 100 is at a threshold of 0.66.
const thresholdSlack = 1e-9

// out reports whether the window says "no budget" at threshold th. A limit
// of 0 alone is not "no budget": some servers send it for "no limit set".
func (w *Window) out(th float64) bool {
	if w.Exhausted || w.Remaining == 0 {
		return true
	}
	u := w.used()
	return u != Unknown && u+thresholdSlack >= th
}

// left is the fraction of budget left, when the window says.
func (w *Window) left() (float64, bool) {
	if w.Exhausted || w.Remaining == 0 {
		return 0, true
	}
	if u := w.used(); u != Unknown {
		return 1 - u, true
	}
	return 0, false
}

// appliesTo reports whether a window scoped to family counts for a selection
// of model. A family applies when it stands in the model name as whole
// words ("sonnet" in "claude-sonnet-4-5", case-insensitive). An unscoped
// window applies to every model, and every window applies when the caller
// does not know the model ("").
func appliesTo(family, model string) bool {
	if family == "" || model == "" {
		return true
	}
	for i := 0; i+len(family) <= len(model); i++ {
		j := i + len(family)
		if (i == 0 || isSep(model[i-1])) && (j == len(model) || isSep(model[j])) &&
			strings.EqualFold(model[i:j], family) {
			return true
		}
	}
	return false
}

// validate says which field of w, if any, cannot be kept. The messages
// name fields, never values.
func (w *Window) validate() error {
	switch {
	case len(w.Key) == 0 || len(w.Key) > maxKeyBytes || !printable(w.Key):
		return fmt.Errorf("key: empty, longer than %d bytes or not printable ASCII", maxKeyBytes)
	case len(w.Model) > maxModelBytes || !printable(w.Model):
		return fmt.Errorf("model: longer than %d bytes or not printable ASCII", maxModelBytes)
	case !count(w.Remaining):
		return fmt.Errorf("remaining: not a finite number >= 0")
	case !count(w.Limit):
		return fmt.Errorf("limit: not a finite number >= 0")
	case w.Utilization != Unknown && !(w.Utilization >= 0 && w.Utilization <= 1):
		return fmt.Errorf("utilization: not within 0..1")
	case w.ResetAt != 0 && !validTime(w.ResetAt):
		return fmt.Errorf("reset_at: not a time after 1970 and before 9999")
	case !validTime(w.SeenAt):
		return fmt.Errorf("seen_at: not a time after 1970 and before 9999")
	}
	return nil
}

func count(x float64) bool {
	return x == Unknown || (x >= 0 && !math.IsInf(x, 1))
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
