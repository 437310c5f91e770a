package pool

// dirt says what the file lacks of this process's state. The write path
// (Sync) recomputes what to write from a merge with the file as it is then,
// so dirt only has to say whether a write is due and how soon.
type dirt struct {
	urgent, batched bool
	// Bumped by every change, so that a write that started before a change
	// does not clear it (Committed).
	urgentGen, batchGen uint64
}

func (p *Pool) markUrgent() {
	p.dirt.urgent = true
	p.dirt.urgentGen++
}

func (p *Pool) markBatched() {
	p.dirt.batched = true
	p.dirt.batchGen++
}

// Dirty reports whether the file lacks something this process holds, and
// whether any of it is urgent (verdicts, resets, adds, removals, tokens, a
// stale writer to undo) rather than batched (request counts, round-robin
// order, cooldowns ended by time).
func (p *Pool) Dirty() (pending, urgent bool) {
	return p.dirt.urgent || p.dirt.batched, p.dirt.urgent
}

// Marks counts the changes made so far that the file must get at once
// (Dirty's urgent ones). A caller that reads it before and after a call
// knows whether that call left anything to write, and so whether its
// answer has a write to wait for.
func (p *Pool) Marks() uint64 { return p.dirt.urgentGen }

// effective is the place of another writer's timestamp t in the order of
// events on this daemon's clock: t itself, unless it lies more than
// clockSkew ahead; then the moment it was first read, remembered so that
// it keeps that place on every later read. No timestamp can so make a
// verdict impossible to change.
func (e *entryState) effective(t, now float64) (eff float64, clamped bool) {
	if t <= now+clockSkew {
		return t, false
	}
	if v, ok := e.skew[t]; ok {
		return v, true
	}
	if e.skew == nil {
		e.skew = map[float64]float64{}
	}
	e.skew[t] = now
	return now, true
}
