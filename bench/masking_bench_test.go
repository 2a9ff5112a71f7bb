package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgveil/pgveil/audit"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/analyze"
	"github.com/pgveil/pgveil/rules"
)

// benchRules classifies three columns of bench_wide.
const benchRules = `
tables:
  public.bench_wide:
    subject_key: id
    columns:
      name: name
      email: email
      phone: phone
`

// benchDecider gives every statement the same decision: name redacted,
// email partially masked, phone as its last 4 digits.
type benchDecider struct{}

var benchDecision = rules.Decision{Allow: true, Revision: "bench",
	Masks: map[string]string{"name": "redact", "email": "email", "phone": "last4"}}

func (benchDecider) Decide(context.Context, *rules.Identity, *rules.Statement) (rules.Decision, error) {
	return benchDecision, nil
}

// maskingConfig returns a proxy config that masks three of bench_wide's ten
// columns, with the real analyzer over the real schema.
func maskingConfig(b *testing.B, dsn string) func(upstream string) proxy.Config {
	cat, err := rules.ParseCatalog([]byte(benchRules))
	if err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	store, err := analyze.NewStore(pool, analyze.StoreConfig{Classifier: cat})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	an, err := analyze.New(analyze.Config{Snapshots: store})
	if err != nil {
		b.Fatal(err)
	}
	return func(upstream string) proxy.Config {
		return proxy.Config{Upstream: upstream, Decider: benchDecider{}, Analyzer: an, Schema: store,
			Rules: func() *rules.Catalog { return cat }, HashKey: []byte("0123456789abcdef0123456789abcdef")}
	}
}

// BenchmarkPostgresMasking compares pass-through with masking three of ten
// columns, per result size, over the simple and the extended protocol.
// Issue 3's bar: masking a 10,000-row result costs < 10% over pass-through,
// with no allocation per row (allocs/row is the whole process's: client,
// proxy and the pool's background work).
//
// Numbers: see bench/README.md (measured on a quiet machine, benchstat over
// -count 10).
func BenchmarkPostgresMasking(b *testing.B) {
	pg := requirePostgres(b)
	dsn := connString(pg.Addr(), pg.Superuser(), pg.SuperPassword(), "postgres")
	paths := []benchPath{
		{name: "passthrough", config: func(upstream string) proxy.Config { return proxy.Config{Upstream: upstream} }},
		{name: "masking3of10", config: maskingConfig(b, dsn)},
	}
	for _, p := range paths {
		for _, n := range rowCounts {
			b.Run(fmt.Sprintf("path=%s/rows=%d", p.name, n), func(b *testing.B) {
				addr := through(b, p, pg.Addr())
				sql := "SELECT id, name, email, phone, birth_date, created_at, amount, score, active, note " +
					"FROM bench_wide WHERE id <= " + strconv.Itoa(n)
				benchQuery(b, connString(addr, pg.Superuser(), pg.SuperPassword(), "postgres"), sql, n)
			})
		}
	}
}

// BenchmarkPostgresMaskingAudited is BenchmarkPostgresMasking's 1-row case
// through the extended protocol (pgx's cached statements), without and with
// the audit trail (file exporter). Issue 5's bar: the audit trail adds less
// than 5% to the latency of a 1-row personal-data query.
func BenchmarkPostgresMaskingAudited(b *testing.B) {
	pg := requirePostgres(b)
	dsn := connString(pg.Addr(), pg.Superuser(), pg.SuperPassword(), "postgres")
	masking := maskingConfig(b, dsn)
	tr, err := audit.New(context.Background(), audit.Config{Exporter: "file", File: filepath.Join(b.TempDir(), "spans.jsonl"),
		PseudonymKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tr.Shutdown(context.Background()) })
	paths := []benchPath{
		{name: "masking", config: masking},
		{name: "masking+audit", config: func(upstream string) proxy.Config {
			c := masking(upstream)
			c.Tracer = tr
			return c
		}},
	}
	for _, p := range paths {
		b.Run("path="+p.name, func(b *testing.B) {
			addr := through(b, p, pg.Addr())
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, connString(addr, pg.Superuser(), pg.SuperPassword(), "postgres"))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(ctx)
			const q = "SELECT id, name, email, phone, birth_date, created_at, amount, score, active, note FROM bench_wide WHERE id = $1"
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				rows, err := conn.Query(ctx, q, i%10000+1)
				if err != nil {
					b.Fatal(err)
				}
				rows.Close()
				if rows.Err() != nil {
					b.Fatal(rows.Err())
				}
			}
		})
	}
}
