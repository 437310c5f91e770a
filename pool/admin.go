package pool

import (
	"fmt"
	"strconv"
	"strings"
)

// Add adds a manual entry (next priority, fresh 6-hex id).
func (p *Pool) Add(provider string, in NewEntry) (EntryView, []Change, error) {
	token := strings.TrimSpace(in.AccessToken)
	if provider == "" {
		return EntryView{}, nil, fmt.Errorf("pool: add: empty provider: %w", ErrBadInput)
	}
	if token == "" {
		return EntryView{}, nil, fmt.Errorf("pool: add to %q: empty access token: %w", provider, ErrBadInput)
	}
	authType := in.AuthType
	if authType == "" {
		authType = "api_key"
	}
	if authType != "api_key" && authType != "oauth" {
		return EntryView{}, nil, fmt.Errorf("pool: add to %q: auth type %q: %w", provider, authType, ErrBadInput)
	}
	if in.Priority != nil && *in.Priority < 0 {
		return EntryView{}, nil, fmt.Errorf("pool: add to %q: negative priority: %w", provider, ErrBadInput)
	}
	_, now := p.now()
	pp := p.pools[provider]
	if pp == nil {
		pp = newProvPool(provider)
		p.pools[provider] = pp
	}
	prio := 0
	if in.Priority != nil {
		prio = *in.Priority
	} else {
		for _, e := range pp.entries {
			prio = max(prio, e.Priority+1)
		}
	}
	e := &entryState{Entry: Entry{
		ID:           p.newID(pp),
		Label:        strings.TrimSpace(in.Label),
		AuthType:     authType,
		Priority:     prio,
		Source:       "manual",
		AccessToken:  token,
		RefreshToken: strings.TrimSpace(in.RefreshToken),
		BaseURL:      strings.TrimSpace(in.BaseURL),
	}}
	if e.Label == "" {
		e.Label = p.defaultLabel(pp)
	}
	e.seenTokens, e.seenStatus, e.seenPriority = e.tokens(), StatusOK, prio
	pp.entries = append(pp.entries, e)
	pp.reindex()
	row := e.Entry
	pt := p.patch(provider, e.ID)
	pt.Add, pt.Remove, pt.Urgent = &row, false, true
	ch := []Change{{Kind: ChangeAdded, Provider: provider, ID: e.ID, Label: e.Label, At: now, Cause: "admin"}}
	return p.entryView(pp, e, now, p.leaseCounts(now)), ch, nil
}

// newID draws a 6-hex id that no entry of the pool, and no pending patch,
// uses.
func (p *Pool) newID(pp *provPool) string {
	for {
		id := fmt.Sprintf("%06x", p.cfg.Rand.Uint32()&0xffffff)
		if pp.byID[id] == nil && p.patches[pkey{pp.name, id}] == nil {
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
		return nil, fmt.Errorf("pool %q: label %q: %w (ids %s)", pp.name, target, ErrAmbiguousTarget, strings.Join(ids, ", "))
	}
	if n, err := strconv.Atoi(strings.TrimSpace(target)); err == nil && n >= 1 && n <= len(pp.entries) {
		return pp.entries[n-1], nil
	}
	return nil, fmt.Errorf("pool %q: target %q: %w", pp.name, target, ErrNoTarget)
}

// Remove removes the entry that target names (id, exact label
// case-insensitive, or 1-based index). Errors: ErrUnknownPool, ErrNoTarget,
// ErrAmbiguousTarget.
func (p *Pool) Remove(provider, target string) (EntryView, []Change, error) {
	pp := p.pools[provider]
	if pp == nil {
		return EntryView{}, nil, fmt.Errorf("pool: remove from %q: %w", provider, ErrUnknownPool)
	}
	e, err := resolve(pp, target)
	if err != nil {
		return EntryView{}, nil, fmt.Errorf("pool: remove: %w", err)
	}
	_, now := p.now()
	v := p.entryView(pp, e, now, p.leaseCounts(now))
	p.drop(pp, e)
	p.queueRemove(provider, e.ID)
	ch := []Change{{Kind: ChangeRemoved, Provider: provider, ID: e.ID, Label: e.Label, At: now, Cause: "admin"}}
	return v, ch, nil
}

// Reset clears the status of the entry target names, or of every entry when
// target is "". It returns how many entries it reset.
func (p *Pool) Reset(provider, target string) (int, []Change, error) {
	pp := p.pools[provider]
	if pp == nil {
		return 0, nil, fmt.Errorf("pool: reset %q: %w", provider, ErrUnknownPool)
	}
	todo := pp.entries
	if target != "" {
		e, err := resolve(pp, target)
		if err != nil {
			return 0, nil, fmt.Errorf("pool: reset: %w", err)
		}
		todo = []*entryState{e}
	}
	_, now := p.now()
	var ch []Change
	for _, e := range todo {
		if norm(e.LastStatus) != StatusOK {
			ch = append(ch, p.recoverEntry(pp, e, now, "admin"))
		}
	}
	return len(ch), ch, nil
}
