package pool

import (
	"maps"
	"slices"
)

// Load reconciles the pool with what is on disk now (the first call loads it).
// Entries added or removed by others appear and disappear; statuses set by
// others are taken unless this process holds a pending status patch for that
// entry; fresh tokens end DEAD and EXHAUSTED by the re-auth rules of DESIGN §2
// (and queue patches that write the cleared status back). The returned
// changes have Cause "file" or "reauth". The first call reports no
// "entry.added": it loads, nothing was added.
func (p *Pool) Load(s Snapshot) []Change {
	_, now := p.now()
	first := !p.loaded
	p.loaded = true
	var changes []Change

	names := make([]string, 0, len(s.Pools)+len(p.pools))
	for n := range s.Pools {
		names = append(names, n)
	}
	for n := range p.pools {
		if _, ok := s.Pools[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)

	for _, name := range names {
		disk, onDisk := s.Pools[name]
		pp := p.pools[name]
		if pp == nil {
			pp = newProvPool(name)
			p.pools[name] = pp
		}
		changes = p.reconcile(pp, disk, first, now, changes)
		if !onDisk && len(pp.entries) == 0 {
			delete(p.pools, name)
			continue
		}
		prev, known := p.singletons[name]
		cur := s.Singletons[name].Tokens
		if !known {
			prev = cur
		}
		changes = p.followSingleton(pp, prev, cur, now, changes)
	}
	for name, sg := range s.Singletons {
		if sg.AccessToken != "" {
			p.singletons[name] = sg.Tokens
		}
	}
	return changes
}

// reconcile brings one provider's entries in line with the disk rows.
func (p *Pool) reconcile(pp *provPool, disk []Entry, first bool, now float64, changes []Change) []Change {
	onDisk := make(map[string]bool, len(disk))
	next := make([]*entryState, 0, len(disk))
	for i := range disk {
		d := &disk[i]
		if onDisk[d.ID] {
			continue // a duplicate id: the first row speaks for it
		}
		onDisk[d.ID] = true
		e := pp.byID[d.ID]
		if e == nil {
			if pt := p.pendingPatch(pp.name, d.ID); pt != nil && pt.Remove {
				continue // we removed it; the write is on its way
			}
			e = &entryState{Entry: *d, seenTokens: tokensOf(d), seenStatus: norm(d.LastStatus), seenPriority: d.Priority}
			e.Extra = maps.Clone(d.Extra)
			if !first {
				changes = append(changes, Change{Kind: ChangeAdded, Provider: pp.name, ID: e.ID,
					Label: e.Label, At: now, Cause: "file"})
			}
		} else {
			changes = p.mergeRow(pp, e, d, now, changes)
		}
		next = append(next, e)
	}
	for _, e := range pp.entries {
		if onDisk[e.ID] {
			continue
		}
		if pt := p.pendingPatch(pp.name, e.ID); pt != nil && pt.Add != nil {
			next = append(next, e) // ours, not written yet
			continue
		}
		p.dropLeases(pp, e) // entries and indexes are rebuilt below
		delete(p.patches, pkey{pp.name, e.ID})
		changes = append(changes, Change{Kind: ChangeRemoved, Provider: pp.name, ID: e.ID,
			Label: e.Label, At: now, Cause: "file"})
	}
	pp.entries = next
	pp.reindex()
	return changes
}

func tokensOf(e *Entry) Tokens {
	return Tokens{AccessToken: e.AccessToken, RefreshToken: e.RefreshToken}
}

// mergeRow takes a disk row into an entry this process already knows.
func (p *Pool) mergeRow(pp *provPool, e *entryState, d *Entry, now float64, changes []Change) []Change {
	pt := p.pendingPatch(pp.name, e.ID)
	had := e.LastStatus
	ourPrio, keepPrio := p.pendingPriority(pp, e)
	e.seenPriority = d.Priority
	diskTokens := tokensOf(d)
	if diskTokens != e.seenTokens {
		// Rule 1: another process rewrote the row with new tokens. Take it;
		// our pending marks were about the old tokens.
		seen := e.seenStatus
		e.Entry = *d
		e.Extra = maps.Clone(d.Extra)
		e.seenTokens, e.seenStatus, e.seenPriority = diskTokens, norm(d.LastStatus), d.Priority
		if pt != nil {
			pt.Status, pt.Tokens = nil, nil
			e.RequestCount += pt.CountDelta
		}
		if keepPrio {
			e.Priority = ourPrio
		}
		if st := norm(d.LastStatus); st != StatusOK && st == seen {
			// The writer left the old status: the new tokens end it.
			return append(changes, p.recoverEntry(pp, e, now, "reauth"))
		}
		if norm(had) != norm(e.LastStatus) {
			changes = append(changes, statusChange(pp.name, e, now, "file"))
		}
		return changes
	}
	e.Label, e.AuthType, e.Source, e.BaseURL, e.ExpiresAt = d.Label, d.AuthType, d.Source, d.BaseURL, d.ExpiresAt
	e.Extra = maps.Clone(d.Extra)
	e.seenStatus = norm(d.LastStatus)
	e.RequestCount, e.Priority = d.RequestCount, d.Priority
	if pt == nil || pt.Tokens == nil {
		e.AccessToken, e.RefreshToken = d.AccessToken, d.RefreshToken
	}
	if pt != nil {
		e.RequestCount += pt.CountDelta
	}
	if keepPrio {
		e.Priority = ourPrio
	}
	if pt == nil || pt.Status == nil {
		e.StatusFields = d.StatusFields
		if norm(had) != norm(e.LastStatus) {
			changes = append(changes, statusChange(pp.name, e, now, "file"))
		}
	}
	return changes
}

// followSingleton applies rules 2 and 3: device_code entries follow the
// provider's singleton; manual:device_code entries follow it only when they
// held the previous singleton token (an alias). Entries with their own token
// material are independent accounts and are left alone.
func (p *Pool) followSingleton(pp *provPool, prev, cur Tokens, now float64, changes []Change) []Change {
	if cur.AccessToken == "" {
		return changes
	}
	adopted := false
	defer func() {
		if adopted {
			pp.reindexTokens()
		}
	}()
	for _, e := range pp.entries {
		if e.AccessToken == cur.AccessToken {
			continue
		}
		switch {
		case e.Source == "device_code":
		case e.Source == "manual:device_code" && prev.AccessToken != "" && e.AccessToken == prev.AccessToken:
		default:
			continue
		}
		e.AccessToken, e.RefreshToken = cur.AccessToken, cur.RefreshToken
		adopted = true
		pt := p.patch(pp.name, e.ID)
		tk := cur
		pt.Tokens, pt.Urgent = &tk, true
		if norm(e.LastStatus) != StatusOK {
			changes = append(changes, p.recoverEntry(pp, e, now, "reauth"))
		}
	}
	return changes
}
