package analyze

import (
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// The shape cache serves statements that differ only in their literal
// values, as clients that interpolate values into the text send them
// (psycopg2, PDO's emulated prepares, ORMs in simple-protocol mode): each
// such text misses the text cache, and a full analysis costs ~100 µs, most
// of it in pg_query's parse.
//
// A text's shape is the text with each literal (string, integer, decimal)
// reduced to its kind, and each run of whitespace and comments to one space
// (shapeOf). PostgreSQL's grammar decides the parse from token kinds alone,
// so two texts of one shape parse into the same tree except for the values
// that the grammar copies out of literal tokens. Most of those are A_Const
// nodes at the literal's location, and the analysis reads no A_Const value
// except through engine.consult (ORDER BY 2, set_config's setting name).
// Every other literal (a COPY option, a literal inside a negative number, a
// consulted constant, one that the grammar turns into something else) is
// pinned: the cached analysis serves another text of the shape only if that
// literal's text is the same.
//
// The test TestShapeCacheEquivalence checks the claim over the corpora: an
// analysis served from the shape cache equals a fresh analysis of the text.
//
// Texts with a backslash are not shaped (see backslashLiterals: whether a
// text is ambiguous depends on its literals' contents).

// shapeKey is the cache key of a shape.
type shapeKey struct {
	rev   uint64
	shape string
}

// shaped is a text's shape and its literal tokens, in order.
type shaped struct {
	key  string
	lits [][2]int // start and end offsets
}

// shapeEntry is a cached analysis of one text of a shape.
type shapeEntry struct {
	ent    *entry
	pinned []pinnedLiteral
}

type pinnedLiteral struct {
	i    int // index into shaped.lits
	text string
}

// literalToken reports whether the scanner token t is a literal.
func literalToken(t pg.Token) bool {
	switch t {
	case pg.Token_SCONST, pg.Token_USCONST, pg.Token_BCONST, pg.Token_XCONST, pg.Token_ICONST, pg.Token_FCONST:
		return true
	}
	return false
}

// shapeOf returns sql's shape, or ok=false. It runs on every statement
// the text cache misses, so it is a small Go scanner, not pg_query's (a cgo
// call per statement also wakes the Go runtime's sysmon thread, which then
// polls every 20 µs). It recognises only what it can delimit exactly as
// PostgreSQL's scanner does: plain '...' literals (” inside, no backslash,
// no continuation onto a following literal), integers of up to 9 digits and
// decimals d.d that are not followed by an identifier character or a dot,
// comments, quoted identifiers, identifiers, $n parameters; anything else
// (dollar quoting, E”, B”, X”, U&, exponents, control characters) makes
// the text unshaped. Between literals the key keeps the text as written,
// with each run of whitespace or comments reduced to one space: both
// separate tokens alike, and the Normalized text collapses them the same
// way.
//
// Before a shape is stored, verifyShape checks its literals against
// pg_query's scanner; a text of a stored shape has, byte for byte, the same
// text between its literals as the verified one, so PostgreSQL's scanner
// is in the same state at each literal and reads each as one token of the
// same kind.
func shapeOf(sql string) (shaped, bool) {
	if strings.IndexByte(sql, '\\') >= 0 {
		return shaped{}, false // see backslashLiterals
	}
	var sh shaped
	b := make([]byte, 0, len(sql)+8)
	sep := func() {
		if len(b) == 0 || b[len(b)-1] != ' ' {
			b = append(b, ' ')
		}
	}
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			sep()
		case c < 0x20 || c == 0x7f:
			return shaped{}, false
		case c == '-' && i+1 < n && sql[i+1] == '-':
			for i < n && sql[i] != '\n' && sql[i] != '\r' {
				i++
			}
			sep()
		case c == '/' && i+1 < n && sql[i+1] == '*':
			j, ok := skipBlockComment(sql, i)
			if !ok {
				return shaped{}, false
			}
			i = j
			sep()
		case c == '\'':
			end, ok := skipQuoted(sql, i)
			if !ok || nextIsQuote(sql, end) {
				return shaped{}, false // unterminated; 'a' 'b' on two lines is one literal
			}
			sh.lits = append(sh.lits, [2]int{i, end})
			b = append(b, 1, 'S')
			i = end
		case c == '"':
			end, ok := skipQuoted(sql, i)
			if !ok {
				return shaped{}, false
			}
			b = append(b, sql[i:end]...)
			i = end
		case isDigit(c):
			j := i
			for j < n && isDigit(sql[j]) {
				j++
			}
			kind := byte('I')
			if j < n && sql[j] == '.' {
				k := j + 1
				for k < n && isDigit(sql[k]) {
					k++
				}
				if k == j+1 {
					return shaped{}, false
				}
				j, kind = k, 'F'
			}
			if j < n && (isIdentCont(sql[j]) || sql[j] == '.') || kind == 'I' && j-i > 9 {
				return shaped{}, false // exponent, junk, 1.2.3, maybe not an int4
			}
			sh.lits = append(sh.lits, [2]int{i, j})
			b = append(b, 1, kind)
			i = j
		case c == '.' && i+1 < n && isDigit(sql[i+1]):
			return shaped{}, false
		case c == '$':
			j := i + 1
			for j < n && isDigit(sql[j]) {
				j++
			}
			if j == i+1 || j < n && isIdentCont(sql[j]) {
				return shaped{}, false // dollar quoting
			}
			b = append(b, sql[i:j]...)
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < n && isIdentCont(sql[j]) {
				j++
			}
			if j < n && (sql[j] == '\'' || sql[j] == '&' && j == i+1 && (c == 'u' || c == 'U')) {
				return shaped{}, false // E'', B'', X'', N'', U&''
			}
			b = append(b, sql[i:j]...)
			i = j
		default:
			b = append(b, c)
			i++
		}
	}
	if len(sh.lits) == 0 {
		return shaped{}, false
	}
	sh.key = string(b)
	return sh, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}
func isIdentCont(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

// skipQuoted returns the end of the string or quoted identifier that
// starts at sql[i] (its quote character doubled inside stands for itself).
func skipQuoted(sql string, i int) (int, bool) {
	q := sql[i]
	for j := i + 1; j < len(sql); j++ {
		if sql[j] != q {
			continue
		}
		if j+1 < len(sql) && sql[j+1] == q {
			j++
			continue
		}
		return j + 1, true
	}
	return 0, false
}

// skipBlockComment returns the end of the (nested) comment at sql[i:].
func skipBlockComment(sql string, i int) (int, bool) {
	depth := 0
	for i+1 < len(sql) {
		switch {
		case sql[i] == '/' && sql[i+1] == '*':
			depth++
			i += 2
		case sql[i] == '*' && sql[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i, true
			}
		default:
			i++
		}
	}
	return 0, false
}

// nextIsQuote reports whether the next character after whitespace and
// comments from i is a quote.
func nextIsQuote(sql string, i int) bool {
	for i < len(sql) {
		switch c := sql[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' && sql[i] != '\r' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			j, ok := skipBlockComment(sql, i)
			if !ok {
				return true
			}
			i = j
		default:
			return c == '\''
		}
	}
	return false
}

// verifyShape reports whether pg_query's scanner (PostgreSQL's) found
// exactly sh's literals, with the same kinds, in tokens (its scan of the
// text; nil when the scan failed).
func verifyShape(sh shaped, tokens []*pg.ScanToken) bool {
	if tokens == nil {
		return false
	}
	k := 0
	for _, t := range tokens {
		if !literalToken(t.Token) {
			continue
		}
		if k >= len(sh.lits) || int(t.Start) != sh.lits[k][0] || int(t.End) != sh.lits[k][1] {
			return false
		}
		var want byte
		switch t.Token {
		case pg.Token_SCONST:
			want = 'S'
		case pg.Token_ICONST:
			want = 'I'
		case pg.Token_FCONST:
			want = 'F'
		}
		if want == 0 || literalKind(sh.key, k) != want {
			return false
		}
		k++
	}
	return k == len(sh.lits)
}

// literalKind returns the kind byte of the k-th literal marker in key.
func literalKind(key string, k int) byte {
	for i := 0; i+1 < len(key); i++ {
		if key[i] == 1 {
			if k == 0 {
				return key[i+1]
			}
			k--
			i++
		}
	}
	return 0
}

// serves reports whether the cached analysis applies to a text with the
// given literals: every pinned literal has the same text.
func (se *shapeEntry) serves(sql string, lits [][2]int) bool {
	for _, p := range se.pinned {
		if p.i >= len(lits) {
			return false
		}
		l := lits[p.i]
		if sql[l[0]:l[1]] != p.text {
			return false
		}
	}
	return true
}

// pinLiterals returns the literals of sql that a cached analysis must
// match: all but those at the location of an A_Const node whose value the
// analysis did not consult.
func pinLiterals(sql string, lits [][2]int, tree *pg.ParseResult, consulted []int32) []pinnedLiteral {
	var free []int32
	for _, raw := range tree.Stmts {
		walkNodes(raw, func(n *pg.Node) {
			if c := n.GetAConst(); c != nil {
				free = append(free, c.Location)
			}
		})
	}
	slices.Sort(free)
	var pinned []pinnedLiteral
	for i, l := range lits {
		at := int32(l[0])
		if _, ok := slices.BinarySearch(free, at); ok && !slices.Contains(consulted, at) {
			continue
		}
		pinned = append(pinned, pinnedLiteral{i: i, text: sql[l[0]:l[1]]})
	}
	return pinned
}
