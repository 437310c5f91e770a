package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/credpool/credpool/internal/stats"
)

// httpWorker is an agent calling a provider over HTTP: one POST per step,
// on its own keep-alive connection, read to the end. With ttfb the step
// ends at the first byte of the body, and the rest is read untimed
// (housekeep), so the latency is the time to first byte.
type httpWorker struct {
	hc        *http.Client
	op        string
	url, auth string
	body      []byte
	ttfb      bool
	rest      io.ReadCloser
}

func httpWorkers(n int, op, url, auth, body string, ttfb bool) []worker {
	ws := make([]worker, n)
	for i := range ws {
		ws[i] = &httpWorker{hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}},
			op: op, url: url, auth: auth, body: []byte(body), ttfb: ttfb}
	}
	return ws
}

func (w *httpWorker) step(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(w.body))
	if err != nil {
		return w.op, err
	}
	req.Header.Set("Authorization", w.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.hc.Do(req)
	if err != nil {
		return w.op, err
	}
	if resp.StatusCode != http.StatusOK {
		drainClose(resp.Body)
		return w.op, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if w.ttfb {
		var b [1]byte
		_, err := io.ReadFull(resp.Body, b[:])
		w.rest = resp.Body
		return w.op, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return w.op, err
}

func (w *httpWorker) housekeep(context.Context) {
	if w.rest != nil {
		drainClose(w.rest)
		w.rest = nil
	}
}

func (w *httpWorker) close(context.Context) { w.hc.CloseIdleConnections() }

func drainClose(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, rc)
	_ = rc.Close()
}

// holdWindow is how long the held streams stay open and quiet while the
// daemon's CPU is counted.
const holdWindow = 2 * time.Second

// holdStreams opens n streams through the gateway that send one event and
// then wait (the fake's Hang key), and reads the daemon's RSS once every
// one of them has its first event, and its CPU while they stay open.
func holdStreams(ctx context.Context, tg *gwTarget, pid, n int) (heldResult, error) {
	res := heldResult{Streams: n, WindowS: holdWindow.Seconds()}
	if ps, err := readProc(pid); err == nil {
		res.RSSBeforeBytes = ps.RSS
	}
	hctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	open := make(chan error, n)
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	for range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(hctx, http.MethodPost, tg.gateway+"/"+gwHangPool+"/chat/completions",
				bytes.NewReader([]byte(streamBody)))
			if err != nil {
				open <- err
				return
			}
			req.Header.Set("Authorization", "Bearer "+tg.token)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				open <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				open <- fmt.Errorf("HTTP %d", resp.StatusCode)
				return
			}
			_, err = bufio.NewReader(resp.Body).ReadString('\n')
			open <- err
			<-hctx.Done()
		})
	}
	for range n {
		select {
		case err := <-open:
			if err != nil {
				return res, fmt.Errorf("held stream: %w", err)
			}
		case <-time.After(30 * time.Second):
			return res, fmt.Errorf("held streams: not all %d opened within 30 s", n)
		}
	}
	before, err := readProc(pid)
	if err != nil {
		return res, err
	}
	res.RSSBytes = before.RSS
	sleepCtx(ctx, holdWindow)
	after, err := readProc(pid)
	if err != nil {
		return res, err
	}
	res.CPUS = stats.Round1((after.CPU-before.CPU)*100) / 100
	return res, ctx.Err()
}
