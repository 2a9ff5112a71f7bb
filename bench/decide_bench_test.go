package bench

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgveil/pgveil/policy"
	"github.com/pgveil/pgveil/policy/examples"
	"github.com/pgveil/pgveil/proxy/analyze"
	"github.com/pgveil/pgveil/rules"
)

// BenchmarkStatementCached is the per-statement cost of a statement pgveil
// has seen before: the analysis (cached by text), the policy decision
// (cached by identity and statement) and "does this identity see
// everything". Issue 3's bar: < 5 µs.
//
// 2-core AMD EPYC, Go 1.26, busy machine (load ~3), -count 3:
//
//	BenchmarkStatementCached   438–455 ns/op   0 B/op   0 allocs/op
func BenchmarkStatementCached(b *testing.B) {
	pg := requirePostgres(b)
	ctx := context.Background()
	cat, err := rules.ParseCatalog([]byte(benchRules))
	if err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, connString(pg.Addr(), pg.Superuser(), pg.SuperPassword(), "postgres"))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store, err := analyze.NewStore(pool, analyze.StoreConfig{Classifier: cat})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	an, err := analyze.New(analyze.Config{Snapshots: store})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := examples.WriteTo(dir); err != nil {
		b.Fatal(err)
	}
	engine, err := policy.NewEngine(ctx, policy.Config{Paths: []string{dir}, Catalog: func() *rules.Catalog { return cat }, RowFilters: true})
	if err != nil {
		b.Fatal(err)
	}
	id := &rules.Identity{User: "analyst", Database: "postgres", Roles: []string{"analyst"}, ClientAddr: "127.0.0.1"}
	const sql = "SELECT id, name, email, phone, created_at FROM bench_wide WHERE id = 42"
	step := func() {
		stmts, err := an.Analyze(ctx, sql)
		if err != nil || len(stmts) != 1 {
			b.Fatalf("analyze: %v", err)
		}
		d, err := engine.Decide(ctx, id, stmts[0])
		if err != nil || !d.Allow {
			b.Fatalf("decide: %+v %v", d, err)
		}
		if d.RevealsAll(cat) {
			b.Fatal("analyst sees everything")
		}
	}
	step()
	b.ReportAllocs()
	for b.Loop() {
		step()
	}
}
