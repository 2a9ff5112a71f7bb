package proxy

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgveil/pgveil/proxy/analyze"
	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/demo"
)

// demoDB is the database holding the demo dataset, loaded once per test
// binary by TestMain.
const demoDB = "demo"

var demoOnce struct {
	sync.Mutex
	loaded bool
	data   *demo.Dataset
}

// requireDemo loads the demo dataset into the test server (once).
func requireDemo(t *testing.T) (*pgtest.Server, *demo.Dataset) {
	t.Helper()
	pg := pgtest.Require(t)
	demoOnce.Lock()
	defer demoOnce.Unlock()
	if !demoOnce.loaded {
		ctx := testCtx(t)
		ds := demo.Generate(demo.Options{})
		var sql strings.Builder
		if err := ds.WriteSQL(&sql); err != nil {
			t.Fatal(err)
		}
		if err := pg.CreateDatabase(ctx, demoDB, ""); err != nil {
			t.Fatal(err)
		}
		if err := pg.Exec(ctx, demoDB, sql.String()); err != nil {
			t.Fatal(err)
		}
		demoOnce.loaded, demoOnce.data = true, ds
	}
	return pg, demoOnce.data
}

// fixedDecider returns a fixed decision per user: masking is testable
// without the policy engine.
type fixedDecider map[string]rules.Decision

func (f fixedDecider) Decide(_ context.Context, id *rules.Identity, st *rules.Statement) (rules.Decision, error) {
	d, ok := f[id.User]
	if !ok {
		return rules.Decision{Allow: true}, nil // default masks for everything classified
	}
	return d, nil
}

// DecideSession gives the session the user's decision (it says whether
// notices and notifications outside statements are scrubbed).
func (f fixedDecider) DecideSession(ctx context.Context, id *rules.Identity) (rules.Decision, error) {
	return f.Decide(ctx, id, nil)
}

// Test decisions, in the spirit of the example policies.
var (
	analystDecision = rules.Decision{Allow: true, Revision: "test",
		Masks: map[string]string{"email": "hash", "birth_date": "year", "ip_address": "ip_prefix", "name": "redact", "message_body": "null", "phone": "last4"}}
	revealAllDecision = rules.Decision{Allow: true, Revision: "test",
		Reveal: []string{"name", "email", "phone", "birth_date", "message_body", "free_text", "ip_address", "user_agent"}}
)

var testHashKey = []byte("0123456789abcdef0123456789abcdef")

// maskingProxy starts a proxy with the demo classification and the given
// decisions, in front of the demo database.
func maskingProxy(t *testing.T, pg *pgtest.Server, decider Decider, opts ...proxyOpt) *testProxy {
	t.Helper()
	ctx := testCtx(t)
	cat, err := rules.ParseCatalog(demo.RulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), pg.SuperDSN(demoDB))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := analyze.NewStore(pool, analyze.StoreConfig{
		Classifier: analyze.ClassifierFunc(func(table, column string) (string, bool) {
			return cat.Classify(rules.ColumnRef{Table: table, Column: column})
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	an, err := analyze.New(analyze.Config{Snapshots: store})
	if err != nil {
		t.Fatal(err)
	}
	all := append([]proxyOpt{func(c *Config) {
		c.Decider = decider
		c.Analyzer = an
		c.Schema = store
		c.Rules = func() *rules.Catalog { return cat }
		c.HashKey = testHashKey
	}}, opts...)
	return startProxy(t, pg, all...)
}

func demoDSN(addr, user string) string {
	return strings.Replace(dsn(addr, user, demoDB), ":"+testPW+"@", ":"+user+"-demo@", 1)
}

func TestMaskingBasics(t *testing.T) {
	pg, _ := requireDemo(t)
	p := maskingProxy(t, pg, fixedDecider{"analyst": analystDecision, "dpo": revealAllDecision})
	ctx := testCtx(t)
	q := "select id, full_name, email, phone, birth_date, country from customers where id <= 3 order by id"
	direct := connect(ctx, t, pg.DSN("dpo", "dpo-demo", demoDB))
	analyst := connect(ctx, t, demoDSN(p.addr, "analyst"))
	dpo := connect(ctx, t, demoDSN(p.addr, "dpo"))
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		want := describeRows(direct.Query(ctx, q, mode))
		if got := describeRows(dpo.Query(ctx, q, mode)); got != want {
			t.Errorf("dpo (reveal all), mode %v:\n%s\nwant:\n%s", mode, got, want)
		}
		got := describeRows(analyst.Query(ctx, q, mode))
		t.Logf("analyst, mode %v:\n%s", mode, got)
		if got == want {
			t.Errorf("analyst saw unmasked data, mode %v", mode)
		}
		for _, leak := range []string{"Paul Richard", "paul.richard@example.net"} {
			if strings.Contains(got, leak) {
				t.Errorf("analyst saw %q", leak)
			}
		}
	}
}

// TestCopyClientEncoding: in a client encoding whose multi-byte characters
// can contain ASCII bytes (SJIS), COPY output cannot be split into fields
// safely, so a COPY that needs masking ends the session with 42501 and no
// row; in UTF8 the same COPY is masked; the exempt identity is unaffected.
func TestCopyClientEncoding(t *testing.T) {
	pg, _ := requireDemo(t)
	p := maskingProxy(t, pg, fixedDecider{"analyst": analystDecision, "dpo": revealAllDecision})
	ctx := testCtx(t)
	const q = "copy (select full_name, id from customers where id <= 3) to stdout with (format csv, delimiter '|')"
	copyOut := func(c *pgx.Conn) (string, error) {
		var buf bytes.Buffer
		_, err := c.PgConn().CopyTo(ctx, &buf, q)
		return buf.String(), err
	}
	analyst := connect(ctx, t, demoDSN(p.addr, "analyst"))
	out, err := copyOut(analyst)
	if err != nil || strings.Count(out, "\n") != 3 || strings.Contains(out, "Paul Richard") {
		t.Fatalf("UTF8: %q, %v", out, err)
	}
	if _, err := analyst.Exec(ctx, "set client_encoding = 'SJIS'"); err != nil {
		t.Fatal(err)
	}
	out, err = copyOut(analyst)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != codeInsufficientPriv || out != "" {
		t.Errorf("SJIS: want 42501 and no row, got %q, %v", out, err)
	}
	dpo := connect(ctx, t, demoDSN(p.addr, "dpo"))
	if _, err := dpo.Exec(ctx, "set client_encoding = 'SJIS'"); err != nil {
		t.Fatal(err)
	}
	if out, err := copyOut(dpo); err != nil || strings.Count(out, "\n") != 3 {
		t.Errorf("dpo, SJIS: %q, %v", out, err)
	}
}

// TestStatementEncoding: Postgres reads statement text in the session's
// client_encoding. In SJIS, the UTF-8 bytes of Õ (C3 95) followed by a
// backslash are two characters, the second of them 95 5C, so the backslash
// that pgveil's parser sees escaping the quote is not there for Postgres:
// the literal ends, and lower(email) is SQL. pgveil refuses non-ASCII text
// while such an encoding is in effect or may have been set by a statement
// whose result it has not seen yet, and nothing else.
func TestStatementEncoding(t *testing.T) {
	pg, _ := requireDemo(t)
	p := maskingProxy(t, pg, fixedDecider{"analyst": strictDecision})
	ctx := testCtx(t)
	const attack = "SELECT E'\u00d5\\' AS x, lower(email) AS y FROM customers --', 'z'"
	refused := func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == codeInsufficientPriv && strings.Contains(pe.Message, "client_encoding")
	}
	exec := func(c *pgconn.PgConn, q string) ([][][]byte, error) { return lastRows(ctx, c, q) }
	// pipeline sends qs in one pipeline with one Sync and returns each
	// statement's error.
	pipeline := func(c *pgconn.PgConn, qs ...string) []error {
		pl := c.StartPipeline(ctx)
		for _, q := range qs {
			pl.SendQueryParams(q, nil, nil, nil, nil)
		}
		if err := pl.Sync(); err != nil {
			t.Fatalf("pipeline sync: %v", err)
		}
		var errs []error
		for {
			res, err := pl.GetResults()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if _, ok := res.(*pgconn.PipelineSync); ok || res == nil {
				break
			}
			if rr, ok := res.(*pgconn.ResultReader); ok {
				errs = append(errs, rr.Read().Err)
			}
		}
		if len(errs) != len(qs) {
			t.Fatalf("pipeline: %d results for %d statements: %v", len(errs), len(qs), errs)
		}
		if err := pl.Close(); err != nil {
			t.Fatalf("pipeline close: %v", err)
		}
		return errs
	}

	c := connect(ctx, t, demoDSN(p.addr, "analyst")).PgConn()
	// UTF8: the attack text means two constants, to pgveil and Postgres.
	if rows, err := exec(c, attack); err != nil || len(rows) != 1 || len(rows[0]) != 2 || bytes.Contains(rows[0][1], []byte("@")) {
		t.Fatalf("UTF8: %q, %v", rows, err)
	}
	// Known SJIS: non-ASCII text is refused, ASCII text runs.
	if _, err := exec(c, "set client_encoding = 'SJIS'"); err != nil {
		t.Fatal(err)
	}
	if rows, err := exec(c, attack); !refused(err) {
		t.Errorf("SJIS: want a refusal, got %d rows, %v", len(rows), err)
	}
	if rows, err := exec(c, "select count(*) from customers"); err != nil || len(rows) != 1 {
		t.Errorf("SJIS, ASCII text: %q, %v", rows, err)
	}
	if _, err := exec(c, "set client_encoding = 'UTF8'"); err != nil {
		t.Fatal(err)
	}
	if rows, err := exec(c, "select 'M\u00fcller' as name"); err != nil || len(rows) != 1 {
		t.Errorf("back to UTF8: %q, %v", rows, err)
	}

	// SJIS set earlier in the same pipeline: pgveil has not seen the
	// server's report yet when it reads the attack.
	for _, set := range []string{"set client_encoding = 'SJIS'", "select set_config('client_encoding', 'SJIS', false)"} {
		c := connect(ctx, t, demoDSN(p.addr, "analyst")).PgConn()
		errs := pipeline(c, set, attack)
		if errs[0] != nil || !refused(errs[1]) {
			t.Errorf("pipeline %q: want the attack refused, got %v", set, errs)
		}
	}
	// A pipeline whose statements cannot change the encoding is not held
	// up: its non-ASCII text runs.
	errs := pipeline(c, "set search_path = public", "select set_config('application_name', 'x', false)", "select 'M\u00fcller' as name")
	for i, err := range errs {
		if err != nil {
			t.Errorf("pipeline without an encoding change, statement %d: %v", i, err)
		}
	}
}

// TestTextMasksInUnsafeEncoding: in SJIS the second byte of a character can
// be an ASCII letter, digit or '@', so masks that read a value's text
// (last4 here) redact instead, also for rows that come right after a SET in
// the same Query, before the server has reported the new encoding.
func TestTextMasksInUnsafeEncoding(t *testing.T) {
	pg, _ := requireDemo(t)
	p := maskingProxy(t, pg, fixedDecider{"analyst": analystDecision})
	ctx := testCtx(t)
	const q = "select phone from customers where phone is not null order by id limit 1"
	c := connect(ctx, t, demoDSN(p.addr, "analyst")).PgConn()
	phone := func(sql string) string {
		t.Helper()
		rows, err := lastRows(ctx, c, sql)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || len(rows[0]) != 1 {
			t.Fatalf("%q: %d rows", sql, len(rows))
		}
		return string(rows[0][0])
	}
	partial := phone(q)
	if partial == "[redacted]" || len(partial) < 4 {
		t.Fatalf("UTF8: last4 gave %q", partial)
	}
	if got := phone("set client_encoding = 'SJIS'; " + q); got != "[redacted]" {
		t.Errorf("after SET in the same Query: %q, want [redacted]", got)
	}
	if got := phone(q); got != "[redacted]" {
		t.Errorf("SJIS: %q, want [redacted]", got)
	}
	if _, err := c.Exec(ctx, "set client_encoding = 'UTF8'").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if got := phone(q); got != partial {
		t.Errorf("back in UTF8: %q, want %q", got, partial)
	}
}

// lastRows runs a simple Query and returns the rows of its last result.
func lastRows(ctx context.Context, c *pgconn.PgConn, sql string) ([][][]byte, error) {
	res, err := c.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	return res[len(res)-1].Rows, nil
}
