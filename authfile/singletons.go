package authfile

import (
	"maps"

	"github.com/credpool/credpool/pool"
)

// Singletons are the per-provider logins Hermes keeps under providers.<p>:
// tokens.access_token and tokens.refresh_token, or access_token and
// refresh_token at the provider's top level as the nous provider stores
// them. The pool reads them (device_code entries follow them) and, when it
// refreshed such an entry's tokens, writes them back where Hermes looks.
// Only the two token values of a provider whose singleton changed are
// rewritten; every other byte of providers stays as it was.

// singletonsChanged reports whether a caller changed a singleton's tokens.
func (f *File) singletonsChanged() bool {
	return !maps.Equal(f.singletons, f.parsedSingletons)
}

// writeProviders writes the providers object m with the changed
// singletons' tokens replaced.
func (f *File) writeProviders(w *writer, m member) {
	w.buf.WriteByte('{')
	n := 0
	for _, pm := range splitObject(f.doc, m.off) {
		w.member(&n, 2, pm.rawKey)
		cur, ok := f.singletons[pm.key]
		if !ok || cur == f.parsedSingletons[pm.key] || pm.val[0] != '{' {
			w.buf.Write(pm.val)
			continue
		}
		f.writeSingleton(w, pm, cur.Tokens)
	}
	w.close(n, 1, '}')
}

// writeSingleton writes one provider's object with its tokens replaced, in
// the place readSingletons found them.
func (f *File) writeSingleton(w *writer, pm member, t pool.Tokens) {
	po := splitObject(f.doc, pm.off)
	tm, inTokens := po.get("tokens")
	inTokens = inTokens && tm.val[0] == '{' && tokensOf(splitObject(f.doc, tm.off)) != (pool.Tokens{})
	w.buf.WriteByte('{')
	n := 0
	for _, x := range po {
		w.member(&n, 3, x.rawKey)
		if inTokens && x.key == "tokens" {
			writeTokens(w, splitObject(f.doc, x.off), t, 4)
			continue
		}
		if !inTokens {
			if v, ok := tokenValue(x.key, t); ok {
				w.buf.Write(appendQuoted(w.buf.AvailableBuffer(), v))
				continue
			}
		}
		w.buf.Write(x.val)
	}
	if !inTokens && !po.has("refresh_token") && t.RefreshToken != "" {
		w.member(&n, 3, []byte(`"refresh_token"`))
		w.buf.Write(appendQuoted(w.buf.AvailableBuffer(), t.RefreshToken))
	}
	w.close(n, 2, '}')
}

// writeTokens writes a tokens object whose members sit at depth, with the
// access and refresh token replaced.
func writeTokens(w *writer, o object, t pool.Tokens, depth int) {
	w.buf.WriteByte('{')
	n := 0
	for _, x := range o {
		w.member(&n, depth, x.rawKey)
		if v, ok := tokenValue(x.key, t); ok {
			w.buf.Write(appendQuoted(w.buf.AvailableBuffer(), v))
			continue
		}
		w.buf.Write(x.val)
	}
	if !o.has("refresh_token") && t.RefreshToken != "" {
		w.member(&n, depth, []byte(`"refresh_token"`))
		w.buf.Write(appendQuoted(w.buf.AvailableBuffer(), t.RefreshToken))
	}
	w.close(n, depth-1, '}')
}

func tokenValue(key string, t pool.Tokens) (string, bool) {
	switch key {
	case "access_token":
		return t.AccessToken, true
	case "refresh_token":
		return t.RefreshToken, true
	}
	return "", false
}
