package analyze

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pgveil/pgveil/rules"
)

// FuzzAnalyze checks that the analyzer never panics (a panic inside one
// statement's analysis is a bug even though it is recovered) and keeps its
// invariants on arbitrary SQL: one statement at least, Direct outputs have
// sources and are not Unknown, opaque statements say why, and nothing is
// classified out of thin air. A text with literals is also checked against
// the shape cache: with the text analyzed, the same text with other literal
// values must get exactly its own fresh analysis.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{
		"SELECT email FROM customers",
		"SELECT c FROM customers c",
		"WITH RECURSIVE r(a) AS (SELECT email FROM customers UNION SELECT a || 'x' FROM r) SELECT * FROM r",
		"SELECT * FROM customers NATURAL JOIN invoices",
		"INSERT INTO tickets SELECT * FROM tickets RETURNING *",
		"UPDATE tickets SET (subject, body) = (SELECT email, phone FROM customers) RETURNING *",
		"COPY (SELECT * FROM customer_contacts) TO STDOUT",
		"SELEC 1",
		"",
		"SELECT email, full_name FROM customers WHERE id = 3 ORDER BY 2",
		"SELECT set_config('client_encoding', 'SJIS', false), -1, 1.5, B'1', X'F'",
	} {
		f.Add(s)
	}
	snap := testSnapshot()
	a, err := New(Config{CacheSize: 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if len(sql) > 1<<14 {
			return
		}
		stmts := a.AnalyzeWith(snap, sql)
		if len(stmts) == 0 {
			t.Fatal("no statements")
		}
		for _, st := range stmts {
			if st.OpaqueReason == "internal analyzer error" {
				t.Fatalf("analyzer panicked on %q", sql)
			}
			checkInvariants(t, snap, st)
		}
		sh, ok := shapeOf(sql)
		if !ok {
			return
		}
		v := literalVariant(sql, nil)
		if vs, ok := shapeOf(v); !ok || vs.key != sh.key {
			return
		}
		b, err := New(Config{CacheSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		b.AnalyzeWith(snap, sql)
		if got, want := b.AnalyzeWith(snap, v), analyzeText(snap, v).stmts; !reflect.DeepEqual(got, want) {
			t.Fatalf("shape cache: %q after %q served\n%s\nwant\n%s", v, sql, describe(got), describe(want))
		}
	})
}

func checkInvariants(t *testing.T, snap *Snapshot, st *rules.Statement) {
	t.Helper()
	if st.Opaque != (st.OpaqueReason != "") {
		t.Fatalf("Opaque %v with reason %q", st.Opaque, st.OpaqueReason)
	}
	for _, o := range st.Outputs {
		if o.Direct && (o.Unknown || len(o.Sources) == 0) {
			t.Fatalf("output %q Direct with Unknown=%v sources=%v", o.Name, o.Unknown, o.Sources)
		}
		for _, s := range o.Sources {
			if !strings.Contains(s.Table, ".") {
				if snap.byQName[s.Table] != nil {
					t.Fatalf("unqualified source %v of a known table", s)
				}
			}
		}
	}
	for i := 1; i < len(st.Columns); i++ {
		if compareRef(st.Columns[i-1].ColumnRef, st.Columns[i].ColumnRef) >= 0 {
			t.Fatalf("Columns not sorted: %v", st.Columns)
		}
	}
	if st.Inner != nil {
		checkInvariants(t, snap, st.Inner)
	}
}
