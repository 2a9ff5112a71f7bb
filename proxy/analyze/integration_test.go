package analyze

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules"
)

func liveConn(t *testing.T) *pgx.Conn {
	t.Helper()
	srv := pgtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.SuperDSN(liveDB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func liveSnapshot(t *testing.T, conn *pgx.Conn) *Snapshot {
	t.Helper()
	s, err := LoadSchema(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	return NewSnapshot(s, mapClassifier(demoRules), Trust{Functions: []string{"public.pure_helper"}})
}

func TestLoadSchema(t *testing.T) {
	conn := liveConn(t)
	s, err := LoadSchema(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Relation{}
	for i := range s.Relations {
		r := &s.Relations[i]
		byName[r.QualifiedName()] = r
	}
	cust := byName["public.customers"]
	if cust == nil || cust.Kind != 'r' || len(cust.Columns) != 8 || cust.Columns[2].Name != "email" || cust.Columns[2].Num != 3 {
		t.Fatalf("customers = %+v", cust)
	}
	if v := byName["public.customer_contacts"]; v == nil || v.Kind != 'v' || !strings.Contains(v.Definition, "lower(") {
		t.Errorf("customer_contacts = %+v", v)
	}
	if v := byName["public.customer_summary"]; v == nil || v.Kind != 'm' || v.Definition == "" {
		t.Errorf("customer_summary = %+v", v)
	}
	if v := byName["pg_catalog.pg_stats"]; v == nil || v.Definition != "" || len(v.Columns) == 0 {
		t.Errorf("pg_stats = %+v (system views are not expanded)", v)
	}
	if p := byName["public.messages_2024"]; p == nil || !slices.Equal(p.Parents, []uint32{byName["public.messages"].OID}) {
		t.Errorf("messages_2024 = %+v", p)
	}
	if a := byName["public.audited"]; a == nil || !a.UserTriggers {
		t.Errorf("audited = %+v", a)
	}
	if m := byName["public.messages"]; m == nil || m.UserTriggers {
		t.Errorf("messages (foreign key triggers are internal) = %+v", m)
	}
	var fn *Function
	builtins := 0
	for i := range s.Functions {
		f := &s.Functions[i]
		if f.Builtin() {
			builtins++
		}
		if f.Schema == "public" && f.Name == "get_secret" {
			fn = f
		}
	}
	if fn == nil || fn.Language != "plpgsql" || fn.Kind != 'f' {
		t.Errorf("get_secret = %+v", fn)
	}
	if builtins < 1000 {
		t.Errorf("%d builtin functions", builtins)
	}
	if !slices.ContainsFunc(s.Operators, func(o Operator) bool { return o.Name == "===" && o.FuncName == "eq_secret" }) {
		t.Errorf("operators = %+v", s.Operators)
	}
	if !slices.ContainsFunc(s.Types, func(ty Type) bool { return ty.Name == "checked_email" && ty.Kind == 'd' && len(ty.Checks) == 1 }) {
		t.Errorf("types = %+v", s.Types)
	}
	if !slices.Contains(s.SearchPath, "public") || !slices.Contains(s.SearchPath, "pg_catalog") {
		t.Errorf("search path = %v", s.SearchPath)
	}
}

// TestLiveSnapshot checks the lineage the snapshot derives from a real
// catalog.
func TestLiveSnapshot(t *testing.T) {
	conn := liveConn(t)
	snap := liveSnapshot(t, conn)
	a, _ := New(Config{})
	for _, tt := range []struct {
		sql    string
		out    []string
		opaque bool
	}{
		{"SELECT * FROM customer_contacts", []string{"direct customers.id", "direct customers.full_name", "direct customers.email", "derived customers.email"}, false},
		{"SELECT email_lower FROM contacts_de", []string{"derived customers.email"}, false},
		{"SELECT email, status FROM ticket_emails", []string{"direct customers.email", "direct tickets.status"}, false},
		{"SELECT to_phone FROM messages_2024", []string{"direct messages.to_phone"}, false},
		{"SELECT secret FROM secret_view", []string{"unknown customers.id"}, true},
		{"SELECT email === 'x' FROM customers", []string{"unknown customers.email"}, true},
		{"SELECT email::checked_email FROM customers", []string{"unknown customers.email"}, true},
		{"SELECT pure_helper(email) FROM customers", []string{"derived customers.email"}, false},
		{"SELECT lower(email) FROM customers", []string{"derived customers.email"}, false},
	} {
		st := a.AnalyzeWith(snap, tt.sql)[0]
		if st.Opaque != tt.opaque {
			t.Errorf("%q: Opaque = %v (%s)", tt.sql, st.Opaque, st.OpaqueReason)
		}
		checkOutputs(t, snap, tt.sql, st.Outputs, tt.out)
	}
	if st := a.AnalyzeWith(snap, "INSERT INTO audited VALUES (1, 'x')")[0]; !st.Opaque {
		t.Errorf("write to a table with triggers not opaque")
	}
	if got := snap.Unresolved(); len(got) != 0 {
		t.Errorf("Unresolved = %v", got)
	}
}

// TestCorpusAgainstPostgres prepares every corpus statement on a real
// server and compares the analysis with the RowDescription PostgreSQL
// returns: the number of outputs must match, and every base column
// PostgreSQL attributes a field to must be among the output's sources.
func TestCorpusAgainstPostgres(t *testing.T) {
	conn := liveConn(t)
	snap := liveSnapshot(t, conn)
	a, _ := New(Config{})
	ctx := context.Background()
	var entries []corpusEntry
	entries = append(entries, loadCorpus(t, "testdata/hostile.sql")...)
	entries = append(entries, loadCorpus(t, "testdata/analytic.sql")...)
	prepared, skipped := 0, 0
	for _, e := range entries {
		stmts := a.AnalyzeWith(snap, e.sql)
		if len(stmts) != 1 {
			skipped++
			continue
		}
		st := stmts[0]
		desc, err := conn.PgConn().Prepare(ctx, "", e.sql, nil)
		if err != nil {
			// Utility statements, features newer than the server, names the
			// demo lacks: not preparable, nothing to compare.
			skipped++
			continue
		}
		prepared++
		if st.Outputs == nil {
			if st.Returns && len(desc.Fields) > 0 && st.Kind != rules.KindExecute {
				t.Logf("%s: shape unknown to the analyzer, %d fields", e.name, len(desc.Fields))
			}
			continue
		}
		if st.Kind == rules.KindCopyTo {
			continue
		}
		if len(st.Outputs) != len(desc.Fields) {
			t.Errorf("%s: %d outputs, PostgreSQL returns %d fields", e.name, len(st.Outputs), len(desc.Fields))
			continue
		}
		for i, f := range desc.Fields {
			fld := snap.Field(f.TableOID, int16(f.TableAttributeNumber))
			if fld.UnknownRelation {
				t.Errorf("%s: field %d (%s): table OID %d unknown to the snapshot", e.name, i+1, f.Name, f.TableOID)
				continue
			}
			o := st.Outputs[i]
			if o.Unknown {
				continue
			}
			for _, s := range fld.Sources {
				if !slices.Contains(o.Sources, s) {
					t.Errorf("%s: field %d (%s): PostgreSQL says %v, analyzer says %v", e.name, i+1, f.Name, fld.Sources, o.Sources)
					break
				}
			}
			if fld.Unknown && !o.Unknown {
				t.Errorf("%s: field %d (%s): snapshot says Unknown, analyzer does not", e.name, i+1, f.Name)
			}
		}
	}
	t.Logf("%d statements prepared and compared, %d skipped", prepared, skipped)
	if prepared < 150 {
		t.Errorf("only %d statements could be prepared", prepared)
	}
}

func TestStore(t *testing.T) {
	conn := liveConn(t)
	ctx := context.Background()
	var refreshes atomic.Int32
	var lastUnresolved atomic.Pointer[[]rules.ColumnRef]
	var stop atomic.Pointer[stopper]
	cls := mapClassifier{}
	for k, v := range demoRules {
		cls[k] = v
	}
	cls[rules.ColumnRef{Table: "public.customers", Column: "e_mail"}] = "email"
	store, err := NewStore(conn, StoreConfig{
		Classifier:         cls,
		MinRefreshInterval: time.Millisecond,
		OnRefresh: func(r RefreshResult, err error) {
			if err != nil {
				t.Logf("refresh: %v", err)
			}
			if err == nil {
				n := refreshes.Add(1)
				u := r.Unresolved
				lastUnresolved.Store(&u)
				if s := stop.Load(); s != nil && n >= s.at {
					s.cancel()
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	empty := store.Current()
	if empty == nil || len(empty.rels) != 0 {
		t.Fatalf("initial snapshot not empty")
	}
	res, err := store.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || len(res.Unresolved) != 1 || res.Unresolved[0].Column != "e_mail" {
		t.Errorf("Refresh = %+v", res)
	}
	snap := store.Current()
	res2, err := store.Refresh(ctx)
	if err != nil || res2.Changed || store.Current() != snap || res2.Revision != res.Revision {
		t.Errorf("unchanged schema: %+v %v", res2, err)
	}

	// A table created after the snapshot: unknown until refreshed on demand.
	if _, err := conn.Exec(ctx, "CREATE TABLE public.late_table (secret text)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE IF EXISTS public.late_table") })
	var oid uint32
	if err := conn.QueryRow(ctx, "SELECT 'public.late_table'::regclass::oid").Scan(&oid); err != nil {
		t.Fatal(err)
	}
	if store.Current().Knows(oid) {
		t.Fatal("snapshot knows a table created after it")
	}
	time.Sleep(2 * time.Millisecond)
	got, err := store.RefreshIfUnknown(ctx, oid)
	if err != nil || !got.Knows(oid) {
		t.Fatalf("RefreshIfUnknown: %v, knows %v", err, got.Knows(oid))
	}
	// The analyzer refreshes on its own when a statement names an unknown
	// relation.
	if _, err := conn.Exec(ctx, "CREATE TABLE public.later_table (x text)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP TABLE IF EXISTS public.later_table") })
	time.Sleep(2 * time.Millisecond)
	an, _ := New(Config{Snapshots: store})
	stmts, err := an.Analyze(ctx, "SELECT x FROM later_table")
	if err != nil {
		t.Fatal(err)
	}
	checkOutputs(t, store.Current(), "later_table", stmts[0].Outputs, []string{"direct later_table.x"})

	// Reclassification without a database round trip.
	res3, err := store.SetClassifier(ctx, mapClassifier(demoRules))
	if err != nil || !res3.Changed || len(res3.Unresolved) != 0 {
		t.Errorf("SetClassifier = %+v, %v", res3, err)
	}

	// Run refreshes until its context ends.
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	stopAt := refreshes.Load() + 2
	stop.Store(&stopper{at: stopAt, cancel: cancel})
	if err := store.Run(rctx, 5*time.Millisecond); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v (refreshes %d, want %d)", err, refreshes.Load(), stopAt)
	}
	if u := lastUnresolved.Load(); u == nil || len(*u) != 0 {
		t.Errorf("last Unresolved = %v", u)
	}
}

type stopper struct {
	at     int32
	cancel context.CancelFunc
}

// failingQuerier fails every query, counting them.
type failingQuerier struct{ n atomic.Int32 }

func (f *failingQuerier) Query(context.Context, string, ...any) (pgx.Rows, error) {
	f.n.Add(1)
	return nil, errors.New("boom")
}

func TestStoreRateLimit(t *testing.T) {
	q := &failingQuerier{}
	var errs atomic.Int32
	store, err := NewStore(q, StoreConfig{MinRefreshInterval: time.Hour, OnRefresh: func(_ RefreshResult, err error) {
		if err != nil {
			errs.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 10 {
		if _, err := store.RefreshIfUnknown(ctx, 12345); err != nil && q.n.Load() != 1 {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if q.n.Load() != 1 || errs.Load() != 1 {
		t.Errorf("%d queries, %d reported errors; want 1 of each (rate limit)", q.n.Load(), errs.Load())
	}
	if _, err := store.Refresh(ctx); err == nil {
		t.Errorf("Refresh with a failing querier succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	store.sem <- struct{}{} // hold the refresh lock
	if _, err := store.Refresh(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Refresh with a cancelled context = %v", err)
	}
	<-store.sem
	if _, err := NewStore(nil, StoreConfig{}); err == nil {
		t.Errorf("NewStore(nil) succeeded")
	}
}

// TestRewriteAgainstPostgres rewrites every corpus statement that
// PostgreSQL can prepare with row filters on two tables, and checks that the
// rewritten statement prepares too, with the same result shape.
func TestRewriteAgainstPostgres(t *testing.T) {
	conn := liveConn(t)
	ctx := context.Background()
	filters := map[string]string{"public.customers": "country <> 'DE'", "public.messages": "created_at > now() - interval '180 days'"}
	var entries []corpusEntry
	entries = append(entries, loadCorpus(t, "testdata/hostile.sql")...)
	entries = append(entries, loadCorpus(t, "testdata/analytic.sql")...)
	checked, refused := 0, 0
	for _, e := range entries {
		orig, err := conn.PgConn().Prepare(ctx, "", e.sql, nil)
		if err != nil {
			continue
		}
		got, err := Rewrite(e.sql, filters)
		if err != nil {
			refused++
			continue
		}
		desc, err := conn.PgConn().Prepare(ctx, "", got, nil)
		if err != nil && e.name == "system_columns" {
			// A filtered table is a subquery: it has no system columns. The
			// statement fails, which is safe.
			continue
		}
		if err != nil {
			t.Errorf("%s: rewritten statement does not prepare: %v\n%s", e.name, err, got)
			continue
		}
		checked++
		if len(desc.Fields) != len(orig.Fields) {
			t.Errorf("%s: %d fields after rewriting, %d before", e.name, len(desc.Fields), len(orig.Fields))
		}
	}
	t.Logf("%d rewritten statements prepared, %d refused", checked, refused)
}
