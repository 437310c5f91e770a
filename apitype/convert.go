package apitype

import (
	"github.com/credpool/credpool/pool"
	"github.com/credpool/credpool/quota"
)

// The pool's views use 0 and "" for "none"; the API says null, as
// auth.json does. These are the one conversion.

func nullable(f float64) *float64 {
	if f == 0 {
		return nil
	}
	return &f
}

func nullableInt(i int) *int {
	if i == 0 {
		return nil
	}
	return &i
}

func nullableString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CredentialFrom is the wire form of a credential.
func CredentialFrom(c pool.Credential) Credential {
	return Credential{
		ID: c.ID, Provider: c.Provider, Label: c.Label, AuthType: c.AuthType, Source: c.Source,
		AccessToken: c.AccessToken, BaseURL: nullableString(c.BaseURL), ExpiresAt: nullable(c.ExpiresAt),
		Priority: c.Priority, RequestCount: c.RequestCount,
	}
}

// LeaseFrom is the wire form of a lease, nil for none.
func LeaseFrom(l *pool.Lease) *Lease {
	if l == nil {
		return nil
	}
	return &Lease{ID: l.ID, ExpiresAt: l.ExpiresAt}
}

// MarkedFrom is the wire form of a mark, nil for none.
func MarkedFrom(m *pool.Marked) *Marked {
	if m == nil {
		return nil
	}
	return &Marked{ID: m.ID, Status: string(m.Status), Until: nullable(m.Until), Model: m.Model}
}

// EntryFrom is the wire form of an entry view.
func EntryFrom(e pool.EntryView) Entry {
	status := string(e.Status)
	if status == "" {
		status = string(pool.StatusOK)
	}
	return Entry{
		ID: e.ID, Label: e.Label, AuthType: e.AuthType, Priority: e.Priority, Source: e.Source,
		TokenHint: nullableString(e.TokenHint), BaseURL: nullableString(e.BaseURL),
		ExpiresAt: nullable(e.ExpiresAt), RequestCount: e.RequestCount, Status: status,
		Available: e.Available, Until: nullable(e.Until), Leases: e.Leases,
		LastStatusAt: nullable(e.LastStatusAt), LastErrorCode: nullableInt(e.LastErrorCode),
		LastErrorReason: nullableString(e.LastErrorReason), LastErrorMessage: nullableString(e.LastErrorMessage),
		LastErrorResetAt: nullable(e.LastErrorResetAt), FailureReason: nullableString(e.FailureReason),
		StatusClearedAt: nullable(e.StatusClearedAt), PruneAt: nullable(e.PruneAt),
		ModelCooldowns: e.ModelCooldowns, Quota: QuotaFrom(e.Quota), QuotaUntil: nullable(e.QuotaUntil),
		Unreadable: e.Unreadable,
		Refreshing: e.Refreshing, RefreshError: nullableString(e.RefreshError),
		LastRefresh: nullableString(e.LastRefresh), External: e.External,
		LoginBroken: nullableString(e.LoginBroken),
	}
}

// QuotaFrom is the wire form of a credential's quota readings, nil for none.
func QuotaFrom(rs []quota.Reading) []QuotaWindow {
	if len(rs) == 0 {
		return nil
	}
	out := make([]QuotaWindow, len(rs))
	for i, r := range rs {
		out[i] = QuotaWindow{
			Key: r.Key, Model: nullableString(r.Model),
			Remaining: sent(r.Remaining), Limit: sent(r.Limit), Utilization: sent(r.Utilization), Left: sent(r.Left),
			Exhausted: r.Exhausted, ResetAt: r.End, SeenAt: r.SeenAt, Blocking: r.Blocks, Tightest: r.Tightest,
		}
	}
	return out
}

// sent is a reading the provider may not have sent (quota.Unknown), where
// 0 is a value.
func sent(x float64) *float64 {
	if x == quota.Unknown {
		return nil
	}
	return &x
}

// ProblemsFrom is the wire form of a pool's problems.
func ProblemsFrom(ps []pool.Problem) []Problem {
	out := make([]Problem, 0, len(ps))
	for _, p := range ps {
		out = append(out, Problem{Provider: p.Provider, Index: p.Index, ID: p.ID, What: p.What})
	}
	return out
}

// PoolFrom is the wire form of a pool view.
func PoolFrom(v pool.PoolView) Pool {
	out := Pool{
		Provider: v.Provider, Strategy: string(v.Strategy), Available: v.Available,
		NextAvailableAt: nullable(v.NextAvailableAt), Entries: make([]Entry, 0, len(v.Entries)),
		Problems: ProblemsFrom(v.Problems),
	}
	for _, e := range v.Entries {
		out.Entries = append(out.Entries, EntryFrom(e))
	}
	return out
}

// PoolsFrom is the wire form of every pool.
func PoolsFrom(vs []pool.PoolView) Pools {
	out := Pools{Pools: make([]Pool, 0, len(vs))}
	for _, v := range vs {
		out.Pools = append(out.Pools, PoolFrom(v))
	}
	return out
}

// Value is what a nullable wire field holds, the zero value for null.
func Value[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
