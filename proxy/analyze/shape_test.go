package analyze

import (
	"reflect"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgveil/pgveil/rules"
)

var literalAlternatives = map[pg.Token][2]string{
	pg.Token_ICONST:  {"7", "8"},
	pg.Token_FCONST:  {"1.5", "2.5"},
	pg.Token_SCONST:  {"'zq'", "'qz'"},
	pg.Token_USCONST: {"U&'zq'", "U&'qz'"},
	pg.Token_BCONST:  {"B'10'", "B'01'"},
	pg.Token_XCONST:  {"X'1F'", "X'2E'"},
}

// literalVariant returns sql with the literal tokens whose index is in
// change replaced by other literals of the same token kind (nil changes
// every literal), or "" when PostgreSQL's scanner rejects sql.
func literalVariant(sql string, change map[int]bool) string {
	res, err := pg.Scan(sql)
	if err != nil {
		return ""
	}
	var b strings.Builder
	pos, i := 0, 0
	for _, tok := range res.Tokens {
		if !literalToken(tok.Token) {
			continue
		}
		start, end := int(tok.Start), int(tok.End)
		b.WriteString(sql[pos:start])
		pos = end
		lit := sql[start:end]
		if change != nil && !change[i] {
			b.WriteString(lit)
			i++
			continue
		}
		i++
		// Another literal of the same token kind (the second when the
		// first is the literal itself).
		alts := literalAlternatives[tok.Token]
		alt := alts[0]
		if lit == alt {
			alt = alts[1]
		}
		b.WriteString(alt)
	}
	b.WriteString(sql[pos:])
	return b.String()
}

// TestShapeCacheEquivalence: an analysis served from the shape cache is the
// analysis of the text itself. For every corpus statement with literals,
// each literal alone and then all of them are replaced by other values; the
// analyzer, primed with the original, must answer exactly what a fresh
// analysis of the variant says. (Remove the consult in clauseExpr and the
// GROUP BY 1 / ORDER BY 2 entries fail.)
func TestShapeCacheEquivalence(t *testing.T) {
	snap := testSnapshot()
	var entries []corpusEntry
	for _, f := range []string{"testdata/hostile.sql", "testdata/analytic.sql"} {
		entries = append(entries, loadCorpus(t, f)...)
	}
	extra := []string{
		"SELECT full_name, email FROM customers ORDER BY 1",
		"SELECT full_name, email FROM customers ORDER BY 2 LIMIT 10 OFFSET 20",
		"SELECT DISTINCT ON (1) email, full_name FROM customers",
		"SELECT set_config('application_name', 'x', false)",
		"COPY (SELECT full_name FROM customers WHERE id = 3) TO STDOUT WITH (FORMAT csv, DELIMITER ';', NULL 'n/a')",
		"SELECT email FROM customers WHERE id = -5 AND country = N'DE' AND birth_date > date '1990-01-01' + interval '1 day'",
		"SELECT x'1f'::int, b'101', 1e10, 99999999999, 0.5, $$dollar$$ FROM customers WHERE full_name = U&'d\\0061t'",
		"SELECT email::varchar(10), phone::numeric(12, 2) FROM customers FETCH FIRST 3 ROWS ONLY",
		"FETCH 5 FROM c",
		"SET NAMES 'UTF8'",
		"VALUES (1, 'a'), (2, 'b') ORDER BY 2",
		"SELECT 1; SELECT email FROM customers WHERE id = 2; SELECT 3 ORDER BY 1",
	}
	for i, q := range extra {
		entries = append(entries, corpusEntry{name: "extra" + string(rune('a'+i)), sql: q})
	}
	var shapedN, served, variants int
	for _, e := range entries {
		sh, ok := shapeOf(e.sql)
		if !ok {
			continue
		}
		shapedN++
		cases := []map[int]bool{nil}
		for i := range sh.lits {
			cases = append(cases, map[int]bool{i: true})
		}
		for _, change := range cases {
			v := literalVariant(e.sql, change)
			if vs, ok := shapeOf(v); !ok || vs.key != sh.key {
				continue
			}
			variants++
			a, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			primed := a.AnalyzeWith(snap, e.sql)
			got := a.AnalyzeWith(snap, v)
			if len(got) > 0 && len(primed) > 0 && got[0] == primed[0] {
				served++
			}
			want := analyzeText(snap, v).stmts
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: variant %q\nserved %s\nwant   %s", e.name, v, describe(got), describe(want))
			}
		}
	}
	t.Logf("%d texts with literals, %d variants, %d served from the shape cache", shapedN, variants, served)
	if served < variants/2 {
		t.Errorf("only %d of %d variants served from the shape cache", served, variants)
	}
}

func describe(stmts []*rules.Statement) string {
	var b strings.Builder
	for _, st := range stmts {
		b.WriteString(st.Summary + " " + st.Normalized + " " + st.OpaqueReason)
		for _, o := range st.Outputs {
			b.WriteString(" | " + o.Name)
			for _, s := range o.Sources {
				b.WriteString(" " + s.Table + "." + s.Column)
			}
		}
		for _, c := range st.Columns {
			b.WriteString(" ; " + c.Table + "." + c.Column + ":" + strings.Join(c.Uses.Names(), ","))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestShapeCachePins: a literal whose value decides the analysis is never
// taken from another text of the same shape.
func TestShapeCachePins(t *testing.T) {
	snap := testSnapshot()
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	first := a.AnalyzeWith(snap, "SELECT id FROM customers WHERE id = 1")
	second := a.AnalyzeWith(snap, "SELECT id FROM customers WHERE id = 2")
	if second[0] != first[0] {
		t.Errorf("a text differing in a WHERE literal was analyzed again, not served from the shape cache")
	}
	a.AnalyzeWith(snap, "SELECT full_name, email FROM customers ORDER BY 1")
	st := a.AnalyzeWith(snap, "SELECT full_name, email FROM customers ORDER BY 2")[0]
	var emailUses rules.Use
	for _, c := range st.Columns {
		if c.Column == "email" {
			emailUses = c.Uses
		}
	}
	if emailUses&rules.UseOrder == 0 {
		t.Errorf("ORDER BY 2 served from ORDER BY 1's analysis: email uses %v", emailUses.Names())
	}
	a.AnalyzeWith(snap, "SELECT set_config('application_name', 'x', false)")
	if st := a.AnalyzeWith(snap, "SELECT set_config('client_encoding', 'x', false)")[0]; !st.ChangesEncoding {
		t.Errorf("set_config('client_encoding') served from set_config('application_name')'s analysis")
	}
}

// FuzzShapeLiterals checks the claim the shape cache rests on: when
// PostgreSQL's scanner agrees with shapeOf on a text's literals, it agrees
// on every text of the same shape, whatever the literals hold. The second
// input supplies new literal contents.
func FuzzShapeLiterals(f *testing.F) {
	for _, s := range [][2]string{
		{"SELECT email FROM customers WHERE id = 1 AND full_name = 'x' AND score > 1.5", "it's -- /* $$ \" ü"},
		{"SELECT 'a' -- c\n, 'b' /* 'c' */ FROM t WHERE \"q\"\"x\" = 2", "\n'\n"},
		{"INSERT INTO t VALUES (1, 'two', 3.0), ($1, 'x', 4.25)", "0123456789"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, sql, fill string) {
		sh, ok := shapeOf(sql)
		if !ok || !scanVerify(sql, sh) {
			return
		}
		// New contents: a string literal gets fill (quotes doubled, no
		// backslash or control characters), a number gets fill's digits.
		var str, digits strings.Builder
		for _, r := range fill {
			switch {
			case r == '\\' || r < 0x20 || r == 0x7f:
			case r == '\'':
				str.WriteString("''")
			default:
				str.WriteRune(r)
			}
			if r >= '0' && r <= '9' && digits.Len() < 9 {
				digits.WriteRune(r)
			}
		}
		d := digits.String()
		if d == "" {
			d = "0"
		}
		var b strings.Builder
		pos := 0
		for k, l := range sh.lits {
			b.WriteString(sql[pos:l[0]])
			switch literalKind(sh.key, k) {
			case 'S':
				b.WriteString("'" + str.String() + "'")
			case 'I':
				b.WriteString(d)
			case 'F':
				b.WriteString(d + "." + d)
			}
			pos = l[1]
		}
		b.WriteString(sql[pos:])
		v := b.String()
		vs, ok := shapeOf(v)
		if !ok || vs.key != sh.key {
			t.Fatalf("%q: a variant of a shaped text has another shape: %q", sql, v)
		}
		if !scanVerify(v, vs) {
			t.Fatalf("%q verified, but PostgreSQL's scanner reads the literals of %q differently", sql, v)
		}
	})
}

// scanVerify is verifyShape on a fresh scan of sql.
func scanVerify(sql string, sh shaped) bool {
	res, err := pg.Scan(sql)
	return err == nil && verifyShape(sh, res.Tokens)
}
