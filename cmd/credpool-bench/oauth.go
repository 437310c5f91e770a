package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/internal/stats"
	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/oauth/oauthtest"
	"github.com/credpool/credpool/pool"
	socketapi "github.com/credpool/credpool/unix-socket-api"
)

// --oauth N measures issue 10 against a real daemon whose token endpoints
// are oauthtest's fake (on loopback; it rotates tokens and counts POSTs):
//
//   - the stampede: --clients agents report a 401 on one Codex login at
//     the same moment, N times (N token generations): POSTs per generation
//     and the time until every agent holds the new token; next to the file
//     model, where each agent refreshes for itself under auth.lock as
//     Hermes does (lock, re-read, POST only if the row still holds its
//     refresh token, write back);
//   - re-logins with other tools (--recovery of them per tool, default
//     50): from the tool's write (Claude Code: temp file and rename; the
//     Codex CLI: truncate and rewrite in place) to the DEAD entry being
//     handed out again; next to a re-login through auth.json (Hermes);
//   - select latency of other entries (4 clients, closed loop) for
//     --duration while a refresh is in flight (the fake does not answer
//     it within the window, so auth.lock is held throughout) and with
//     none.

// oauthResult is what --oauth measured; its JSON form is the --json output.
type oauthResult struct {
	Stampede     stampedeResult           `json:"stampede"`
	StampedeFile stampedeResult           `json:"stampede_file_model"`
	Relogin      map[string]reloginResult `json:"external_relogin"`
	AuthRelogin  recoveryResult           `json:"auth_json_relogin"`
	SelectIdle   opStats                  `json:"select_no_refresh"`
	SelectBusy   opStats                  `json:"select_during_refresh"`
	Errors       map[string]int           `json:"errors,omitempty"`
	Config       config                   `json:"config"`
	Machine      machine                  `json:"machine"`
}

// stampedeResult summarizes the generations of one stampede model.
type stampedeResult struct {
	Agents      int `json:"agents"`
	Generations int `json:"generations"`
	// POSTs that carried each generation's refresh token, and refusals
	// (refresh_token_reused and others) the fake answered.
	PostsMin int `json:"posts_per_generation_min"`
	PostsMax int `json:"posts_per_generation_max"`
	Refused  int `json:"refused"`
	// From the 401s (the start) until the last agent held the new token.
	AllNewP50MS float64 `json:"all_new_p50_ms"`
	AllNewMaxMS float64 `json:"all_new_max_ms"`

	times []int64 // per generation, ns
}

// reloginResult is one tool's re-login recovery, in milliseconds.
type reloginResult struct {
	N     int     `json:"n"`
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
}

const (
	oauthPool  = "openai-codex"
	oauthID    = "c0dex1"
	otherPool  = "bench-p0"
	defaultRel = 50
	// selectClients select the other entries: a few, so that the figures
	// are the daemon's latency and not a run queue's.
	selectClients = 4
)

// benchTB is the bench's oauthtest.TB: it runs the fake's cleanups when
// the run ends.
type benchTB struct {
	cleanups []func()
}

var _ oauthtest.TB = (*benchTB)(nil)

func (b *benchTB) Helper()          {}
func (b *benchTB) Cleanup(f func()) { b.cleanups = append(b.cleanups, f) }
func (b *benchTB) close() {
	for _, f := range slices.Backward(b.cleanups) {
		f()
	}
}

// oauthBench is one --oauth run: the fake, the daemon and its files.
type oauthBench struct {
	cfg      config
	dir      string
	fake     *oauthtest.Server
	authFile string
	home     string // HOME of the daemon: the tools' login files
	c        *socketapi.Client
	errors   map[string]int
}

func (b *oauthBench) codexFile() string { return filepath.Join(b.home, ".codex", "auth.json") }
func (b *oauthBench) claudeFile() string {
	return filepath.Join(b.home, ".claude", ".credentials.json")
}

func runOAuth(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	tb := &benchTB{}
	defer tb.close()
	dir, err := os.MkdirTemp("", "cpb-oauth")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &oauthBench{cfg: cfg, dir: dir, fake: oauthtest.New(tb), errors: map[string]int{},
		authFile: filepath.Join(dir, "auth", "auth.json"), home: filepath.Join(dir, "home")}
	login := b.fake.Issue(oauthPool)
	if err := b.writeFiles(login); err != nil {
		return err
	}
	bin, err := credpoolBinary(ctx, cfg.CredpoolBin, dir)
	if err != nil {
		return err
	}
	args := []string{"--external-logins", "all"}
	for p, u := range b.fake.Overrides() {
		args = append(args, "--token-url", p+"="+u)
	}
	d, err := startDaemon(ctx, bin, dir, b.authFile, filepath.Join(dir, "credpool.sock"), cfg.Tick, daemonExtra{args: args,
		env: []string{"HOME=" + b.home, "CODEX_HOME=", "CLAUDE_CONFIG_DIR=", "QWEN_HOME=", "GEMINI_CLI_HOME="}})
	if err != nil {
		return err
	}
	defer func() {
		if err := d.stop(); err != nil {
			fmt.Fprintln(stderr, "credpool-bench: stopping the daemon:", err)
		}
	}()
	b.c = socketapi.NewClient(filepath.Join(dir, "credpool.sock"))
	defer b.c.Close()

	res := &oauthResult{Config: cfg, Machine: thisMachine(), Relogin: map[string]reloginResult{}}
	if res.Stampede, err = b.stampede(ctx, login); err != nil {
		return err
	}
	if res.StampedeFile, err = b.fileStampede(ctx); err != nil {
		return err
	}
	n := cfg.Recovery
	if n == 0 {
		n = defaultRel
	}
	for _, w := range reloginWriters {
		if res.Relogin[w.source], err = b.relogin(ctx, w, n); err != nil {
			return err
		}
	}
	if res.AuthRelogin, err = measureRecovery(ctx, b.c, b.authFile, otherPool, n); err != nil {
		return err
	}
	if res.SelectIdle, res.SelectBusy, err = b.selectDuringRefresh(ctx); err != nil {
		return err
	}
	if len(b.errors) > 0 {
		res.Errors = b.errors
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	writeOAuthText(stdout, res)
	return nil
}

// writeFiles writes auth.json (the Codex login, as Hermes keeps a device
// code login: row and singleton, and a pool of API keys) and the logins of
// Claude Code and the Codex CLI (an API key) in the daemon's HOME.
func (b *oauthBench) writeFiles(login oauthtest.Token) error {
	gen, err := genAuth(1, max(2, b.cfg.Entries))
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(gen, &doc); err != nil {
		return err
	}
	doc["providers"] = map[string]any{oauthPool: map[string]any{"tokens": map[string]any{
		"access_token": login.AccessToken, "refresh_token": login.RefreshToken, "id_token": login.IDToken}}}
	doc["credential_pool"].(map[string]any)[oauthPool] = []any{map[string]any{
		"id": oauthID, "label": "bench-codex", "auth_type": "oauth", "priority": 0, "source": "device_code",
		"access_token": login.AccessToken, "refresh_token": login.RefreshToken}}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	for _, d := range []string{filepath.Dir(b.authFile), filepath.Dir(b.codexFile()), filepath.Dir(b.claudeFile())} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(b.authFile, out, 0o600); err != nil {
		return err
	}
	for _, w := range reloginWriters {
		if _, _, err := w.write(b); err != nil {
			return err
		}
	}
	return nil
}

// stampede makes cfg.Oauth generations of the storm against the daemon.
func (b *oauthBench) stampede(ctx context.Context, login oauthtest.Token) (stampedeResult, error) {
	res := stampedeResult{Agents: b.cfg.Clients, Generations: b.cfg.OAuth, PostsMin: -1}
	clients := make([]*socketapi.Client, b.cfg.Clients)
	for i := range clients {
		clients[i] = socketapi.NewClient(b.c.SocketPath())
		defer clients[i].Close()
	}
	cur := login
	for g := range b.cfg.OAuth {
		for _, c := range clients {
			sel, err := c.Select(ctx, oauthPool, apitype.SelectRequest{})
			if err != nil || sel.Credential.AccessToken != cur.AccessToken {
				return res, fmt.Errorf("stampede %d: an agent does not hold the current token before the storm (%v)", g, err)
			}
		}
		before := len(b.fake.Requests())
		took, err := storm(len(clients), func(i int) error { return agent401(ctx, clients[i], cur.AccessToken) })
		if err != nil {
			return res, fmt.Errorf("stampede %d: %w", g, err)
		}
		res.generation(b.fake, cur.RefreshToken, before, took)
		issued := b.fake.Issued()
		cur = issued[len(issued)-1]
	}
	res.finish()
	return res, nil
}

// storm lets n agents go at the same moment and says how long it took
// until the last one was done.
func storm(n int, agent func(i int) error) (time.Duration, error) {
	goCh := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-goCh
			errs[i] = agent(i)
		})
	}
	start := time.Now()
	close(goCh)
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// generation records one generation: the POSTs that carried its refresh
// token, the refusals among the requests since the index before, and the
// time until every agent had the new token.
func (r *stampedeResult) generation(fake *oauthtest.Server, refreshToken string, before int, took time.Duration) {
	posts := fake.Posts(refreshToken)
	r.PostsMax = max(r.PostsMax, posts)
	if r.PostsMin < 0 || posts < r.PostsMin {
		r.PostsMin = posts
	}
	r.Refused += refusals(fake.Requests()[before:])
	r.times = append(r.times, int64(took))
}

func (r *stampedeResult) finish() { r.AllNewP50MS, r.AllNewMaxMS = msQuantiles(r.times) }

// agent401 is an agent whose call with token got a 401: it reports it, and
// takes the next credential or waits for one until it holds another token.
func agent401(ctx context.Context, c *socketapi.Client, token string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	rep, err := c.Report(ctx, oauthPool, apitype.ReportRequest{CredentialID: oauthID, APIKeyHint: token, StatusCode: 401})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if rep.Next != nil && rep.Next.AccessToken != token {
		return nil
	}
	for ctx.Err() == nil {
		sel, err := c.Select(ctx, oauthPool, apitype.SelectRequest{WaitMS: 10000})
		switch {
		case err == nil && sel.Credential.AccessToken != token:
			return nil
		case err != nil && !errors.Is(err, pool.ErrNoneAvailable):
			return fmt.Errorf("select: %w", err)
		}
	}
	return ctx.Err()
}

// refusals counts the answers that were not 200.
func refusals(rs []oauthtest.Request) int {
	n := 0
	for _, r := range rs {
		if r.Status != 200 {
			n++
		}
	}
	return n
}

// msQuantiles is the p50 and max of durations in nanoseconds, in ms.
func msQuantiles(ns []int64) (p50, maxMS float64) {
	if len(ns) == 0 {
		return 0, 0
	}
	slices.Sort(ns)
	return msOf(stats.Quantile(ns, 0.5)), msOf(ns[len(ns)-1])
}

func msOf(ns int64) float64 { return stats.Round1(float64(ns)/1e5) / 10 }

// selectDuringRefresh measures selects of the other pool with no refresh,
// then while the Codex login's refresh waits on a slow token endpoint.
func (b *oauthBench) selectDuringRefresh(ctx context.Context) (idle, busy opStats, err error) {
	measure := func() (opStats, error) {
		workers := make([]worker, selectClients)
		for i := range workers {
			workers[i] = newDaemonWorker(socketapi.NewClient(b.c.SocketPath()), otherPool, mix{opSelect: 1}, uint64(i)+1, &resetState{threshold: 1 << 62})
		}
		l := drive(ctx, workers, 0, b.cfg.Warmup, b.cfg.Duration)
		for k, v := range l.errors {
			b.errors[k] += v
		}
		if l.firstErr != nil && len(l.samples[opSelect]) == 0 {
			return opStats{}, l.firstErr
		}
		return summarize(l.samples[opSelect], l.window), ctx.Err()
	}
	if idle, err = measure(); err != nil {
		return idle, busy, err
	}
	// The next refresh is not answered before the refresher gives up on
	// it (oauth.DefaultTimeout), which is after the window.
	if b.cfg.Warmup+b.cfg.Duration > oauth.DefaultTimeout-time.Second {
		return idle, busy, fmt.Errorf("select during refresh: --warmup + --duration must stay under %s, the refresh's timeout", oauth.DefaultTimeout-time.Second)
	}
	b.fake.FailNext(oauthtest.Slow(time.Hour))
	if _, err := b.c.Report(ctx, oauthPool, apitype.ReportRequest{CredentialID: oauthID, StatusCode: 401}); err != nil {
		return idle, busy, err
	}
	refreshing := func() bool {
		p, err := b.c.Pool(ctx, oauthPool)
		return err == nil && len(p.Entries) > 0 && p.Entries[0].Refreshing
	}
	for deadline := time.Now().Add(5 * time.Second); !refreshing(); {
		if time.Now().After(deadline) {
			return idle, busy, errors.New("select during refresh: the refresh did not start")
		}
		sleepCtx(ctx, time.Millisecond)
	}
	if busy, err = measure(); err != nil {
		return idle, busy, err
	}
	if !refreshing() {
		return idle, busy, errors.New("select during refresh: the refresh ended before the window did")
	}
	return idle, busy, nil
}

func writeOAuthText(w io.Writer, r *oauthResult) {
	fmt.Fprintf(w, "credpool-bench --oauth: machine %s, %d cores, %s, %s\n\n", r.Machine.CPU, r.Machine.Cores, r.Machine.GoVersion, r.Machine.Date)
	for _, s := range []struct {
		name string
		r    stampedeResult
	}{{"stampede, credpool", r.Stampede}, {"stampede, file model (each agent refreshes under auth.lock)", r.StampedeFile}} {
		fmt.Fprintf(w, "%s: %d agents × %d generations: POSTs per generation %d..%d, refused %d; every agent has the new token after p50 %.1f ms, max %.1f ms\n",
			s.name, s.r.Agents, s.r.Generations, s.r.PostsMin, s.r.PostsMax, s.r.Refused, s.r.AllNewP50MS, s.r.AllNewMaxMS)
	}
	fmt.Fprintln(w)
	for _, wr := range reloginWriters {
		x := r.Relogin[wr.source]
		fmt.Fprintf(w, "re-login with %s (%s), %d runs: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", wr.source, wr.how, x.N, x.P50MS, x.P99MS, x.MaxMS)
	}
	a := r.AuthRelogin
	fmt.Fprintf(w, "re-login through auth.json (Hermes), %d runs: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n\n", a.N, a.P50MS, a.P99MS, a.MaxMS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "select of other entries (%d clients)\tcount\tops/s\tp50 µs\tp90 µs\tp99 µs\tp99.9 µs\tmax µs\t\n", selectClients)
	for _, row := range []struct {
		name string
		s    opStats
	}{{"no refresh", r.SelectIdle}, {"refresh in flight", r.SelectBusy}} {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", row.name, row.s.Count, row.s.OpsPerS, row.s.P50, row.s.P90, row.s.P99, row.s.P999, row.s.Max)
	}
	tw.Flush()
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "not counted above: %v\n", r.Errors)
	}
}
