package pool

import (
	"fmt"
	"strconv"
	"strings"
)

// Add adds a manual entry (next priority, fresh 6-hex id).
func (p *Pool) Add(provider string, in NewEntry) (EntryView, []Change, error) {
	if err := ValidProvider(provider); err != nil {
		return EntryView{}, nil, err // it says "pool: provider name ...": no second prefix
	}
	fail := func(format string, args ...any) (EntryView, []Change, error) {
		return EntryView{}, nil, fmt.Errorf("pool: add to %s: "+format, append([]any{Quote(provider)}, args...)...)
	}
	token := strings.TrimSpace(in.AccessToken)
	if token == "" {
		return fail("empty access token: %w", ErrBadInput)
	}
	refresh := strings.TrimSpace(in.RefreshToken)
	label := strings.TrimSpace(in.Label)
	baseURL := strings.TrimSpace(in.BaseURL)
	for _, err := range []error{
		validToken("access token", token),
		validToken("refresh token", refresh),
		validLabel(label),
	} {
		if err != nil {
			return fail("%w", err)
		}
	}
	if baseURL != "" {
		if err := validBaseURL(baseURL); err != nil {
			return fail("%w", err)
		}
	}
	authType := in.AuthType
	if authType == "" {
		authType = "api_key"
	}
	if authType != "api_key" && authType != "oauth" {
		return fail("auth type %s: want api_key or oauth: %w", Quote(authType), ErrBadInput)
	}
	if in.Priority != nil && (*in.Priority < 0 || *in.Priority > MaxSafeInt) {
		return fail("priority must be between 0 and 2^53: %w", ErrBadInput)
	}
	_, now := p.now()
	pp := p.pools[provider]
	if pp == nil {
		pp = p.newProvPool(provider)
		p.pools[provider] = pp
	}
	prio := 0
	if in.Priority != nil {
		prio = *in.Priority
	} else {
		for _, e := range pp.entries {
			prio = max(prio, e.Priority+1)
		}
		if prio > MaxSafeInt {
			return fail("the next priority would pass 2^53; give --priority: %w", ErrBadInput)
		}
	}
	e := &entryState{Entry: Entry{
		ID:           p.newID(pp, nil),
		Label:        label,
		AuthType:     authType,
		Priority:     prio,
		Source:       "manual",
		AccessToken:  token,
		RefreshToken: refresh,
		BaseURL:      baseURL,
	}, addPending: true}
	e.tokensChanged()
	if e.Label == "" {
		e.Label = p.defaultLabel(pp)
	}
	e.seenPriority = prio
	pp.entries = append(pp.entries, e)
	pp.reindex()
	p.markUrgent()
	ch := []Change{{Kind: ChangeAdded, Provider: provider, ID: e.ID, Label: e.Label, At: now, Cause: "admin"}}
	return p.entryView(pp, e, now, p.leaseCounts(now)), ch, nil
}

// newID draws a 6-hex id that no entry of the pool, no tombstone and no id
// in taken uses.
func (p *Pool) newID(pp *provPool, taken map[string]bool) string {
	for {
		id := fmt.Sprintf("%06x", p.cfg.Rand.Uint32()&0xffffff)
		if _, buried := p.tombstones[pkey{pp.name, id}]; pp.byID[id] == nil && !buried && !taken[id] {
			return id
		}
	}
}

// defaultLabel is "<provider>-<n>" with the first n no label of the pool
// uses, so that labels stay usable as targets.
func (p *Pool) defaultLabel(pp *provPool) string {
	for n := len(pp.entries) + 1; ; n++ {
		l := pp.name + "-" + strconv.Itoa(n)
		if !p.labelTaken(pp, l) {
			return l
		}
	}
}

func (p *Pool) labelTaken(pp *provPool, label string) bool {
	for _, e := range pp.entries {
		if strings.EqualFold(e.Label, label) {
			return true
		}
	}
	return false
}

// resolve finds the entry a target names: exact id, else exact label
// (case-insensitive, must be unique), else 1-based index in file order.
func resolve(pp *provPool, target string) (*entryState, error) {
	if e := pp.byID[target]; e != nil {
		return e, nil
	}
	var hits []*entryState
	for _, e := range pp.entries {
		if strings.EqualFold(e.Label, target) {
			hits = append(hits, e)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
	default:
		ids := make([]string, len(hits))
		for i, e := range hits {
			ids[i] = e.ID
		}
		return nil, fmt.Errorf("label %s: %w (ids %s)", Quote(target), ErrAmbiguousTarget, strings.Join(ids, ", "))
	}
	if n, err := strconv.Atoi(strings.TrimSpace(target)); err == nil && n >= 1 && n <= len(pp.entries) {
		return pp.entries[n-1], nil
	}
	return nil, fmt.Errorf("target %s: %w", Quote(target), ErrNoTarget)
}

// Remove removes the entry that target names (id, exact label
// case-insensitive, or 1-based index). Errors: ErrUnknownPool, ErrNoTarget,
// ErrAmbiguousTarget.
func (p *Pool) Remove(provider, target string) (EntryView, []Change, error) {
	pp := p.pools[provider]
	if pp == nil {
		return EntryView{}, nil, fmt.Errorf("pool: remove from %s: %w", Quote(provider), ErrUnknownPool)
	}
	e, err := resolve(pp, target)
	if err != nil {
		return EntryView{}, nil, fmt.Errorf("pool: remove from %s: %w", Quote(provider), err)
	}
	_, now := p.now()
	v := p.entryView(pp, e, now, p.leaseCounts(now))
	p.drop(pp, e)
	if !e.addPending {
		p.bury(pp, e, now)
	}
	p.markUrgent()
	ch := []Change{{Kind: ChangeRemoved, Provider: provider, ID: e.ID, Label: e.Label, At: now, Cause: "admin"}}
	return v, ch, nil
}

// Reset ends the verdicts (cooldown, DEAD, model cooldowns) of the entry
// target names, or of every entry when target is "". It is a deliberate
// reset: status_cleared_at is written, and every verdict observed before it
// is void, whoever holds it. It returns how many entries had one.
func (p *Pool) Reset(provider, target string) (int, []Change, error) {
	pp := p.pools[provider]
	if pp == nil {
		return 0, nil, fmt.Errorf("pool: reset %s: %w", Quote(provider), ErrUnknownPool)
	}
	todo := pp.entries
	if target != "" {
		e, err := resolve(pp, target)
		if err != nil {
			return 0, nil, fmt.Errorf("pool: reset %s: %w", Quote(provider), err)
		}
		todo = []*entryState{e}
	}
	_, now := p.now()
	var ch []Change
	for _, e := range todo {
		had := norm(e.LastStatus) != StatusOK || len(e.ModelCooldowns) > 0
		e.StatusFields, e.verdictAt, e.endedAt = StatusFields{}, 0, 0
		e.ModelCooldowns, e.ModelCooldownObservedAt = nil, nil
		e.modelsChanged()
		e.StatusClearedAt = max(now, e.StatusClearedAt)
		if had {
			ch = append(ch, Change{Kind: ChangeRecovered, Provider: pp.name, ID: e.ID, Label: e.Label,
				At: now, Reason: recoverReason("admin"), Cause: "admin"})
		}
	}
	pp.statusesChanged()
	p.markUrgent()
	return len(ch), ch, nil
}

// Repair gives every row of provider that repeats an earlier row's id an
// id of its own at the next Sync, so that it is shown, counted and handed
// out again. It returns how many rows will get one.
func (p *Pool) Repair(provider string) (int, error) {
	pp := p.pools[provider]
	if pp == nil {
		return 0, fmt.Errorf("pool: repair %s: %w", Quote(provider), ErrUnknownPool)
	}
	if len(pp.problems) == 0 {
		return 0, nil
	}
	if p.repairing == nil {
		p.repairing = map[string]bool{}
	}
	p.repairing[provider] = true
	p.markUrgent()
	return len(pp.problems), nil
}
