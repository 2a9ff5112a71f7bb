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
