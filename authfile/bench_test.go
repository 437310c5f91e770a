package authfile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// syntheticAuthJSON builds an auth.json of about size bytes: the sample's
// top level with pools of Hermes-like entries (known fields, unknown ones,
// mixed representations).
func syntheticAuthJSON(size int) []byte {
	var b strings.Builder
	b.WriteString(`{
  "version": 1,
  "updated_at": "2026-06-01T12:34:56.789012+00:00",
  "providers": {"nous": {"access_token": "nous-access", "tls": {"insecure": false, "ca_bundle": null}}},
  "credential_pool": {`)
	for p := 0; b.Len() < size; p++ {
		if p > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n    \"provider-%d\": [", p)
		for i := 0; i < 500 && b.Len() < size; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `
      {
        "id": "%06x",
        "label": "key-%d@example.com",
        "auth_type": "oauth",
        "priority": %d,
        "source": "manual:device_code",
        "access_token": "eyJhbGciOiJSUzI1NiJ9.cGVyc29uYWw.sig-%d-%d",
        "refresh_token": "rt_refresh_%d_%d",
        "last_status": "exhausted",
        "last_status_at": "2026-06-01T12:30:00+00:00",
        "last_error_code": 429,
        "last_error_reason": "usage_limit_reached",
        "last_error_message": "The usage limit has been reached",
        "last_error_reset_at": 1749384000.0,
        "base_url": "https://chatgpt.com/backend-api/codex",
        "last_refresh": "2026-06-01T12:00:00Z",
        "request_count": %d,
        "failure_reason": "billing",
        "tls": {"insecure": false}
      }`, p*1000+i, i, i, p, i, p, i, i*7)
		}
		b.WriteString("\n    ]")
	}
	b.WriteString("\n  },\n  \"x_unknown_top_level\": {\"kept\": true}\n}\n")
	return []byte(b.String())
}

var benchSizes = []struct {
	name string
	size int
}{{"1MB", 1 << 20}, {"10MB", 10 << 20}}

// benchSized runs op for each size; setup turns the document into the
// operation to time.
func benchSized(b *testing.B, setup func(b *testing.B, data []byte) func() error) {
	for _, s := range benchSizes {
		data := syntheticAuthJSON(s.size)
		b.Run(s.name, func(b *testing.B) {
			op := setup(b, data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	benchSized(b, func(b *testing.B, data []byte) func() error {
		return func() error { _, err := Parse(data); return err }
	})
}

func BenchmarkMarshal(b *testing.B) {
	benchSized(b, func(b *testing.B, data []byte) func() error {
		f, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		// One changed entry per pool, as after a round of status reports.
		for k := range f.Pools {
			f.Pools[k][0].RequestCount++
		}
		return func() error { _, err := f.Marshal(); return err }
	})
}

func BenchmarkParseMarshal(b *testing.B) {
	benchSized(b, func(b *testing.B, data []byte) func() error {
		return func() error {
			f, err := Parse(data)
			if err != nil {
				return err
			}
			f.Pools["provider-0"][0].RequestCount++
			_, err = f.Marshal()
			return err
		}
	})
}

// BenchmarkUpdate is the whole read-modify-write on disk: lock, read,
// parse, two marshals, atomic write with fsyncs, unlock.
func BenchmarkUpdate(b *testing.B) {
	benchSized(b, func(b *testing.B, data []byte) func() error {
		st := NewStore(filepath.Join(b.TempDir(), "auth.json"))
		if err := os.WriteFile(st.Path(), data, 0o600); err != nil {
			b.Fatal(err)
		}
		return func() error {
			_, err := st.Update(context.Background(), func(f *File) error {
				f.Pools["provider-0"][0].RequestCount++
				return nil
			})
			return err
		}
	})
}

// hermesPool is an auth.json with one provider of n api_key entries laid
// out as Hermes writes them (about 520 bytes each), like the file
// cmd/credpool-bench generates.
func hermesPool(n int) []byte {
	var b strings.Builder
	b.WriteString(`{
  "version": 1,
  "updated_at": "2026-06-01T12:34:56.789012+00:00",
  "active_provider": "bench-p0",
  "providers": {},
  "credential_pool": {
    "bench-p0": [`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `
      {
        "id": "%06x",
        "label": "key-%d",
        "auth_type": "api_key",
        "priority": %d,
        "source": "manual",
        "access_token": "sk-bench-%048x",
        "base_url": "https://api.example.invalid/v1",
        "request_count": 0,
        "last_status": null,
        "last_status_at": null,
        "last_error_code": null,
        "last_error_reason": null,
        "last_error_message": null,
        "last_error_reset_at": null
      }`, i, i, i, i*7919)
	}
	b.WriteString("\n    ]\n  },\n  \"suppressed_sources\": {}\n}\n")
	return []byte(b.String())
}

// BenchmarkUpdate10k is the daemon's once-a-second flush on a 10,000-entry
// pool: the whole read-modify-write on disk, with one request count changed
// or, for NoChange, a change function that changes nothing.
func BenchmarkUpdate10k(b *testing.B) {
	bump := func(f *File) error { f.Pools["bench-p0"][0].RequestCount++; return nil }
	benchUpdate10k(b, bump)
}

func BenchmarkUpdate10kNoChange(b *testing.B) {
	benchUpdate10k(b, func(*File) error { return nil })
}

func benchUpdate10k(b *testing.B, fn func(*File) error) {
	data := hermesPool(10000)
	st := NewStore(filepath.Join(b.TempDir(), "auth.json"))
	if err := os.WriteFile(st.Path(), data, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Update(context.Background(), fn); err != nil {
			b.Fatal(err)
		}
	}
}
