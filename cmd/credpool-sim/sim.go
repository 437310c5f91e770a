package main

import (
	"container/heap"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/credpool/credpool/internal/simprovider"
	"github.com/credpool/credpool/internal/stats"
	"github.com/credpool/credpool/pool"
)

// setup is one way of running the agents: a strategy, and whether they
// report every answer with its rate-limit headers (issue 11) or, as
// before, only their failures (a 429 with its Retry-After).
type setup struct {
	Strategy pool.Strategy `json:"strategy"`
	Headers  bool          `json:"headers"`
	Lease    bool          `json:"lease"`
}

func (s setup) String() string {
	name := string(s.Strategy)
	if s.Headers {
		name += " + headers"
	} else {
		name += ", failures only"
	}
	if s.Lease {
		name += ", leases"
	}
	return name
}

// outcome is what one setup saw over the trace.
type outcome struct {
	Setup setup `json:"setup"`
	// Calls reached the provider: OK answered 200, Limited 429.
	Calls   int `json:"calls"`
	OK      int `json:"ok"`
	Limited int `json:"limited_429"`
	// LimitedByPhase are the 429s of each 5-minute block of the trace.
	LimitedByPhase []int `json:"limited_by_phase"`
	// NoneAvailable counts selects that found no credential (the agent
	// then waits until the first one is back).
	NoneAvailable int `json:"none_available"`
	// Done are the trace's calls answered 200 within the hour; Unfinished
	// the rest.
	Done       int `json:"done"`
	Unfinished int `json:"unfinished"`
	// Delay is from when the agent wanted the call to its 200, seconds.
	DelayP50 float64 `json:"delay_p50_s"`
	DelayP99 float64 `json:"delay_p99_s"`
	DelayMax float64 `json:"delay_max_s"`
}

// limitedLatency is how long a 429 takes to come back.
const limitedLatency = 200 * time.Millisecond

// start is the simulated clock's origin.
var start = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

const provider = "openai"

type evKind uint8

const (
	evArrive evKind = iota // an agent wants trace call idx
	evTry                  // the agent tries to start its next call
	evDone                 // the provider's answer to the call in flight arrives
)

type event struct {
	at    time.Duration
	seq   int
	kind  evKind
	agent int
}

type events []event

func (q events) Len() int { return len(q) }
func (q events) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q events) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *events) Push(x any)   { *q = append(*q, x.(event)) }
func (q *events) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// agent is one simulated agent: it makes its calls one at a time, in the
// order the trace wants them.
type agent struct {
	calls    []call
	next     int // trace calls that have arrived: calls[done:next] are pending
	done     int
	busy     bool // a call is in flight, or a try is scheduled
	inFlight struct {
		id, lease string
		answer    simprovider.Answer
	}
}

// simulate runs the trace against the real pool logic with a simulated
// clock: select, call the simulated provider, report its answer, as an
// agent with credpool's client does.
func simulate(tr trace, keys []simprovider.Key, s setup) (outcome, error) {
	now := start
	entries := make([]pool.Entry, len(keys))
	for i, k := range keys {
		entries[i] = pool.Entry{ID: "key" + string(rune('a'+i)), Label: k.Token[len(k.Token)-4:], AuthType: "api_key",
			Priority: i, Source: "manual", AccessToken: k.Token}
	}
	p := pool.New(pool.Config{Now: func() time.Time { return now }, DefaultStrategy: s.Strategy,
		Rand: rand.New(rand.NewPCG(tr.Seed, 1))})
	p.Load(pool.Snapshot{Pools: map[string][]pool.Entry{provider: entries}})
	prov := simprovider.New(keys)
	tokens := map[string]string{}
	for _, e := range entries {
		tokens[e.ID] = e.AccessToken
	}

	agents := make([]*agent, len(tr.Agents))
	var q events
	seq := 0
	push := func(at time.Duration, kind evKind, a int) {
		seq++
		heap.Push(&q, event{at: at, seq: seq, kind: kind, agent: a})
	}
	for i, at := range tr.Agents {
		agents[i] = &agent{calls: at.Calls}
		if len(at.Calls) > 0 {
			push(at.Calls[0].At, evArrive, i)
		}
	}
	out := outcome{Setup: s, LimitedByPhase: make([]int, len(tr.Phases))}
	var delays []float64
	for q.Len() > 0 {
		ev := heap.Pop(&q).(event)
		if ev.at >= tr.Duration {
			break
		}
		now = start.Add(ev.at)
		a := agents[ev.agent]
		switch ev.kind {
		case evArrive:
			a.next++
			if a.next < len(a.calls) {
				push(a.calls[a.next].At, evArrive, ev.agent)
			}
			if !a.busy {
				a.busy = true
				push(ev.at, evTry, ev.agent)
			}
		case evTry:
			if a.done == a.next {
				a.busy = false
				continue
			}
			sel, err := p.Select(provider, pool.SelectOptions{Lease: s.Lease})
			var none *pool.NoneAvailableError
			switch {
			case errors.As(err, &none):
				out.NoneAvailable++
				if none.NextAvailableAt == 0 {
					return out, errors.New("sim: every key is dead")
				}
				// Wait for the first one back (never less than a
				// millisecond, so that time moves).
				push(max(at(none.NextAvailableAt), ev.at+time.Millisecond), evTry, ev.agent)
				continue
			case err != nil:
				return out, err
			}
			a.inFlight.id = sel.Credential.ID
			a.inFlight.lease = ""
			if sel.Lease != nil {
				a.inFlight.lease = sel.Lease.ID
			}
			ans := prov.Call(tokens[sel.Credential.ID], now)
			a.inFlight.answer = ans
			out.Calls++
			lat := limitedLatency
			if ans.Status == 200 {
				lat = a.calls[a.done].Latency
			}
			push(ev.at+lat, evDone, ev.agent)
		case evDone:
			ans := a.inFlight.answer
			retry, err := reportAnswer(p, s, a, ans)
			if err != nil {
				return out, err
			}
			if ans.Status == 200 {
				out.OK++
				delays = append(delays, (ev.at - a.calls[a.done].At).Seconds())
				a.done++
			} else {
				out.Limited++
				out.LimitedByPhase[int(ev.at/phaseLen)]++
			}
			push(ev.at+retry, evTry, ev.agent)
		}
	}
	for _, a := range agents {
		out.Done += a.done
		out.Unfinished += len(a.calls) - a.done
	}
	slices.Sort(delays)
	out.DelayP50, out.DelayP99 = stats.Round1(stats.Quantile(delays, 0.5)), stats.Round1(stats.Quantile(delays, 0.99))
	if len(delays) > 0 {
		out.DelayMax = stats.Round1(delays[len(delays)-1])
	}
	return out, nil
}

// reportAnswer tells the pool how the provider answered, as credpool's clients
// do: with the answer's rate-limit headers (names lower-cased, as the
// daemon hands them to pool) when the setup says so, else only a failure
// and its Retry-After. It returns how long the agent waits before its next
// try: the short Retry-After the report passes on when nothing else is
// available, else 0.
func reportAnswer(p *pool.Pool, s setup, a *agent, ans simprovider.Answer) (time.Duration, error) {
	r := pool.Report{CredentialID: a.inFlight.id, StatusCode: ans.Status}
	if s.Headers {
		r.Headers = make(map[string]string, len(ans.Headers))
		for k, v := range ans.Headers {
			r.Headers[strings.ToLower(k)] = v
		}
	} else {
		r.RetryAfter = ans.Headers["Retry-After"]
	}
	if ans.Status >= 400 {
		r.LeaseID = a.inFlight.lease // a failure's report ends the lease
	}
	if ans.Status < 400 && !s.Headers {
		return 0, release(p, a)
	}
	res, err := p.Report(provider, r)
	if err != nil {
		return 0, err
	}
	if ans.Status < 400 {
		if err := release(p, a); err != nil {
			return 0, err
		}
	}
	return time.Duration(res.RetryAfter * float64(time.Second)), nil
}

func release(p *pool.Pool, a *agent) error {
	if a.inFlight.lease == "" {
		return nil
	}
	err := p.Release(a.inFlight.lease)
	if errors.Is(err, pool.ErrUnknownLease) {
		return nil // expired meanwhile
	}
	return err
}

// at is an epoch time as a moment of the simulation.
func at(epochSeconds float64) time.Duration {
	return time.Unix(0, int64(epochSeconds*1e9)).Sub(start)
}
