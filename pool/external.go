package pool

import (
	"fmt"

	"github.com/credpool/credpool/tokeninfo"
)

// External logins: Codex CLI, Claude Code, Qwen Code and Gemini CLI keep
// their own login files. credpool follows them: each login is an entry of
// its provider's pool with the tool's source name. Its secrets stay in the
// tool's file and in memory; the auth.json row keeps only
// secret_fingerprint (as Hermes keeps borrowed sources, and Hermes'
// sanitiser would strip them anyway), so that its verdicts can be kept and
// merged. The fingerprint on disk names the generation a verdict there
// belongs to.

// Login is another tool's login as the daemon read it.
type Login struct {
	Provider, Source string
	AuthType         string // "api_key" | "oauth"
	AccessToken      string
	RefreshToken     string
	ExpiresAt        float64
	Label            string
	// Broken says why the login cannot be used ("" if it can): the tool
	// left blanked tokens, the file is unreadable, the user logged out.
	Broken string
}

// AttachLogin makes l the tokens of the entry of l.Provider with source
// l.Source, adding the entry when there is none. New tokens are a new
// generation (a re-login in another terminal): they end every verdict
// observed on the old ones. A broken login leaves the entry without tokens
// (never handed out) and says why.
func (p *Pool) AttachLogin(l Login) ([]Change, error) {
	if err := ValidProvider(l.Provider); err != nil {
		return nil, fmt.Errorf("pool: login: %w", err)
	}
	_, now := p.now()
	pp := p.pools[l.Provider]
	var e *entryState
	if pp != nil {
		for _, x := range pp.entries {
			if x.Source == l.Source {
				e = x
				break
			}
		}
	}
	tok := Tokens{AccessToken: l.AccessToken, RefreshToken: l.RefreshToken}
	if l.Broken != "" {
		tok = Tokens{}
	}
	var changes []Change
	if e == nil {
		if tok.AccessToken == "" {
			return nil, nil // nothing to follow yet, and no pool to show
		}
		if pp == nil {
			pp = p.newProvPool(l.Provider)
			p.pools[l.Provider] = pp
		}
		prio := 0
		for _, x := range pp.entries {
			prio = max(prio, x.Priority+1)
		}
		authType := l.AuthType
		if authType == "" {
			authType = "oauth"
		}
		label := l.Label
		if validLabel(label) != nil || label == "" {
			label = l.Source
		}
		e = &entryState{Entry: Entry{ID: p.newID(pp, nil), Label: label, AuthType: authType, Priority: prio,
			Source: l.Source}, addPending: true, seenPriority: prio}
		pp.entries = append(pp.entries, e)
		changes = append(changes, Change{Kind: ChangeAdded, Provider: l.Provider, ID: e.ID, Label: e.Label, At: now, Cause: "login"})
	}
	e.external, e.loginBroken = true, l.Broken
	if e.tokens() == tok && (tok.AccessToken == "" || e.SecretFingerprint == tokeninfo.Fingerprint(tok.AccessToken)) {
		pp.reindex()
		return p.clean(changes), nil
	}
	p.takePair(e, tok, l.ExpiresAt)
	if tok.AccessToken != "" {
		fp := tokeninfo.Fingerprint(tok.AccessToken)
		if e.SecretFingerprint != "" && e.SecretFingerprint != fp && (norm(e.LastStatus) != StatusOK || len(e.ModelCooldowns) > 0) {
			// A new login: the verdicts were about the old one.
			e.StatusFields, e.verdictAt = StatusFields{}, 0
			e.ModelCooldowns, e.ModelCooldownObservedAt = nil, nil
			e.modelsChanged()
			changes = append(changes, Change{Kind: ChangeRecovered, Provider: l.Provider, ID: e.ID, Label: e.Label,
				At: now, Reason: "login", Cause: "login"})
		}
		e.SecretFingerprint = fp
	}
	pp.reindex()
	p.markUrgent()
	return p.clean(changes), nil
}

// externalGeneration is the generation a borrowed row's verdict belongs
// to: the fingerprint of the login it was observed on.
func sameLogin(e *entryState, d *Entry) bool {
	return d.SecretFingerprint == "" || e.AccessToken == "" || d.SecretFingerprint == tokeninfo.Fingerprint(e.AccessToken)
}
