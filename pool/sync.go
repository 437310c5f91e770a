package pool

import (
	"maps"
	"slices"
)

// Rows a Sync adds or removes whole, beside the parts of writeBack.
const (
	wbAdd    writeBack = 1 << 6
	wbRemove writeBack = 1 << 7
	// wbRepaired: the row's id was replaced in the snapshot (Repair).
	wbRepaired writeBack = 1 << 8
	// wbSingleton: a provider's singleton tokens were replaced in the
	// snapshot (a refreshed device_code login).
	wbSingleton writeBack = 1 << 9
)

// Commit is what a Sync wrote into its snapshot; hand it to Committed once
// the snapshot is on disk.
type Commit struct {
	rows                []committedRow
	removed             int
	repaired            []string // providers whose duplicate ids were replaced
	urgentGen, batchGen uint64
}

// Wrote reports whether the Sync changed its snapshot.
func (c Commit) Wrote() bool { return len(c.rows) > 0 || c.removed > 0 || len(c.repaired) > 0 }

// committedRow is what the file holds for an entry after the write.
type committedRow struct {
	key             pkey
	status          StatusFields
	count, priority int
}

// Sync is the write path. Called with the file as read under auth.lock, it
// merges the file into the pool as Load does, then writes into s, in place,
// every part the merge says this process holds the truth for: its verdicts
// and resets, its adds and removals, newer token pairs, counts and
// round-robin order, and whatever a stale writer undid. Because what to
// write is decided against the file as it is at that moment, a write that
// fails needs no undo: the next Sync decides again. Call Committed with the
// Commit once s is on disk. s.Pools must not be nil when there are adds.
func (p *Pool) Sync(s Snapshot) (Commit, []Change) {
	pl := plan{}
	changes, _ := p.reconcileAll(s, pl)
	changes = p.clean(changes)
	c := Commit{urgentGen: p.dirt.urgentGen, batchGen: p.dirt.batchGen}
	for name := range p.repairing {
		c.repaired = append(c.repaired, name)
	}
	if len(pl) == 0 {
		return c, changes
	}
	for _, name := range slices.Sorted(maps.Keys(s.Pools)) {
		c.removed += p.applyRemovals(s, name, pl)
	}
	for _, name := range p.sortedNames() {
		pp := p.pools[name]
		rows := s.Pools[name]
		var at map[string]int // first row of each id
		for _, e := range pp.entries {
			r := pl[pkey{name, e.ID}]
			if r == nil {
				continue
			}
			var d *Entry
			if r.wb&wbAdd != 0 {
				row := e.Entry
				if e.external {
					row.AccessToken, row.RefreshToken, row.ExpiresAt, row.LastRefresh = "", "", 0, ""
				}
				row.Extra = maps.Clone(e.Extra)
				row.ModelCooldowns, row.ModelCooldownObservedAt = maps.Clone(e.ModelCooldowns), maps.Clone(e.ModelCooldownObservedAt)
				rows = append(rows, row)
				d = &rows[len(rows)-1]
			} else {
				if at == nil {
					at = firstRows(rows)
				}
				i, ok := at[e.ID]
				if !ok {
					continue
				}
				d = &rows[i]
				e.writeTo(d, r.wb)
			}
			c.rows = append(c.rows, committedRow{key: pkey{name, e.ID}, status: d.StatusFields, count: d.RequestCount, priority: d.Priority})
		}
		if rows != nil || s.Pools[name] != nil {
			s.Pools[name] = rows
		}
	}
	return c, changes
}

// applyRemovals drops the rows of provider that pl removes: entries this
// process removed, still on disk or brought back by a stale writer. It
// returns how many.
func (p *Pool) applyRemovals(s Snapshot, provider string, pl plan) int {
	rows := s.Pools[provider]
	kept := rows[:0]
	for _, d := range rows {
		if r := pl[pkey{provider, d.ID}]; r != nil && r.wb&wbRemove != 0 && p.buried(provider, &d) {
			continue
		}
		kept = append(kept, d)
	}
	removed := len(rows) - len(kept)
	if removed > 0 {
		clear(rows[len(kept):])
		s.Pools[provider] = kept
	}
	return removed
}

func firstRows(rows []Entry) map[string]int {
	at := make(map[string]int, len(rows))
	for i := range rows {
		if _, dup := at[rows[i].ID]; !dup {
			at[rows[i].ID] = i
		}
	}
	return at
}

// Committed records that the Sync that returned c is on disk: what the
// file now holds becomes what this process last saw of it, and the dirt
// that Sync wrote is clean unless something changed since.
func (p *Pool) Committed(c Commit) {
	for _, r := range c.rows {
		if pp := p.pools[r.key.provider]; pp != nil {
			if e := pp.byID[r.key.id]; e != nil {
				e.seenStatus, e.seenCount, e.seenPriority = r.status, r.count, r.priority
				e.addPending = false
			}
		}
	}
	for _, name := range c.repaired {
		delete(p.repairing, name)
	}
	if p.dirt.urgentGen == c.urgentGen {
		p.dirt.urgent = false
	}
	if p.dirt.batchGen == c.batchGen {
		p.dirt.batched = false
	}
}
