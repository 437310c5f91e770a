package pool

import (
	"slices"
)

// pending is a queued patch and its place in the queue (adds are written in
// the order they were made).
type pending struct {
	Patch
	seq int64
}

// patch returns the pending patch of an entry, creating it. Only the first
// change of an entry between two writes allocates.
func (p *Pool) patch(provider, id string) *Patch {
	k := pkey{provider, id}
	if pt := p.patches[k]; pt != nil {
		return &pt.Patch
	}
	p.seq++
	pt := &pending{Patch: Patch{Provider: provider, ID: id}, seq: p.seq}
	p.patches[k] = pt
	return &pt.Patch
}

func (p *Pool) pendingPatch(provider, id string) *Patch {
	if pt := p.patches[pkey{provider, id}]; pt != nil {
		return &pt.Patch
	}
	return nil
}

// queueCount counts one selection.
func (p *Pool) queueCount(provider, id string) {
	p.patch(provider, id).CountDelta++
}

// queueRemove replaces every pending change of an entry by its removal. An
// entry whose add was never written needs no patch at all.
func (p *Pool) queueRemove(provider, id string) {
	k := pkey{provider, id}
	if pt := p.patches[k]; pt != nil && pt.Add != nil {
		delete(p.patches, k)
		return
	}
	*p.patch(provider, id) = Patch{Provider: provider, ID: id, Urgent: true, Remove: true}
}

// mergePatch folds the newer patch src into dst.
func mergePatch(dst *Patch, src *Patch) {
	if src.Remove {
		*dst = Patch{Provider: dst.Provider, ID: dst.ID, Urgent: true, Remove: true}
		return
	}
	if src.Add != nil {
		dst.Add, dst.Remove = src.Add, false
	}
	if src.Status != nil {
		dst.Status, dst.At, dst.BaseTokens = src.Status, src.At, src.BaseTokens
	}
	if src.Tokens != nil {
		dst.Tokens = src.Tokens
	}
	dst.CountDelta += src.CountDelta
	if src.Priority != nil {
		dst.Priority = src.Priority
	}
	dst.Urgent = dst.Urgent || src.Urgent
}

// Pending reports whether patches wait to be written, and whether any of them
// is urgent.
func (p *Pool) Pending() (pending, urgent bool) {
	for _, pt := range p.patches {
		if pt.Urgent {
			return true, true
		}
	}
	if len(p.patches) > 0 {
		return true, false
	}
	for _, pp := range p.pools {
		if pp.prioDirty {
			return true, false
		}
	}
	return false, false
}

// flushPriorities queues a patch for every priority that round_robin changed.
func (p *Pool) flushPriorities() {
	for _, pp := range p.pools {
		if !pp.prioDirty {
			continue
		}
		pp.prioDirty = false
		for _, e := range pp.byPrio {
			if e.Priority != e.seenPriority {
				pr := e.Priority
				p.patch(pp.name, e.ID).Priority = &pr
			}
		}
	}
}

// TakePatches hands over the pending patches, merged per entry, and forgets
// them. After a failed write, give them back with RestorePatches.
func (p *Pool) TakePatches() []Patch {
	p.flushPriorities()
	if len(p.patches) == 0 {
		return nil
	}
	all := make([]*pending, 0, len(p.patches))
	for _, pt := range p.patches {
		all = append(all, pt)
	}
	slices.SortFunc(all, func(a, b *pending) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	out := make([]Patch, len(all))
	for i, pt := range all {
		out[i] = pt.Patch
		// Tokens and priorities are always applied, so from now on the file
		// holds them: a later difference is another process's doing. A
		// status is not: ApplyPatches drops it when another process
		// re-tokened the row first, and re-auth rule 1 must then compare
		// with the status that process saw, so the seen status is only
		// learnt from the file (Load after the write).
		if pp := p.pools[pt.Provider]; pp != nil {
			if e := pp.byID[pt.ID]; e != nil {
				if pt.Tokens != nil {
					e.seenTokens = *pt.Tokens
				}
				if pt.Priority != nil {
					e.seenPriority = *pt.Priority
				}
			}
		}
	}
	clear(p.patches)
	return out
}

// RestorePatches puts back patches that could not be written, merging them
// with any taken since.
func (p *Pool) RestorePatches(ps []Patch) {
	for i := len(ps) - 1; i >= 0; i-- {
		old := ps[i]
		k := pkey{old.Provider, old.ID}
		p.lowSeq--
		if cur := p.patches[k]; cur != nil {
			mergePatch(&old, &cur.Patch)
			cur.Patch = old
			cur.seq = p.lowSeq
			continue
		}
		p.patches[k] = &pending{Patch: old, seq: p.lowSeq}
	}
}

// ApplyPatches applies this process's patches to the snapshot read from disk
// now, in place (s.Pools is modified). An entry that is no longer on disk is
// never brought back, except by its own Add. Adds need a non-nil s.Pools.
func ApplyPatches(s Snapshot, ps []Patch) {
	type index struct {
		pos     map[string]int
		removed map[int]bool
	}
	idx := map[string]*index{}
	get := func(provider string) *index {
		ix := idx[provider]
		if ix == nil {
			ix = &index{pos: map[string]int{}}
			for i, e := range s.Pools[provider] {
				if _, dup := ix.pos[e.ID]; !dup {
					ix.pos[e.ID] = i
				}
			}
			idx[provider] = ix
		}
		return ix
	}
	for i := range ps {
		pt := &ps[i]
		ix := get(pt.Provider)
		pos, ok := ix.pos[pt.ID]
		if pt.Remove {
			if ok {
				if ix.removed == nil {
					ix.removed = map[int]bool{}
				}
				ix.removed[pos] = true // compacted below, so positions stay valid
				delete(ix.pos, pt.ID)
			}
			continue
		}
		if !ok && pt.Add != nil && s.Pools != nil {
			e := *pt.Add
			e.ID = pt.ID
			s.Pools[pt.Provider] = append(s.Pools[pt.Provider], e)
			pos, ok = len(s.Pools[pt.Provider])-1, true
			ix.pos[pt.ID] = pos
		}
		if !ok {
			continue
		}
		e := &s.Pools[pt.Provider][pos]
		if pt.Tokens != nil {
			e.AccessToken, e.RefreshToken = pt.Tokens.AccessToken, pt.Tokens.RefreshToken
		}
		if pt.Status != nil && e.AccessToken == pt.BaseTokens.AccessToken &&
			e.RefreshToken == pt.BaseTokens.RefreshToken && e.LastStatusAt <= pt.At {
			e.StatusFields = *pt.Status
		}
		e.RequestCount += pt.CountDelta
		if pt.Priority != nil {
			e.Priority = *pt.Priority
		}
	}
	for provider, ix := range idx {
		if len(ix.removed) == 0 {
			continue
		}
		list := s.Pools[provider]
		kept := list[:0]
		for i, e := range list {
			if !ix.removed[i] {
				kept = append(kept, e)
			}
		}
		clear(list[len(kept):])
		s.Pools[provider] = kept
	}
}
