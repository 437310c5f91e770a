package pool

import (
	"maps"
	"slices"
)

// writeBack says which parts of an entry the file must be given after a
// merge: the parts where this process holds the truth.
type writeBack uint16

const (
	wbTokens   writeBack = 1 << iota // the token pair, with its expiry and last_refresh
	wbStatus                         // the verdict: the status fields
	wbCleared                        // status_cleared_at
	wbModels                         // model_cooldowns and model_cooldown_observed_at
	wbCount                          // request_count
	wbPriority                       // priority (round-robin order)
)

// writeTo copies the parts wb names from e into the file's row d.
func (e *entryState) writeTo(d *Entry, wb writeBack) {
	switch {
	case wb&wbTokens != 0 && e.external:
		// Never a borrowed login's secret: only which login it is.
		d.SecretFingerprint = e.SecretFingerprint
	case wb&wbTokens != 0:
		d.AccessToken, d.RefreshToken, d.ExpiresAt, d.LastRefresh = e.AccessToken, e.RefreshToken, e.ExpiresAt, e.LastRefresh
	}
	if wb&wbStatus != 0 {
		d.StatusFields = e.StatusFields
	}
	if wb&wbCleared != 0 {
		d.StatusClearedAt = e.StatusClearedAt
	}
	if wb&wbModels != 0 {
		d.ModelCooldowns, d.ModelCooldownObservedAt = maps.Clone(e.ModelCooldowns), maps.Clone(e.ModelCooldownObservedAt)
	}
	if wb&wbCount != 0 {
		d.RequestCount = e.RequestCount
	}
	if wb&wbPriority != 0 {
		d.Priority = e.Priority
	}
}

// adoptRow makes the state of an entry this process meets first in the
// file. Only the clock rules can make it write anything back.
func (p *Pool) adoptRow(pp *provPool, d *Entry, now float64) (*entryState, writeBack) {
	e := &entryState{Entry: *d, seenStatus: d.StatusFields, seenCount: d.RequestCount, seenPriority: d.Priority}
	e.tokensChanged()
	e.Extra = maps.Clone(d.Extra)
	e.Unreadable = slices.Clone(d.Unreadable)
	e.ModelCooldowns, e.ModelCooldownObservedAt = nil, nil
	if h := p.pendingHistory[pkey{pp.name, d.ID}]; h != nil {
		e.history = h
		delete(p.pendingHistory, pkey{pp.name, d.ID})
	}
	if q := p.pendingQuota[pkey{pp.name, d.ID}]; q != nil {
		e.quota = q
		delete(p.pendingQuota, pkey{pp.name, d.ID})
	}
	var wb writeBack
	if d.StatusClearedAt != 0 {
		var clamped bool
		if e.StatusClearedAt, clamped = e.effective(d.StatusClearedAt, now); clamped {
			wb |= wbCleared
		}
	}
	if norm(d.LastStatus) != StatusOK {
		at, clamped := e.effective(d.LastStatusAt, now)
		e.LastStatusAt, e.verdictAt = at, at
		if clamped {
			wb |= wbStatus
		}
	}
	if p.mergeModels(e, d, e.StatusClearedAt, now) {
		wb |= wbModels
	}
	return e, wb
}

// mergeRow brings the file's row d into e, an entry this process knows.
// The rules (docs/DESIGN.md, "Merge rules") decide for each part which
// side holds the truth: the file's part is taken, and the parts where this
// process wins are returned for writing back. urgent says whether the file
// is wrong now (a verdict or a pair undone by a stale writer) rather than
// only behind (counts, order, a cooldown ended by time).
func (p *Pool) mergeRow(pp *provPool, e *entryState, d *Entry, now float64, changes []Change) (wb writeBack, urgent bool, _ []Change) {
	had := e.StatusFields
	// What this process never changes comes from the file.
	e.Label, e.AuthType, e.Source, e.BaseURL = d.Label, d.AuthType, d.Source, d.BaseURL
	if !e.external {
		e.SecretFingerprint = d.SecretFingerprint
	}
	e.Extra = maps.Clone(d.Extra)
	e.Unreadable = slices.Clone(d.Unreadable)

	dt := tokensOf(d)
	switch {
	case e.external:
		// Another tool's login: the tokens come from its file, never from
		// auth.json; the row's fingerprint says which login its verdict
		// belongs to.
		if sameLogin(e, d) {
			wb, urgent, changes = p.mergeVerdicts(pp, e, d, now, changes)
			if e.AccessToken != "" && d.SecretFingerprint != e.SecretFingerprint {
				wb, urgent = wb|wbTokens, true
			}
		} else {
			wb, urgent = wbTokens|wbStatus|wbCleared|wbModels, true
		}
	case dt == e.tokens():
		e.ExpiresAt, e.LastRefresh = d.ExpiresAt, d.LastRefresh
		e.tokensChanged()
		wb, urgent, changes = p.mergeVerdicts(pp, e, d, now, changes)
	case e.replaced(dt):
		// A stale writer brought back a pair this entry has replaced:
		// keep the newer pair and everything observed on it.
		wb, urgent = wbTokens|wbStatus|wbCleared|wbModels, true
	default:
		// Another process re-authenticated: new tokens end every verdict
		// observed on the old ones.
		p.takePair(e, dt, d.ExpiresAt)
		e.LastRefresh = d.LastRefresh
		oldModels := e.ModelCooldowns
		e.ModelCooldowns, e.ModelCooldownObservedAt = nil, nil
		if d.StatusClearedAt != 0 {
			e.StatusClearedAt, _ = e.effective(d.StatusClearedAt, now)
		}
		if norm(d.LastStatus) != StatusOK && d.StatusFields == e.seenStatus {
			// The writer left the old verdict as it found it.
			e.carriedAt = d.LastStatusAt
			e.StatusFields, e.verdictAt = StatusFields{}, 0
			wb, urgent = wb|wbStatus, true
			changes = append(changes, Change{Kind: ChangeRecovered, Provider: pp.name, ID: e.ID, Label: e.Label,
				At: now, Reason: recoverReason("reauth"), Cause: "reauth"})
		} else {
			e.StatusFields = d.StatusFields
			if norm(d.LastStatus) != StatusOK {
				var clamped bool
				if e.verdictAt, clamped = e.effective(d.LastStatusAt, now); clamped {
					e.LastStatusAt = e.verdictAt
					wb, urgent = wb|wbStatus, true
				}
			}
			if norm(had.LastStatus) != norm(e.LastStatus) {
				changes = append(changes, pp.statusChange(e, now, "file"))
			}
		}
		if len(d.ModelCooldowns) > 0 && maps.Equal(d.ModelCooldowns, oldModels) {
			wb, urgent = wb|wbModels, true // left by the writer: they were about the old pair
		} else if p.mergeModels(e, d, e.StatusClearedAt, now) {
			wb, urgent = wb|wbModels, true
		}
	}

	// Counts never go backwards: ours grew by what we counted since we last
	// saw the file, the file's by what others counted.
	c := max(d.RequestCount+e.RequestCount-e.seenCount, e.RequestCount)
	e.RequestCount, e.seenCount = c, d.RequestCount
	if c != d.RequestCount {
		wb |= wbCount
	}
	if e.Priority != e.seenPriority {
		if e.Priority != d.Priority {
			wb |= wbPriority
		}
	} else {
		e.Priority = d.Priority
	}
	e.seenPriority = d.Priority
	e.seenStatus = d.StatusFields
	pp.statusesChanged()
	return wb, urgent, changes
}

// mergeVerdicts merges the verdicts of one generation: the file's row and
// this process's memory of the same token pair.
func (p *Pool) mergeVerdicts(pp *provPool, e *entryState, d *Entry, now float64, changes []Change) (wb writeBack, urgent bool, _ []Change) {
	had, hadAt := e.StatusFields, e.verdictAt
	// A deliberate reset ends every verdict observed before it; the later
	// reset counts.
	if d.StatusClearedAt != 0 {
		if dc, _ := e.effective(d.StatusClearedAt, now); dc > e.StatusClearedAt {
			e.StatusClearedAt = dc
		}
	}
	reset := e.StatusClearedAt
	if e.StatusClearedAt != d.StatusClearedAt {
		wb, urgent = wb|wbCleared, true
	}

	theirs := d.StatusFields
	theirsAt, clamped := 0.0, false
	if norm(theirs.LastStatus) != StatusOK {
		theirsAt, clamped = e.effective(d.LastStatusAt, now)
		theirs.LastStatusAt = theirsAt
	}
	ended := e.endedAt != 0 && d.LastStatusAt == e.endedAt
	carried := e.carriedAt != 0 && d.LastStatusAt == e.carriedAt
	mine := pp.inForce(&e.StatusFields, now) && e.verdictAt > reset
	theirsLive := pp.inForce(&theirs, now) && theirsAt > reset && !ended && !carried

	switch {
	case theirsLive && (!mine || pp.stronger(&theirs, &e.StatusFields)):
		e.StatusFields, e.verdictAt = theirs, theirsAt
		if clamped {
			wb, urgent = wb|wbStatus, true
		}
	case mine:
		// The file lacks our verdict: a stale snapshot undid it, or our
		// write is still to come.
		if d.StatusFields != e.StatusFields {
			wb, urgent = wb|wbStatus, true
		}
	default:
		// Nothing is in force on either side.
		e.StatusFields, e.verdictAt = StatusFields{}, 0
		switch {
		case norm(d.LastStatus) == StatusOK:
		case ended:
			// A cooldown this process ended: the end is written with the
			// batched changes.
			wb |= wbStatus
		case carried || pp.inForce(&d.StatusFields, now):
			// The file shows a verdict that a reset or fresh tokens ended.
			wb, urgent = wb|wbStatus, true
		}
	}

	switch {
	case norm(had.LastStatus) == norm(e.LastStatus) && (e.LastStatus != StatusExhausted || pp.until(&had) == pp.until(&e.StatusFields)):
	case norm(e.LastStatus) != StatusOK:
		changes = append(changes, pp.statusChange(e, now, "file"))
	case pp.inForce(&had, now) && hadAt <= reset:
		changes = append(changes, Change{Kind: ChangeRecovered, Provider: pp.name, ID: e.ID, Label: e.Label,
			At: now, Reason: recoverReason("admin"), Cause: "file"})
	case had.LastStatus == StatusExhausted:
		changes = append(changes, Change{Kind: ChangeRecovered, Provider: pp.name, ID: e.ID, Label: e.Label,
			At: now, Reason: recoverReason("ttl"), Cause: "ttl"})
	default:
		changes = append(changes, pp.statusChange(e, now, "file"))
	}

	if p.mergeModels(e, d, reset, now) {
		wb, urgent = wb|wbModels, true
	}
	return wb, urgent, changes
}

// stronger reports whether verdict a outranks b: DEAD over EXHAUSTED, and
// of two cooldowns the longer (a re-report never shortens one).
func (pp *provPool) stronger(a, b *StatusFields) bool {
	rank := func(s Status) int {
		switch s {
		case StatusDead:
			return 2
		case StatusExhausted:
			return 1
		}
		return 0
	}
	if ra, rb := rank(a.LastStatus), rank(b.LastStatus); ra != rb {
		return ra > rb
	}
	return a.LastStatus == StatusExhausted && pp.until(a) > pp.until(b)
}
