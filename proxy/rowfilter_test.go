package proxy

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/pgtest"
)

// TestRestriction: a restricted subject's rows vanish from every non-exempt
// identity's results (simple and extended protocol, joins, aggregates,
// COPY) and reappear after unrestrict; the exempt identity (the DPO) sees
// them throughout.
func TestRestriction(t *testing.T) {
	pg, _ := requireDemo(t)
	ctx := testCtx(t)
	super := emptyRestrictionList(t, pg)
	dpo := revealAllDecision
	dpo.Unrestricted = true
	marketing := strictDecision
	marketing.RowFilters = map[string]string{"public.customers": "marketing_opt_in"}
	p := maskingProxy(t, pg, fixedDecider{"analyst": strictDecision, "dpo": dpo, "marketing": marketing, "app_service": revealAllDecision},
		func(c *Config) { c.RestrictionTable = "pgveil.restricted_subjects" })

	const subject = "42"
	queries := []string{
		"select count(*) from customers where id = 42",
		"select count(*) from messages where customer_id = 42",
		"select count(*) from messages m join customers c on c.id = m.customer_id where c.id = 42",
		"select count(*) from (select customer_id from tickets union all select customer_id from invoices) x where customer_id = 42",
		"with c as (select * from customers) select count(*) from c where id = 42",
		"select count(*) from customers c where exists (select 1 from login_events l where l.customer_id = c.id and c.id = 42)",
	}
	count := func(c *pgx.Conn, q string, mode pgx.QueryExecMode) int {
		var n int
		if err := c.QueryRow(ctx, q, mode).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	copyHas := func(c *pgx.Conn, q string) bool {
		var buf bytes.Buffer
		if _, err := c.PgConn().CopyTo(ctx, &buf, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for _, line := range strings.Split(buf.String(), "\n") {
			if strings.HasPrefix(line, subject+"\t") || strings.HasPrefix(line, subject+",") {
				return true
			}
		}
		return false
	}
	analyst := connect(ctx, t, demoDSN(p.addr, "analyst"))
	dpoConn := connect(ctx, t, demoDSN(p.addr, "dpo"))
	check := func(restricted bool) {
		t.Helper()
		for _, q := range queries {
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
				if n := count(analyst, q, mode); (n == 0) != restricted {
					t.Errorf("analyst, restricted=%v, mode %v: %s = %d", restricted, mode, q, n)
				}
				if n := count(dpoConn, q, mode); n == 0 {
					t.Errorf("dpo (exempt), mode %v: %s = 0", mode, q)
				}
			}
		}
		for _, q := range []string{"copy customers (id, email) to stdout", "copy (select id, country from customers) to stdout with (format csv)"} {
			if got := copyHas(analyst, q); got == restricted {
				t.Errorf("analyst, restricted=%v: %s has the subject: %v", restricted, q, got)
			}
		}
	}
	check(false)
	if _, err := super.Exec(ctx, "INSERT INTO pgveil.restricted_subjects(subject_id, operator, reason) VALUES ($1, 'test', 'objection')", subject); err != nil {
		t.Fatal(err)
	}
	check(true)
	// What the filter cannot hide is refused: EXPLAIN ANALYZE counts the
	// rows it removes, and the list itself says who asked for restriction.
	wantRefused(ctx, t, analyst, "analyst, restricted",
		"explain analyze select 1 from customers where id = 42",
		"explain (analyze, costs off) select count(*) from messages",
		"select subject_id from pgveil.restricted_subjects")
	if _, err := analyst.Exec(ctx, "explain select 1 from customers where id = 42"); err != nil {
		t.Errorf("plain EXPLAIN: %v", err)
	}
	// An identity that sees everything unmasked, but not the restricted
	// rows: code and catalog views the rewrite cannot reach are refused.
	app := connect(ctx, t, demoDSN(p.addr, "app_service"))
	wantRefused(ctx, t, app, "app_service, restricted",
		"do $$ begin perform 1; end $$",
		"select query_to_xml('select email from customers where id = 42', true, true, '')",
		"select histogram_bounds from pg_stats where tablename = 'customers'",
		"select idx_tup_fetch from pg_stat_xact_user_tables",
		"select tup_fetched from pg_stat_database where datname = current_database()",
		"select pg_stat_get_db_tuples_fetched(oid) from pg_database",
		"select subject_id from pgveil.restricted_subjects",
		"prepare r(int) as select 1 from customers where id = $1; explain analyze execute r(42)")
	if n := count(app, "select count(*) from customers where id = 42", pgx.QueryExecModeSimpleProtocol); n != 0 {
		t.Errorf("app_service sees the restricted subject: %d", n)
	}
	if n := count(dpoConn, "select count(*) from pgveil.restricted_subjects", pgx.QueryExecModeSimpleProtocol); n != 1 {
		t.Errorf("dpo reads %d restricted subjects, want 1", n)
	}
	// Statements the filter cannot apply to are refused, not run unfiltered.
	_, err := analyst.Exec(ctx, "select email from customers tablesample system (100)")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != codeInsufficientPriv {
		t.Errorf("TABLESAMPLE on a restricted table: want 42501, got %v", err)
	}
	if _, err := super.Exec(ctx, "DELETE FROM pgveil.restricted_subjects WHERE subject_id = $1", subject); err != nil {
		t.Fatal(err)
	}
	check(false)

	// A policy row filter: marketing sees only opted-in customers.
	mk := connect(ctx, t, demoDSN(p.addr, "marketing"))
	var optedOut int
	if err := super.QueryRow(ctx, "select count(*) from customers where not marketing_opt_in").Scan(&optedOut); err != nil || optedOut == 0 {
		t.Fatalf("demo data has no opted-out customers (%d, %v)", optedOut, err)
	}
	if n := count(mk, "select count(*) from customers where not marketing_opt_in", pgx.QueryExecModeSimpleProtocol); n != 0 {
		t.Errorf("marketing sees %d opted-out customers", n)
	}
	// EXPLAIN ANALYZE would show how many rows the filter removed.
	wantRefused(ctx, t, mk, "marketing", "explain analyze select * from customers")
}

// TestRestrictionLasting: while the restriction list is reported empty
// (Config.RestrictionActive false), one-shot statements go unrewritten, but
// a named prepared statement made then is still filtered when a subject is
// restricted later: it must not outlive the check unfiltered.
func TestRestrictionLasting(t *testing.T) {
	pg, _ := requireDemo(t)
	ctx := testCtx(t)
	super := emptyRestrictionList(t, pg)
	defer super.Exec(ctx, "DELETE FROM pgveil.restricted_subjects")
	var active atomic.Bool
	p := maskingProxy(t, pg, fixedDecider{"analyst": strictDecision},
		func(c *Config) {
			c.RestrictionTable = "pgveil.restricted_subjects"
			c.RestrictionActive = active.Load
		})
	analyst := connect(ctx, t, demoDSN(p.addr, "analyst"))
	const q = "select count(*) from customers where id = 7"
	count := func(mode pgx.QueryExecMode) int {
		t.Helper()
		var n int
		if err := analyst.QueryRow(ctx, q, mode).Scan(&n); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		return n
	}
	// Prepared (named, cached by pgx) while nobody is restricted.
	if n := count(pgx.QueryExecModeCacheStatement); n != 1 {
		t.Fatalf("before restriction: %d rows", n)
	}
	if _, err := super.Exec(ctx, "INSERT INTO pgveil.restricted_subjects(subject_id) VALUES ('7')"); err != nil {
		t.Fatal(err)
	}
	// The poll has not noticed yet: one-shot statements are unfiltered...
	if n := count(pgx.QueryExecModeSimpleProtocol); n != 1 {
		t.Errorf("one-shot statement while the list is reported empty: %d rows, want 1 (unfiltered)", n)
	}
	// ...but the lasting prepared statement already filters.
	if n := count(pgx.QueryExecModeCacheStatement); n != 0 {
		t.Errorf("named prepared statement made before the restriction: %d rows, want 0", n)
	}
	active.Store(true)
	if n := count(pgx.QueryExecModeSimpleProtocol); n != 0 {
		t.Errorf("one-shot statement once the poll noticed: %d rows, want 0", n)
	}

	// The unnamed statement can be bound and executed again too.
	if _, err := super.Exec(ctx, "DELETE FROM pgveil.restricted_subjects"); err != nil {
		t.Fatal(err)
	}
	active.Store(false)
	r := openRaw(ctx, t, p.addr, "analyst")
	run := func() string { return r.firstValue(&pgproto3.Bind{}, &pgproto3.Execute{}) }
	r.send(&pgproto3.Parse{Query: q}, &pgproto3.Sync{})
	if msgs, ok := r.until(isReady); !ok {
		t.Fatal(msgs)
	}
	if got := run(); got != "1" {
		t.Fatalf("unnamed statement before restriction: %s rows", got)
	}
	if _, err := super.Exec(ctx, "INSERT INTO pgveil.restricted_subjects(subject_id) VALUES ('7')"); err != nil {
		t.Fatal(err)
	}
	if got := run(); got != "0" {
		t.Errorf("unnamed statement made before the restriction, executed after: %s rows, want 0", got)
	}
}

// wantRefused checks that pgveil refuses each query (SQLSTATE 42501).
func wantRefused(ctx context.Context, t *testing.T, c *pgx.Conn, who string, queries ...string) {
	t.Helper()
	for _, q := range queries {
		_, err := c.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != codeInsufficientPriv {
			t.Errorf("%s: %s: want 42501, got %v", who, q, err)
		}
	}
}

// emptyRestrictionList creates pgveil's restriction table in the demo
// database if needed, empties it, and returns a superuser connection to it.
func emptyRestrictionList(t *testing.T, pg *pgtest.Server) *pgx.Conn {
	t.Helper()
	ctx := testCtx(t)
	super := connect(ctx, t, pg.SuperDSN(demoDB))
	if _, err := super.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS pgveil;
		CREATE TABLE IF NOT EXISTS pgveil.restricted_subjects(subject_id text PRIMARY KEY, restricted_at timestamptz NOT NULL DEFAULT now(), operator text, reason text);
		GRANT USAGE ON SCHEMA pgveil TO PUBLIC; GRANT SELECT ON pgveil.restricted_subjects TO PUBLIC;
		DELETE FROM pgveil.restricted_subjects`); err != nil {
		t.Fatal(err)
	}
	return super
}
