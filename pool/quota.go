package pool

// Quota observations (provider rate-limit headers) are wired in here; until
// then no entry is ever blocked by quota and all have equal headroom.

func (e *entryState) quotaBlocked(now float64, model string) bool { return false }

func (e *entryState) quotaUntil(now float64, model string) float64 { return 0 }

// moreHeadroom reports whether e has more budget left than o for model.
func (e *entryState) moreHeadroom(o *entryState, now float64, model string) bool { return false }
