package pool

import (
	"iter"

	"github.com/credpool/credpool/redact"
)

// Every reason and message the pool hands out (in views, and in changes for
// events and logs) is redacted, whoever wrote it: providers quote the key
// they were given, and Hermes stores what providers say. The redactor knows
// every access and refresh token of every entry; it is rebuilt only after
// tokens changed.

// secrets yields every token of the pool.
func (p *Pool) secrets() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, pp := range p.pools {
			for _, e := range pp.entries {
				if !yield(e.AccessToken) || !yield(e.RefreshToken) {
					return
				}
			}
		}
	}
}

// redactor is the redactor of the pool's tokens as they are now.
func (p *Pool) redactor() *redact.Redactor {
	if p.red == nil || p.redVer != p.tokVer {
		p.red, p.redVer = redact.FromSeq(p.secrets()), p.tokVer
	}
	return p.red
}

// clean redacts the reasons of changes, in place.
func (p *Pool) clean(changes []Change) []Change {
	if len(changes) == 0 {
		return changes
	}
	r := p.redactor()
	for i := range changes {
		changes[i].Reason = r.String(changes[i].Reason)
	}
	return changes
}

// tokenHint is the last 4 characters of a token, or "" for a token shorter
// than 8 characters, which the hint would give half away.
func tokenHint(tok string) string { return redact.Hint(tok) }

// holdsToken is an entry holding access token tok, nil if none.
func (p *Pool) holdsToken(tok string) *entryState {
	for _, pp := range p.pools {
		if h := pp.byToken[tok]; len(h) > 0 {
			return h[0]
		}
	}
	return nil
}
