package analyze

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgveil/pgveil/rules"
)

// corpusEntry is one statement of testdata/hostile.sql or analytic.sql.
type corpusEntry struct {
	name  string
	line  int
	dirs  [][2]string // key, value in order
	sql   string
	file  string
	count int // number of statements
}

func (c corpusEntry) get(key string) (string, bool) {
	for _, d := range c.dirs {
		if d[0] == key {
			return d[1], true
		}
	}
	return "", false
}

func (c corpusEntry) all(key string) []string {
	var out []string
	for _, d := range c.dirs {
		if d[0] == key {
			out = append(out, d[1])
		}
	}
	return out
}

// loadCorpus parses a corpus file: "-- name: x" starts an entry, the
// "-- key: value" lines after it are directives, the rest is SQL.
func loadCorpus(t testing.TB, path string) []corpusEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out   []corpusEntry
		cur   *corpusEntry
		inSQL bool
		sql   []string
	)
	flush := func() {
		if cur != nil {
			cur.sql = strings.TrimSpace(strings.Join(sql, "\n"))
			out = append(out, *cur)
		}
		cur, sql, inSQL = nil, nil, false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "-- name:"); ok {
			flush()
			cur = &corpusEntry{name: strings.TrimSpace(name), line: n, file: path}
			continue
		}
		if cur == nil {
			continue
		}
		if !inSQL {
			if rest, ok := strings.CutPrefix(line, "-- "); ok {
				if k, v, ok := strings.Cut(rest, ":"); ok && !strings.Contains(k, " ") {
					cur.dirs = append(cur.dirs, [2]string{k, strings.TrimSpace(v)})
					continue
				}
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			inSQL = true
		}
		sql = append(sql, line)
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range out {
		if seen[e.name] {
			t.Fatalf("%s: duplicate entry %q", path, e.name)
		}
		seen[e.name] = true
		if e.sql == "" {
			t.Fatalf("%s:%d: entry %q has no SQL", path, e.line, e.name)
		}
	}
	return out
}

// refs parses "customers.email pg_catalog.pg_stats.x customers.*" into
// column references of the test schema.
func refs(t *testing.T, snap *Snapshot, words []string) []rules.ColumnRef {
	t.Helper()
	var out []rules.ColumnRef
	for _, w := range words {
		parts := strings.Split(w, ".")
		var table, col string
		switch len(parts) {
		case 2:
			table, col = "public."+parts[0], parts[1]
		case 3:
			table, col = parts[0]+"."+parts[1], parts[2]
		default:
			t.Fatalf("bad source %q", w)
		}
		if col == "*" {
			ri := snap.byQName[table]
			if ri == nil {
				t.Fatalf("unknown table %q", table)
			}
			for _, c := range ri.rel.Columns {
				out = append(out, rules.ColumnRef{Table: table, Column: c.Name})
			}
			continue
		}
		out = append(out, rules.ColumnRef{Table: table, Column: col})
	}
	slices.SortFunc(out, compareRef)
	return slices.Compact(out)
}

// checkOutput compares one output with an "out:" directive.
func checkOutput(t *testing.T, snap *Snapshot, i int, o rules.Output, want string) {
	t.Helper()
	words := strings.Fields(want)
	if len(words) == 0 {
		t.Fatalf("empty out directive")
	}
	mode, srcs := words[0], words[1:]
	switch mode {
	case "none":
		if len(o.Sources) != 0 || o.Unknown {
			t.Errorf("output %d (%s): got sources %v unknown=%v, want none", i+1, o.Name, o.Sources, o.Unknown)
		}
		return
	case "unknown":
		if !o.Unknown {
			t.Errorf("output %d (%s): not Unknown (sources %v)", i+1, o.Name, o.Sources)
		}
		if o.Direct {
			t.Errorf("output %d (%s): Unknown and Direct", i+1, o.Name)
		}
		if len(srcs) == 0 {
			return
		}
	case "direct", "derived":
		if o.Unknown {
			t.Errorf("output %d (%s): unexpectedly Unknown", i+1, o.Name)
		}
		if o.Direct != (mode == "direct") {
			t.Errorf("output %d (%s): Direct = %v, want %s", i+1, o.Name, o.Direct, mode)
		}
	default:
		t.Fatalf("bad out directive %q", want)
	}
	if w := refs(t, snap, srcs); !slices.Equal(o.Sources, w) {
		t.Errorf("output %d (%s): sources\n got %v\nwant %v", i+1, o.Name, o.Sources, w)
	}
}

func checkOutputs(t *testing.T, snap *Snapshot, what string, outs []rules.Output, want []string) {
	t.Helper()
	if len(outs) != len(want) {
		t.Errorf("%s: %d outputs, want %d: %+v", what, len(outs), len(want), outs)
		return
	}
	for i := range want {
		checkOutput(t, snap, i, outs[i], want[i])
	}
}

func boolDirective(t *testing.T, e corpusEntry, key string, got bool) {
	t.Helper()
	v, ok := e.get(key)
	if !ok {
		return
	}
	want, err := strconv.ParseBool(v)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if got != want {
		t.Errorf("%s = %v, want %v", key, got, want)
	}
}

var useByName = map[string]rules.Use{
	"output": rules.UseOutput, "filter": rules.UseFilter, "join": rules.UseJoin, "group": rules.UseGroup,
	"order": rules.UseOrder, "write": rules.UseWrite, "copy": rules.UseCopy,
}

// literals returns the string and number literals of sql (at least three
// bytes long) as the scanner sees them.
func literals(sql string) []string {
	res, err := pg.Scan(sql)
	if err != nil {
		return nil
	}
	var out []string
	for _, tk := range res.Tokens {
		switch tk.Token {
		case pg.Token_SCONST, pg.Token_USCONST, pg.Token_ICONST, pg.Token_FCONST, pg.Token_XCONST, pg.Token_BCONST:
			lit := strings.Trim(sql[tk.Start:tk.End], "'$")
			if len(lit) >= 3 {
				out = append(out, lit)
			}
		case pg.Token_SQL_COMMENT, pg.Token_C_COMMENT:
			out = append(out, strings.TrimSpace(strings.Trim(sql[tk.Start:tk.End], "/*-")))
		}
	}
	return out
}

// identifiers returns the identifiers and keywords of sql, space separated.
func identifiers(sql string) string {
	res, err := pg.Scan(sql)
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, tk := range res.Tokens {
		switch tk.Token {
		case pg.Token_SCONST, pg.Token_USCONST, pg.Token_ICONST, pg.Token_FCONST, pg.Token_XCONST, pg.Token_BCONST,
			pg.Token_SQL_COMMENT, pg.Token_C_COMMENT:
		default:
			b.WriteString(sql[tk.Start:tk.End])
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// checkNoLiterals asserts that no literal or comment of the SQL appears in
// the texts an audit span or log would carry.
func checkNoLiterals(t *testing.T, sql string, stmts []*rules.Statement) {
	t.Helper()
	idents := identifiers(sql)
	for _, lit := range literals(sql) {
		if lit == "" || strings.Contains(idents, lit) {
			// The same word is also an identifier of the statement.
			continue
		}
		for _, st := range stmts {
			for _, s := range []string{st.Normalized, st.OpaqueReason, st.Summary} {
				if strings.Contains(s, lit) {
					t.Errorf("literal %q leaks into %q", lit, s)
				}
			}
		}
	}
}

func TestHostileCorpus(t *testing.T) {
	snap := testSnapshot()
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	entries := loadCorpus(t, "testdata/hostile.sql")
	for _, e := range entries {
		t.Run(e.name, func(t *testing.T) {
			if _, ok := e.get("vector"); !ok {
				t.Fatalf("%s:%d: no vector", e.file, e.line)
			}
			stmts := a.AnalyzeWith(snap, e.sql)
			wantN := 1
			if v, ok := e.get("statements"); ok {
				wantN, _ = strconv.Atoi(v)
			}
			if len(stmts) != wantN {
				t.Fatalf("%d statements, want %d", len(stmts), wantN)
			}
			st := stmts[len(stmts)-1]
			checkEntry(t, snap, e, st)
			checkNoLiterals(t, e.sql, stmts)
		})
	}
}

func checkEntry(t *testing.T, snap *Snapshot, e corpusEntry, st *rules.Statement) {
	t.Helper()
	if v, ok := e.get("kind"); ok && string(st.Kind) != v {
		t.Errorf("kind = %s, want %s", st.Kind, v)
	}
	if v, ok := e.get("outputs"); ok && v == "nil" && st.Outputs != nil {
		t.Errorf("outputs = %+v, want nil", st.Outputs)
	}
	if outs := e.all("out"); len(outs) > 0 {
		checkOutputs(t, snap, "outputs", st.Outputs, outs)
	}
	if outs := e.all("inner-out"); len(outs) > 0 {
		if st.Inner == nil {
			t.Errorf("no Inner statement")
		} else {
			checkOutputs(t, snap, "inner outputs", st.Inner.Outputs, outs)
		}
	}
	boolDirective(t, e, "opaque", st.Opaque)
	boolDirective(t, e, "servercopy", st.ServerCopy)
	boolDirective(t, e, "catalogdata", st.CatalogData)
	boolDirective(t, e, "returns", st.Returns)
	boolDirective(t, e, "changes-encoding", st.ChangesEncoding)
	if v, ok := e.get("params"); ok {
		if n, _ := strconv.Atoi(v); n != st.Params {
			t.Errorf("params = %d, want %d", st.Params, n)
		}
	}
	for _, u := range e.all("use") {
		col, uses, _ := strings.Cut(u, " ")
		r := refs(t, snap, []string{col})[0]
		var want rules.Use
		for _, n := range strings.Split(uses, ",") {
			b, ok := useByName[strings.TrimSpace(n)]
			if !ok {
				t.Fatalf("bad use %q", n)
			}
			want |= b
		}
		var got rules.Use
		for _, c := range st.Columns {
			if c.ColumnRef == r {
				got = c.Uses
			}
		}
		if got&want != want {
			t.Errorf("uses of %s = %v, want at least %v", r, got.Names(), want.Names())
		}
	}
	if st.Opaque && st.OpaqueReason == "" {
		t.Errorf("Opaque without a reason")
	}
	if !st.Opaque && st.OpaqueReason != "" {
		t.Errorf("OpaqueReason %q without Opaque", st.OpaqueReason)
	}
	if st.Fingerprint == "" {
		t.Errorf("no fingerprint")
	}
	for _, o := range st.Outputs {
		if o.Direct && (o.Unknown || len(o.Sources) == 0) {
			t.Errorf("output %s: Direct with Unknown=%v and %d sources", o.Name, o.Unknown, len(o.Sources))
		}
	}
}

func TestAnalyticCorpus(t *testing.T) {
	snap := testSnapshot()
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	entries := loadCorpus(t, "testdata/analytic.sql")
	if len(entries) < 60 {
		t.Fatalf("only %d analytic entries", len(entries))
	}
	for _, e := range entries {
		t.Run(e.name, func(t *testing.T) {
			pii, ok := e.get("pii")
			if !ok {
				t.Fatalf("%s:%d: no pii directive", e.file, e.line)
			}
			want := map[int]bool{}
			if pii != "none" {
				for _, f := range strings.Fields(pii) {
					n, err := strconv.Atoi(f)
					if err != nil {
						t.Fatalf("bad pii %q", pii)
					}
					want[n] = true
				}
			}
			stmts := a.AnalyzeWith(snap, e.sql)
			if len(stmts) != 1 {
				t.Fatalf("%d statements", len(stmts))
			}
			st := stmts[0]
			if st.Kind != rules.KindSelect || st.Opaque || st.CatalogData || st.ServerCopy {
				t.Fatalf("kind %s opaque %v (%s) catalog %v copy %v", st.Kind, st.Opaque, st.OpaqueReason, st.CatalogData, st.ServerCopy)
			}
			if st.Outputs == nil {
				t.Fatalf("no outputs")
			}
			for i, o := range st.Outputs {
				classified := false
				for _, s := range o.Sources {
					if _, ok := snap.Category(s); ok {
						classified = true
					}
				}
				if o.Unknown {
					t.Errorf("output %d (%s) is Unknown", i+1, o.Name)
				}
				if classified != want[i+1] {
					t.Errorf("output %d (%s): classified sources = %v, want %v (sources %v)", i+1, o.Name, classified, want[i+1], o.Sources)
				}
			}
			for n := range want {
				if n > len(st.Outputs) {
					t.Errorf("pii position %d beyond %d outputs", n, len(st.Outputs))
				}
			}
			checkNoLiterals(t, e.sql, stmts)
		})
	}
}
