package pool

// Tick does the periodic work: recover ended cooldowns, end expired leases,
// prune manual DEAD entries past the prune TTL, forget old removals and
// ended model cooldowns.
func (p *Pool) Tick() []Change {
	_, now := p.now()
	var changes []Change
	for _, name := range p.sortedNames() {
		pp := p.pools[name]
		var pruned []*entryState
		for _, e := range pp.entries {
			switch {
			case e.LastStatus == StatusExhausted && pp.until(&e.StatusFields) <= now:
				changes = append(changes, p.recoverByTime(pp, e, now))
			case p.pruneAt(e) > 0 && p.pruneAt(e) <= now:
				pruned = append(pruned, e)
			}
			if e.modelMax > 0 && e.modelMax <= now {
				e.ModelCooldowns, e.ModelCooldownObservedAt = nil, nil
				e.modelsChanged()
			}
		}
		for _, e := range pruned {
			p.drop(pp, e)
			p.bury(pp, e, now)
			p.markUrgent()
			changes = append(changes, Change{Kind: ChangePruned, Provider: pp.name, ID: e.ID, Label: e.Label,
				At: now, Code: e.LastErrorCode, Reason: e.LastErrorReason, Cause: "prune"})
		}
	}
	for _, pp := range p.pools {
		pp.pruneQuota(now)
	}
	p.sweepLeases(now)
	p.sweepTombstones(now)
	return p.clean(changes)
}

// pruneAt is when a DEAD manual entry goes, 0 if never. An entry without a
// status time is kept: its age is unknown.
func (p *Pool) pruneAt(e *entryState) float64 {
	if p.cfg.PruneDeadAfter <= 0 || e.LastStatus != StatusDead || e.LastStatusAt <= 0 || !prunable(e.Source) {
		return 0
	}
	return e.LastStatusAt + p.cfg.PruneDeadAfter.Seconds()
}
