package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable fake clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func (c *clock) epochOf() float64        { return epochOf(c.t) }

// newTest returns a pool on a fake clock at t0 with a seeded random source,
// loaded with the given pools.
func newTest(t testing.TB, cfg Config, pools map[string][]Entry) (*Pool, *clock) {
	t.Helper()
	c := &clock{t: t0}
	cfg.Now = c.Now
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(1, 2))
	}
	p := New(cfg)
	p.Load(Snapshot{Pools: pools})
	return p, c
}

func tok(id string) string { return "sk-token-for-" + id }

// ent builds an OK manual entry with its own token.
func ent(id string, prio int, opts ...func(*Entry)) Entry {
	e := Entry{ID: id, Label: "label-" + id, AuthType: "api_key", Priority: prio, Source: "manual",
		AccessToken: tok(id), RefreshToken: "rt-" + id}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func ago(d time.Duration) float64 { return epochOf(t0.Add(-d)) }

func withStatus(st Status, code int, reason string, age time.Duration) func(*Entry) {
	return func(e *Entry) {
		e.StatusFields = StatusFields{LastStatus: st, LastStatusAt: ago(age), LastErrorCode: code,
			LastErrorReason: reason, LastErrorMessage: "msg"}
	}
}

func exhaustedAgo(code int, age time.Duration) func(*Entry) {
	return withStatus(StatusExhausted, code, "", age)
}

func deadAgo(age time.Duration) func(*Entry) {
	return withStatus(StatusDead, 401, "token_revoked", age)
}

func withSource(s string) func(*Entry) { return func(e *Entry) { e.Source = s } }
func withToken(a string) func(*Entry)  { return func(e *Entry) { e.AccessToken = a } }
func withCount(n int) func(*Entry)     { return func(e *Entry) { e.RequestCount = n } }

// selectID selects and returns the chosen id, or "" when none is available.
func selectID(t testing.TB, p *Pool, provider string, opt SelectOptions) string {
	t.Helper()
	s, err := p.Select(provider, opt)
	if err != nil {
		require.ErrorIs(t, err, ErrNoneAvailable)
		return ""
	}
	return s.Credential.ID
}

func entryOf(t testing.TB, p *Pool, provider, id string) *entryState {
	t.Helper()
	pp := p.pools[provider]
	require.NotNil(t, pp, "pool %s", provider)
	e := pp.byID[id]
	require.NotNil(t, e, "entry %s", id)
	return e
}

func viewOf(t testing.TB, p *Pool, provider, id string) EntryView {
	t.Helper()
	v, err := p.View(provider)
	require.NoError(t, err)
	for _, e := range v.Entries {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("no entry %s in view", id)
	return EntryView{}
}

// roundTrip writes the pool over snap, as a successful write of the daemon
// does (Sync, then Committed), and returns the result.
func roundTrip(p *Pool, snap Snapshot) Snapshot {
	c, _ := p.Sync(snap)
	p.Committed(c)
	return snap
}

// urgent reports whether the pool holds changes to write at once.
func urgent(p *Pool) bool {
	_, u := p.Dirty()
	return u
}

// pending reports whether the pool holds any change to write.
func pending(p *Pool) bool {
	d, _ := p.Dirty()
	return d
}

// assertNoSecrets fails when any string field of any change holds a token.
func assertNoSecrets(t testing.TB, changes []Change, secrets ...string) {
	t.Helper()
	for _, c := range changes {
		v := reflect.ValueOf(c)
		for i := range v.NumField() {
			f := v.Field(i)
			if f.Kind() != reflect.String {
				continue
			}
			for _, s := range secrets {
				if s != "" && strings.Contains(f.String(), s) {
					t.Errorf("change %s field %s carries a secret", c.Kind, v.Type().Field(i).Name)
				}
			}
		}
	}
}

func snapshotOf(pools map[string][]Entry) Snapshot {
	return Snapshot{Pools: pools, Singletons: map[string]Singleton{}}
}

func itoa(n int) string { return fmt.Sprint(n) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }

type rawMap map[string][]byte

func (m rawMap) raw() map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
