package quota

import (
	"encoding/json"
	"fmt"
	"slices"
)

// The JSON shape of a State, version 1:
//
//	{"version":1,"windows":[{"key":"openai/tokens","remaining":0,"limit":30000,
//	  "reset_at":1780000000.5,"seen_at":1779999990}, ...]}
//
// model, remaining, limit, utilization, exhausted and reset_at are left out
// when unknown (or false, or ""); a 0 that was sent is written as 0.
type stateJSON struct {
	Version int          `json:"version"`
	Windows []windowJSON `json:"windows"`
}

type windowJSON struct {
	Key         string   `json:"key"`
	Model       string   `json:"model,omitempty"`
	Remaining   *float64 `json:"remaining,omitempty"`
	Limit       *float64 `json:"limit,omitempty"`
	Utilization *float64 `json:"utilization,omitempty"`
	Exhausted   bool     `json:"exhausted,omitempty"`
	ResetAt     float64  `json:"reset_at,omitempty"`
	SeenAt      float64  `json:"seen_at"`
}

// MarshalJSON writes the version-1 shape.
func (s State) MarshalJSON() ([]byte, error) {
	out := stateJSON{Version: StateVersion, Windows: make([]windowJSON, len(s.windows))}
	for i, w := range s.windows {
		out.Windows[i] = windowJSON{
			Key: w.Key, Model: w.Model,
			Remaining: sent(w.Remaining), Limit: sent(w.Limit), Utilization: sent(w.Utilization),
			Exhausted: w.Exhausted, ResetAt: w.ResetAt, SeenAt: w.SeenAt,
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the version-1 shape. It refuses, with an error that
// wraps ErrBadState and names the window and field, another version, more
// than MaxWindows windows, a window twice, and any value Apply would not
// keep; s is then left as it was.
func (s *State) UnmarshalJSON(data []byte) error {
	var in stateJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("quota: state: %w: %w", ErrBadState, err)
	}
	if in.Version != StateVersion {
		return fmt.Errorf("quota: state: version %d, want %d: %w", in.Version, StateVersion, ErrBadState)
	}
	if len(in.Windows) > MaxWindows {
		return fmt.Errorf("quota: state: %d windows, at most %d: %w", len(in.Windows), MaxWindows, ErrBadState)
	}
	windows := make([]Window, len(in.Windows))
	for i, wj := range in.Windows {
		w := Window{
			Key: wj.Key, Model: wj.Model,
			Remaining: orUnknown(wj.Remaining), Limit: orUnknown(wj.Limit), Utilization: orUnknown(wj.Utilization),
			Exhausted: wj.Exhausted, ResetAt: wj.ResetAt, SeenAt: wj.SeenAt,
		}
		// A sent value must be a real one: -1 on disk is not "unknown".
		if err := w.validate(); err != nil || negative(wj.Remaining, wj.Limit, wj.Utilization) {
			if err == nil {
				err = fmt.Errorf("remaining, limit or utilization: negative")
			}
			return fmt.Errorf("quota: state: window %d: %w: %w", i, err, ErrBadState)
		}
		windows[i] = w
	}
	slices.SortFunc(windows, compareWindows)
	for i := 1; i < len(windows); i++ {
		if compareWindows(windows[i-1], windows[i]) == 0 {
			return fmt.Errorf("quota: state: window %s (model %q) given twice: %w", windows[i].Key, windows[i].Model, ErrBadState)
		}
	}
	s.windows = windows
	return nil
}

func sent(x float64) *float64 {
	if x == Unknown {
		return nil
	}
	return &x
}

func orUnknown(p *float64) float64 {
	if p == nil {
		return Unknown
	}
	return *p
}

func negative(ps ...*float64) bool {
	for _, p := range ps {
		if p != nil && *p < 0 {
			return true
		}
	}
	return false
}
