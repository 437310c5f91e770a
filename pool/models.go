package pool

// Per-model cooldowns, compatible with Hermes' model_cooldowns: a
// credential can be benched for one model and serve the others. They belong
// to the token generation they were observed on, like every verdict.

// modelFree reports whether e may serve model now ("" = the caller does not
// know its model, so a cooldown for any model counts, as Hermes does).
func (e *entryState) modelFree(now float64, model string) bool {
	if e.modelMax <= now {
		return true
	}
	if model == "" {
		return false
	}
	return e.ModelCooldowns[model] <= now
}

// modelsChanged recomputes what selection reads of the model cooldowns.
func (e *entryState) modelsChanged() {
	e.modelMax = 0
	for _, u := range e.ModelCooldowns {
		e.modelMax = max(e.modelMax, u)
	}
}

// modelUntil is when e becomes free for model by time (0 if it is free).
func (e *entryState) modelUntil(now float64, model string) float64 {
	if e.modelMax <= now {
		return 0
	}
	if model == "" {
		return e.modelMax
	}
	if u := e.ModelCooldowns[model]; u > now {
		return u
	}
	return 0
}

// setModelCooldown benches e for model until u (never shortening one that
// runs), observed now.
func (e *entryState) setModelCooldown(model string, u, now float64) {
	if e.ModelCooldowns == nil {
		e.ModelCooldowns, e.ModelCooldownObservedAt = map[string]float64{}, map[string]float64{}
	}
	if cur := e.ModelCooldowns[model]; cur > u {
		u = cur
	}
	e.ModelCooldowns[model], e.ModelCooldownObservedAt[model] = u, now
	e.modelsChanged()
}

// mergeModels merges the file's model cooldowns of d into e's (the same
// generation): by the larger end per model, dropping those that ended and
// those observed at or before the reset. A stored end more than 30 days
// ahead is cut back to 2 days from when it was first read. It reports
// whether the file must be told.
func (p *Pool) mergeModels(e *entryState, d *Entry, reset, now float64) bool {
	if len(e.ModelCooldowns) == 0 && len(d.ModelCooldowns) == 0 {
		e.modelMax = 0
		return false
	}
	var until, seen map[string]float64
	take := func(m string, u, at float64) {
		if u <= now || (reset > 0 && at <= reset) || u <= until[m] {
			return
		}
		if until == nil {
			until, seen = map[string]float64{}, map[string]float64{}
		}
		until[m], seen[m] = u, at
	}
	for m, u := range e.ModelCooldowns {
		take(m, u, e.ModelCooldownObservedAt[m])
	}
	for m, u := range d.ModelCooldowns {
		at := d.ModelCooldownObservedAt[m]
		if at != 0 {
			at, _ = e.effective(at, now)
		}
		if u > now+maxModelAhead {
			first, _ := e.effective(u, now+maxModelAhead)
			u = min(u, first-maxModelAhead+modelCutBack)
		}
		take(m, u, at)
	}
	e.ModelCooldowns, e.ModelCooldownObservedAt = until, seen
	e.modelsChanged()
	// The file is right when its live cooldowns are exactly ours.
	for m, u := range d.ModelCooldowns {
		if u > now && (until[m] != u || seen[m] != d.ModelCooldownObservedAt[m]) {
			return true
		}
	}
	for m := range until {
		if _, ok := d.ModelCooldowns[m]; !ok {
			return true
		}
	}
	return false
}
