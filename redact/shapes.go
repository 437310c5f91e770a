package redact

import "strings"

// A shape is a token format known by its prefix: the prefix, then a body of
// at least minBody characters of one class. Every shape but the JWT must
// start a word, so that the sk- inside risk-assessment or task-ant-colony is
// no key.
type shape struct {
	prefix string
	body   *class
	// random: the prefix is one a word could begin with (sk-, xai-), so the
	// body must also look random (a digit, a mask '*', or a lower-case letter
	// followed by a capital), not like sk-learn-something.
	random bool
}

// minBody is the shortest body after a prefix that makes a token: a bare
// sk-1 is no key, and a key quoted this short gives too little away.
const minBody = 8

// Classes of body bytes; each has its own slot in a scanner's run cache.
var (
	skBody     = newClass(0, "_-*") // '*': masked forms such as sk-proj-****abcd
	xaiBody    = newClass(1, "*")
	googleBody = newClass(2, "_-")
	ghBody     = newClass(3, "_")
	b64url     = newClass(4, "_-")
	token68    = newClass(5, "-._~+/") // RFC 7235 token68, without its '=' padding
)

const numClasses = 6

// shapes lists the specific sk- forms before the bare sk-: they need no
// random-looking body (sk-proj-abcdefgh is a key cut short).
var shapes = []shape{
	{"sk-ant-", skBody, false},   // Anthropic: sk-ant-api03-…, sk-ant-oat01-…
	{"sk-or-v1-", skBody, false}, // OpenRouter
	{"sk-proj-", skBody, false},  // OpenAI project key
	{"sk-svcacct-", skBody, false},
	{"sk-admin-", skBody, false},
	{"sk-", skBody, true}, // OpenAI legacy and any other sk-
	{"xai-", xaiBody, true},
	{"AIza", googleBody, false}, // Google API key
	{"ghp_", ghBody, false},     // GitHub: personal, OAuth, user, server, refresh
	{"gho_", ghBody, false},
	{"ghu_", ghBody, false},
	{"ghs_", ghBody, false},
	{"ghr_", ghBody, false},
	{"github_pat_", ghBody, false},
}

// byFirst lists the shapes by the first byte of their prefix.
var byFirst = func() (t [256][]shape) {
	for _, sh := range shapes {
		t[sh.prefix[0]] = append(t[sh.prefix[0]], sh)
	}
	return t
}()

// shapeGate holds the first two bytes of every shape prefix, of eyJ and of
// the word Bearer in any case: the scan looks for a shape only where they
// fit, which ordinary text rarely does ('e' and 's' are common letters, "ey"
// and "sk" much less so).
var shapeGate = func() (g pairTable) {
	for _, sh := range shapes {
		g.add(sh.prefix)
	}
	for _, p := range []string{"ey", "be", "bE", "Be", "BE"} {
		g.add(p)
	}
	return g
}()

// shapeScanner finds token shapes in one text, position after position.
// Bodies are maximal runs, so the shapes found at neighbouring positions
// share their runs (sk-sk-sk-…, eyJeyJeyJ…): the last run of each class and
// the last JWT are kept, which keeps a text's scan linear in its length.
type shapeScanner struct {
	s        string
	bearerAt int                                 // a token after "Bearer " would start here
	runs     [numClasses]struct{ from, end int } // s[from:end] is a whole run, from<end
	jwt      struct{ from, hdrEnd, end int }     // header run s[from:hdrEnd] ends a JWT at end (-1: none)
	chain    struct{ from, end int }             // s[from:end] is a chain of .part groups
}

func newShapeScanner(s string) shapeScanner {
	sc := shapeScanner{s: s, bearerAt: -1}
	for k := range sc.runs {
		sc.runs[k].from, sc.runs[k].end = -1, -1
	}
	sc.jwt.from, sc.jwt.hdrEnd = -1, -1
	sc.chain.from, sc.chain.end = -1, -1
	return sc
}

// shapeEnd returns the end of the token-shaped string that starts at s[i],
// or i when none does. afterSecret says a known secret ends at s[i]: it will
// be replaced, so s[i] starts a word whatever came before.
func (sc *shapeScanner) shapeEnd(i int, afterSecret bool) int {
	s := sc.s
	end := i
	if i == sc.bearerAt {
		end = sc.bearerEnd(i)
	}
	c := s[i]
	if c == 'e' {
		end = max(end, sc.jwtEnd(i))
	}
	if c == 'b' || c == 'B' {
		sc.noteBearer(i)
	}
	if len(byFirst[c]) > 0 && (afterSecret || wordStart(s, i)) {
		for _, sh := range byFirst[c] {
			if !strings.HasPrefix(s[i:], sh.prefix) {
				continue
			}
			from := i + len(sh.prefix)
			e := sc.run(sh.body, from)
			if e-from >= minBody && (!sh.random || looksRandom(s[from:e])) {
				return max(end, e)
			}
		}
	}
	return end
}

// jwtEnd matches a JWS or JWE in compact form at s[i]: a base64url header
// that begins `{"` (eyJ), two more dot-separated parts that may be empty
// (an unsigned token, a JWE without a key), then any further non-empty
// parts. A JWT cut before its second dot carries no signature and is left
// alone. It may start inside a word: nothing ordinary looks like eyJ + 7
// characters + two dots.
func (sc *shapeScanner) jwtEnd(i int) int {
	s := sc.s
	// After a dot, eyJ… is a later part of a token (a payload), not the
	// header of one.
	if !strings.HasPrefix(s[i:], "eyJ") || i > 0 && s[i-1] == '.' {
		return i
	}
	// What follows a header run does not depend on where in it the
	// header starts.
	if j := &sc.jwt; i+3 < j.from || i+3 > j.hdrEnd {
		j.from = i + 3
		j.hdrEnd = sc.run(b64url, j.from)
		j.end = -1
		e, dots := j.hdrEnd, 0
		for ; dots < 2 && e < len(s) && s[e] == '.'; dots++ {
			e = b64url.run(s, e+1)
		}
		if dots == 2 {
			j.end = sc.chainEnd(e)
		}
	}
	if sc.jwt.end < 0 || sc.jwt.hdrEnd-i < 10 {
		return i
	}
	return sc.jwt.end
}

// chainEnd returns the end of the ".part" groups with non-empty parts that
// follow s[p]; it stops before a dot that ends a sentence. Headers come
// in order, so a chain is walked once: a later header whose parts join it
// at one of its dots gets the end kept.
func (sc *shapeScanner) chainEnd(p int) int {
	s, c := sc.s, &sc.chain
	if p >= c.from && p < c.end && s[p] == '.' {
		return c.end
	}
	e := p
	for e < len(s) && s[e] == '.' {
		next := b64url.run(s, e+1)
		if next == e+1 {
			break
		}
		e = next
	}
	if e > p {
		c.from, c.end = p, e
	}
	return e
}

// noteBearer marks where the credential of "Bearer <token>" (any case,
// blanks between) would start when the word starts at s[i]. The token is
// matched when the scan gets there, so that spans come in order of start.
func (sc *shapeScanner) noteBearer(i int) {
	const word = "bearer"
	s := sc.s
	if len(s)-i <= len(word) || !strings.EqualFold(s[i:i+len(word)], word) || !wordStart(s, i) {
		return
	}
	j := i + len(word)
	for j < len(s) && isBlank(s[j]) {
		j++
	}
	if j > i+len(word) {
		sc.bearerAt = j
	}
}

// bearerEnd matches the token that follows "Bearer " at s[i]. Only the token
// is replaced: "Bearer" stays, and says what was there. The token must look
// random, so that prose such as "Bearer authentication failed" stays.
// Tokens after blanks never overlap, so their runs need no cache.
func (sc *shapeScanner) bearerEnd(i int) int {
	s := sc.s
	end := token68.run(s, i)
	for end > i && s[end-1] == '.' {
		end-- // a full stop, not part of the token
	}
	for end < len(s) && s[end] == '=' {
		end++
	}
	if end-i < minBody || !looksRandom(s[i:end]) {
		return i
	}
	return end
}

// run is c.run(s, from), reusing the last run of c when from falls in it or
// reaches it (a shorter prefix at the same position).
func (sc *shapeScanner) run(c *class, from int) int {
	r := &sc.runs[c.id]
	if from >= r.from && from <= r.end {
		return r.end
	}
	end := from
	for end < len(sc.s) && c.in[sc.s[end]] {
		if end == r.from {
			end = r.end
			break
		}
		end++
	}
	if end > from {
		r.from, r.end = from, end
	}
	return end
}

// randomWithin bounds what looksRandom reads: a random token shows a digit
// or a capital after a small letter long before, and without the bound a
// text such as sk-sk-sk-… would be read again at every sk-.
const randomWithin = 64

// looksRandom reports whether b (its first randomWithin bytes) has a digit,
// a mask '*', or a lower-case letter followed by a capital: true of a
// random token of 8+ characters with near certainty, false of ordinary
// words (authentication, learn-models, YOUR_KEY).
func looksRandom(b string) bool {
	b = b[:min(len(b), randomWithin)]
	for k := 0; k < len(b); k++ {
		c := b[k]
		if c >= '0' && c <= '9' || c == '*' {
			return true
		}
		if k > 0 && c >= 'A' && c <= 'Z' && b[k-1] >= 'a' && b[k-1] <= 'z' {
			return true
		}
	}
	return false
}

// wordStart reports whether s[i] begins a word: no ASCII letter or digit
// before it.
func wordStart(s string, i int) bool {
	return i == 0 || !isAlnum(s[i-1])
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// class is a set of bytes: ASCII letters and digits plus some others.
type class struct {
	id int // slot in shapeScanner.runs
	in [256]bool
}

func newClass(id int, extra string) *class {
	c := class{id: id}
	for b := range 256 {
		c.in[b] = isAlnum(byte(b))
	}
	for k := 0; k < len(extra); k++ {
		c.in[extra[k]] = true
	}
	return &c
}

// run returns the end of the run of bytes of c that starts at s[i].
func (c *class) run(s string, i int) int {
	for i < len(s) && c.in[s[i]] {
		i++
	}
	return i
}
