package pool

import (
	"fmt"
	"strings"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/tokeninfo"
)

// OAuth: an access token that has expired is never handed out, and the
// daemon's refresher asks the pool which entries to refresh and tells it
// how each refresh went. A successful refresh is a new token generation:
// like a re-login, it ends every verdict observed on the old pair, and the
// old pair is remembered as replaced so a stale writer cannot bring it
// back.

// ChangeRefreshed and ChangeRefreshFailed are the refresher's events.
const (
	ChangeRefreshed     ChangeKind = "entry.refreshed"
	ChangeRefreshFailed ChangeKind = "entry.refresh_failed"
)

// tokensChanged recomputes what derives from e's tokens and expiry.
func (e *entryState) tokensChanged() {
	e.exp, _ = tokeninfo.Expiry(e.ExpiresAt, 0, e.AccessToken)
}

// expired reports whether e's access token has expired (an unknown expiry
// never has).
func (e *entryState) expired(now float64) bool { return e.exp > 0 && e.exp <= now }

// RefreshCandidate is an OAuth entry the refresher may refresh.
type RefreshCandidate struct {
	Provider, ID, Source string
	Tokens               Tokens
	// ExpiresAt is when the access token expires (0 unknown).
	ExpiresAt float64
	// Wanted: a 401 asked for a refresh now, whatever the expiry.
	Wanted bool
	// External: the tokens belong to another tool's login file.
	External bool
	// Extra carries what a provider needs beside the tokens (nous's
	// portal_base_url), as the file holds it.
	Extra map[string]string
}

// RefreshCandidates lists the entries that hold a refresh token and are
// not DEAD, in a stable order.
func (p *Pool) RefreshCandidates() []RefreshCandidate {
	var out []RefreshCandidate
	for _, name := range p.sortedNames() {
		for _, e := range p.pools[name].entries {
			if e.RefreshToken == "" || e.LastStatus == StatusDead || len(e.Unreadable) > 0 {
				continue
			}
			c := RefreshCandidate{Provider: name, ID: e.ID, Source: e.Source, Tokens: e.tokens(),
				ExpiresAt: e.exp, Wanted: e.refreshWanted, External: e.external}
			if raw, ok := e.Extra["portal_base_url"]; ok {
				c.Extra = map[string]string{"portal_base_url": strings.Trim(string(raw), `" `)}
			}
			out = append(out, c)
		}
	}
	return out
}

// WantRefresh asks for a refresh of an OAuth entry now (a 401 without a
// terminal reason says its access token may be stale).
func (p *Pool) WantRefresh(provider, id string) {
	if e := p.entry(provider, id); e != nil && e.RefreshToken != "" {
		e.refreshWanted = true
	}
}

// RefreshStarted records that a refresh of the entry is in flight.
func (p *Pool) RefreshStarted(provider, id string) {
	if e := p.entry(provider, id); e != nil {
		e.refreshing = true
	}
}

// RefreshEnded records that a refresh that was started did not happen (the
// lock was busy); the entry stays as it was.
func (p *Pool) RefreshEnded(provider, id string) {
	if e := p.entry(provider, id); e != nil {
		e.refreshing = false
	}
}

// Refreshing reports whether a refresh of an entry of provider is in
// flight: a select that finds nothing available may wait for it.
func (p *Pool) Refreshing(provider string) bool {
	if pp := p.pools[provider]; pp != nil {
		for _, e := range pp.entries {
			if e.refreshing {
				return true
			}
		}
	}
	return false
}

// Refreshed is a successful refresh of the pair old into res. Every entry
// holding old takes the new pair (an alias of a singleton refreshes with
// it). If the entry no longer holds old (another process rotated it first),
// nothing changes and ErrStale is returned: the new pair was not needed.
func (p *Pool) Refreshed(provider, id string, old Tokens, res Tokens, expiresAt float64) ([]Change, error) {
	pp := p.pools[provider]
	e := p.entry(provider, id)
	if e == nil {
		return nil, fmt.Errorf("pool: refreshed %s/%s: %w", provider, id, ErrNoTarget)
	}
	if e.tokens() != old {
		e.refreshing, e.refreshWanted = false, false
		return nil, fmt.Errorf("pool: refreshed %s/%s: %w", provider, id, ErrStale)
	}
	_, now := p.now()
	var changes []Change
	for _, x := range slicesClone(pp.holders(e)) {
		if x.tokens() != old {
			continue
		}
		p.takePair(x, res, expiresAt)
		x.LastRefresh = epoch.ISO(now)
		x.refreshing = false
		if norm(x.LastStatus) != StatusOK || len(x.ModelCooldowns) > 0 {
			x.StatusFields, x.verdictAt = StatusFields{}, 0
			x.ModelCooldowns, x.ModelCooldownObservedAt = nil, nil
			x.modelsChanged()
			changes = append(changes, Change{Kind: ChangeRecovered, Provider: provider, ID: x.ID, Label: x.Label,
				At: now, Reason: "refresh", Cause: "refresh"})
		}
		changes = append(changes, Change{Kind: ChangeRefreshed, Provider: provider, ID: x.ID, Label: x.Label,
			At: now, Until: x.exp, Cause: "refresh"})
	}
	pp.reindexTokens()
	pp.statusesChanged()
	p.markUrgent()
	return changes, nil
}

// RefreshFailure is how a refresh failed.
type RefreshFailure struct {
	// Terminal: the refresh token is dead (invalid_grant,
	// refresh_token_reused, ...): the entry is DEAD with Reason.
	Terminal bool
	Status   int    // HTTP status of the token endpoint's answer, 0 for none
	Reason   string // the provider's OAuth error code, or what went wrong
}

// RefreshFailed records a failed refresh of the pair old. A terminal one
// makes every entry holding old DEAD; any other leaves the entry usable
// while its access token is valid and is shown in status.
func (p *Pool) RefreshFailed(provider, id string, old Tokens, f RefreshFailure) []Change {
	pp := p.pools[provider]
	e := p.entry(provider, id)
	if e == nil {
		return nil
	}
	e.refreshing, e.refreshWanted = false, false
	if e.tokens() != old {
		return nil // rotated by another process meanwhile
	}
	_, now := p.now()
	reason := p.redactor().String(truncateRunes(f.Reason, 200))
	changes := []Change{{Kind: ChangeRefreshFailed, Provider: provider, ID: e.ID, Label: e.Label,
		At: now, Code: f.Status, Reason: reason, Cause: "refresh"}}
	if !f.Terminal {
		e.refreshErr = reason
		return changes
	}
	sf := StatusFields{LastStatus: StatusDead, LastStatusAt: now, LastErrorCode: 401, LastErrorReason: reason,
		LastErrorMessage: "the token endpoint refused the refresh token; log in again"}
	for _, x := range pp.holders(e) {
		if x.tokens() != old {
			continue
		}
		x.refreshErr = reason
		p.setStatus(pp, x, sf, now)
		changes = append(changes, Change{Kind: ChangeDead, Provider: provider, ID: x.ID, Label: x.Label,
			At: now, Code: 401, Reason: reason, Cause: "refresh"})
	}
	return changes
}

func (p *Pool) entry(provider, id string) *entryState {
	if pp := p.pools[provider]; pp != nil {
		return pp.byID[id]
	}
	return nil
}

func slicesClone(s []*entryState) []*entryState { return append([]*entryState(nil), s...) }

// Holds reports whether the entry holds the pair t now, and whether t is
// a pair it has replaced (a file still showing it is behind, not ahead).
func (p *Pool) Holds(provider, id string, t Tokens) (current, replaced bool) {
	e := p.entry(provider, id)
	if e == nil {
		return false, false
	}
	return e.tokens() == t, e.replaced(t)
}
