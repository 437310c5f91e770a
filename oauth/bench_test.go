package oauth_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/credpool/credpool/epoch"
	"github.com/credpool/credpool/oauth"
	"github.com/credpool/credpool/oauth/oauthtest"
)

// BenchmarkRefresh is one full refresh against the loopback fake: the
// x/oauth2 path (codex) and the hand-written one (nous). Each iteration
// spends the token the previous one got.
func BenchmarkRefresh(b *testing.B) {
	for _, provider := range []string{oauth.Codex, oauth.Nous} {
		b.Run(provider, func(b *testing.B) {
			s := oauthtest.New(b)
			r := &oauth.Refresher{Overrides: s.Overrides()}
			rt := s.Issue(provider).RefreshToken
			b.ReportAllocs()
			for b.Loop() {
				res, err := r.Refresh(context.Background(), oauth.Request{Provider: provider, RefreshToken: rt})
				if err != nil {
					b.Fatal(err)
				}
				rt = res.RefreshToken
			}
		})
	}
}

func BenchmarkDue(b *testing.B) {
	at := epoch.Seconds(now) + 3000
	for b.Loop() {
		oauth.Due(oauth.XAI, at, now, 0)
	}
}

// BenchmarkLedger: Add is a read-modify-write with two fsyncs on a ledger
// at its 256-entry bound; Contains is a read.
func BenchmarkLedger(b *testing.B) {
	l := &oauth.SpentLedger{Path: filepath.Join(b.TempDir(), "c.json"+oauth.SpentLedgerSuffix)}
	for i := range 256 {
		if err := l.Add(fmt.Sprint("rt-", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Add", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			if err := l.Add(fmt.Sprint("rt-new-", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Contains", func(b *testing.B) {
		for b.Loop() {
			if _, err := l.Contains("rt-absent"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
