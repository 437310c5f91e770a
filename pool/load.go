package pool

import (
	"fmt"
	"slices"
	"strings"
)

// Load reconciles the pool with what is on disk now (the first call loads
// it), by the merge rules of docs/DESIGN.md: entries added or removed by
// others appear and disappear, verdicts merge per token generation, fresh
// tokens end DEAD and EXHAUSTED, and whatever a stale writer undid is kept
// here and marked for writing back (Dirty, then Sync). The returned changes
// have Cause "file", "reauth" or "ttl". The first call reports no
// "entry.added": it loads, nothing was added.
func (p *Pool) Load(s Snapshot) []Change {
	changes, _ := p.reconcileAll(s, nil)
	return p.clean(changes)
}

// rowRef is what a merge wants written to the row of one entry (e is nil
// for a row to remove).
type rowRef struct {
	e  *entryState
	wb writeBack
}

// plan is a Sync's rows to write, by entry.
type plan map[pkey]*rowRef

func (pl plan) add(provider string, e *entryState, wb writeBack) {
	if pl == nil || wb == 0 {
		return
	}
	k := pkey{provider, e.ID}
	if r := pl[k]; r != nil {
		r.wb |= wb
		return
	}
	pl[k] = &rowRef{e: e, wb: wb}
}

// reconcileAll merges the snapshot into the pool. With plan non-nil it
// also records, per entry, what the row must be given (Sync); without, it
// only marks the pool dirty.
func (p *Pool) reconcileAll(s Snapshot, pl plan) ([]Change, bool) {
	_, now := p.now()
	first := !p.loaded
	p.loaded = true
	var changes []Change
	urgentAll := false

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
			pp = p.newProvPool(name)
			p.pools[name] = pp
		}
		var urgent bool
		changes, urgent = p.reconcile(pp, disk, first, now, changes, pl)
		urgentAll = urgentAll || urgent
		if !onDisk && len(pp.entries) == 0 {
			delete(p.pools, name)
			continue
		}
		prev, known := p.singletons[name]
		cur := s.Singletons[name].Tokens
		if !known {
			prev = cur
		}
		var back *Tokens
		changes, back = p.followSingleton(pp, prev, cur, now, changes, pl)
		if back != nil && pl != nil && s.Singletons != nil {
			// We refreshed the login the singleton holds: Hermes looks
			// for the new pair there.
			s.Singletons[name] = Singleton{Tokens: *back}
			pl[pkey{name, ""}] = &rowRef{wb: wbSingleton}
		}
	}
	for name, sg := range s.Singletons {
		if sg.AccessToken != "" {
			p.singletons[name] = sg.Tokens
		}
	}
	return changes, urgentAll
}

// reconcile brings one provider's entries in line with the disk rows.
func (p *Pool) reconcile(pp *provPool, disk []Entry, first bool, now float64, changes []Change, pl plan) ([]Change, bool) {
	onDisk := make(map[string]bool, len(disk))
	next := make([]*entryState, 0, len(disk))
	pp.problems = pp.problems[:0]
	pp.unreadable = pp.unreadable[:0]
	anyUrgent := false
	note := func(e *entryState, wb writeBack, urgent bool) {
		if wb == 0 {
			return
		}
		pl.add(pp.name, e, wb)
		if urgent {
			anyUrgent = true
			p.markUrgent()
		} else {
			p.markBatched()
		}
	}
	for i := range disk {
		d := &disk[i]
		if onDisk[d.ID] {
			if pl == nil || !p.repairing[pp.name] {
				// The first row speaks for an id; a hand-copied duplicate
				// is never handed out, and health and status say so.
				pp.problems = append(pp.problems, Problem{Provider: pp.name, Index: i + 1, ID: d.ID,
					What: fmt.Sprintf("duplicate id %s: this row is ignored (`credpool repair %s` gives it an id of its own)", d.ID, pp.name)})
				continue
			}
			// Repair: the row gets an id of its own, written with this Sync.
			taken := make(map[string]bool, len(disk))
			for j := range disk {
				taken[disk[j].ID] = true
			}
			d.ID = p.newID(pp, taken)
			pl[pkey{pp.name, d.ID}] = &rowRef{wb: wbRepaired}
		}
		onDisk[d.ID] = true
		if len(d.Unreadable) > 0 {
			pp.unreadable = append(pp.unreadable, Problem{Provider: pp.name, Index: i + 1, ID: d.ID,
				What: fmt.Sprintf("unreadable %s: the row is kept as it is and not handed out", strings.Join(d.Unreadable, ", "))})
		}
		e := pp.byID[d.ID]
		if e != nil && e.addPending && tokensOf(d) != e.tokens() {
			// Another writer took the id we drew for an entry we are
			// adding: ours moves to a fresh one.
			delete(pp.byID, e.ID)
			e.ID = p.newID(pp, nil)
			pp.byID[e.ID] = e
			e = nil
		}
		if e == nil {
			if p.buried(pp.name, d) {
				// A stale writer brought back an entry we removed.
				if pl != nil {
					pl[pkey{pp.name, d.ID}] = &rowRef{wb: wbRemove}
				}
				anyUrgent = true
				p.markUrgent()
				continue
			}
			var wb writeBack
			e, wb = p.adoptRow(pp, d, now)
			note(e, wb, true)
			if !first {
				changes = append(changes, Change{Kind: ChangeAdded, Provider: pp.name, ID: e.ID,
					Label: e.Label, At: now, Cause: "file"})
			}
		} else {
			e.addPending = false
			var wb writeBack
			var urgent bool
			wb, urgent, changes = p.mergeRow(pp, e, d, now, changes)
			note(e, wb, urgent)
		}
		next = append(next, e)
	}
	for _, e := range pp.entries {
		if onDisk[e.ID] {
			continue
		}
		if e.addPending {
			next = append(next, e) // ours, not written yet
			pl.add(pp.name, e, wbAdd)
			continue
		}
		p.dropLeases(pp, e) // entries and indexes are rebuilt below
		changes = append(changes, Change{Kind: ChangeRemoved, Provider: pp.name, ID: e.ID,
			Label: e.Label, At: now, Cause: "file"})
	}
	pp.entries = next
	pp.reindex()
	return changes, anyUrgent
}

func tokensOf(e *Entry) Tokens {
	return Tokens{AccessToken: e.AccessToken, RefreshToken: e.RefreshToken}
}

// followSingleton applies rules 2 and 3: device_code entries follow the
// provider's singleton; manual:device_code entries follow it only when they
// held the previous singleton token (an alias). Entries with their own
// token material are independent accounts and are left alone, and a
// singleton that holds a pair the entry has replaced is stale: then back
// is the pair to write into it (a device_code entry this process
// refreshed).
func (p *Pool) followSingleton(pp *provPool, prev, cur Tokens, now float64, changes []Change, pl plan) (_ []Change, back *Tokens) {
	if cur.AccessToken == "" {
		return changes, nil
	}
	adopted := false
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
		if e.replaced(cur) {
			if e.Source == "device_code" && back == nil {
				t := e.tokens()
				back = &t
			}
			continue
		}
		p.takePair(e, cur, 0)
		e.ModelCooldowns, e.ModelCooldownObservedAt = nil, nil
		e.modelsChanged()
		adopted = true
		wb := wbTokens
		if norm(e.LastStatus) != StatusOK {
			e.StatusFields, e.verdictAt = StatusFields{}, 0
			wb |= wbStatus
			changes = append(changes, Change{Kind: ChangeRecovered, Provider: pp.name, ID: e.ID, Label: e.Label,
				At: now, Reason: recoverReason("reauth"), Cause: "reauth"})
		}
		p.markUrgent()
		pl.add(pp.name, e, wb|wbModels)
	}
	if adopted {
		pp.reindexTokens()
		pp.statusesChanged()
	}
	return changes, back
}
