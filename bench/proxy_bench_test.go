// Package bench holds pgveil's in-process macro benchmarks: a pgconn client
// reading results through proxy.Server from a scripted fake backend and from
// a real Postgres. The cross-process comparison with pgbouncer is the
// pgbench-compare command (bench/cmd/pgbench-compare); see bench/README.md.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/pgtest"
)

// Each benchmark reads one result of rows "wide" rows (ten columns, the
// shape of bench_wide) per op, over the simple protocol, through each path.
// The direct path is the baseline: the client, the proxy and the fake
// backend all run in this process, so B/op and allocs/op count all three,
// and the proxy's own share is the difference to direct. allocs/row is
// allocs/op divided by rows; a per-row allocation anywhere shows up as ≥ 1.
//
//	go test -run '^$' -bench . -benchmem -count 10 ./bench > new.txt
//	benchstat old.txt new.txt

// rowCounts are the result sizes: a point query, a page, a bulk read.
var rowCounts = []int{1, 100, 10000}

// benchPath is one way from the client to the backend. config returns the
// proxy's configuration for an upstream address; nil means the client dials
// the backend directly.
//
// Masking cases go here: a path whose config sets Decider and Analyzer
// (fixed decisions masking e.g. name, email and phone of bench_wide), which
// the pass-through path leaves nil.
type benchPath struct {
	name   string
	config func(upstream string) proxy.Config
}

var benchPaths = []benchPath{
	{name: "direct"},
	{name: "passthrough", config: func(upstream string) proxy.Config {
		return proxy.Config{Upstream: upstream}
	}},
}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := stopPostgres(); err != nil {
		fmt.Fprintf(os.Stderr, "stop postgres: %v\n", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// BenchmarkFakeBackend isolates the relay: the backend answers from
// pre-encoded bytes, so nearly all the work is the proxy's and the client's.
//
// First numbers, 2-core AMD EPYC, Go 1.26, on a busy machine (load ~5; the
// timings are only indicative, re-measure with -count 10 and benchstat on a
// quiet one), medians of 3:
//
//	path=direct      rows=1 19 µs   rows=100 45 µs   rows=10000 2.5 ms
//	path=passthrough rows=1 41 µs   rows=100 80 µs   rows=10000 2.8–7.5 ms
//
// allocs/op is 12 on both paths (all of them pgconn's): the pass-through
// proxy allocates nothing per query or per row.
func BenchmarkFakeBackend(b *testing.B) {
	fb := startFakeBackend(b, rowCounts)
	for _, p := range benchPaths {
		for _, n := range rowCounts {
			b.Run(fmt.Sprintf("path=%s/rows=%d", p.name, n), func(b *testing.B) {
				addr := through(b, p, fb.addr())
				benchQuery(b, connString(addr, "bench", "", "bench"), fakeQuery(n), n)
			})
		}
	}
}

// BenchmarkPostgres reads bench_wide from a real Postgres (started once for
// the test binary, skipped when the PostgreSQL binaries are missing).
//
// First numbers, same busy machine, medians of 3:
//
//	path=direct      rows=1 152 µs   rows=100 162 µs   rows=10000 20 ms
//	path=passthrough rows=1 206 µs   rows=100 301 µs   rows=10000 20 ms
//
// allocs/op is 11 on both paths.
func BenchmarkPostgres(b *testing.B) {
	pg := requirePostgres(b)
	for _, p := range benchPaths {
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

// benchQuery runs sql once per op on one connection and checks the row
// count. It reports rows/s and allocs/row besides -benchmem's figures.
func benchQuery(b *testing.B, dsn, sql string, rows int) {
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		b.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	query := func() {
		if got, err := readAll(ctx, conn, sql); err != nil || got != rows {
			b.Fatalf("query: %d rows, %v; want %d rows", got, err, rows)
		}
	}
	query() // grows every buffer on the way to its steady size
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ops := 0
	for b.Loop() {
		query()
		ops++
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := float64(ops * rows)
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/row")
}

// readAll runs sql with the simple protocol and counts the rows it returns.
func readAll(ctx context.Context, conn *pgconn.PgConn, sql string) (int, error) {
	mrr := conn.Exec(ctx, sql)
	n := 0
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		for rr.NextRow() {
			_ = rr.Values()
			n++
		}
		if _, err := rr.Close(); err != nil {
			mrr.Close()
			return n, err
		}
	}
	return n, mrr.Close()
}

// through returns the address the client dials for path p: the upstream
// itself, or a proxy in front of it that lives until the benchmark ends.
func through(b *testing.B, p benchPath, upstream string) string {
	if p.config == nil {
		return upstream
	}
	srv, err := proxy.NewServer(p.config(upstream))
	if err != nil {
		b.Fatalf("proxy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Errorf("proxy shutdown: %v", err)
		}
		if err := <-served; err != nil && !errors.Is(err, proxy.ErrServerClosed) {
			b.Errorf("proxy serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func connString(addr, user, password, database string) string {
	u := url.URL{Scheme: "postgres", Host: addr, Path: "/" + database, RawQuery: "sslmode=disable"}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

// The real Postgres is started on first use, so that `go test ./...` (which
// runs no benchmarks) never pays for it, and stopped by TestMain.
var (
	pgOnce sync.Once
	pgSrv  *pgtest.Server
	pgErr  error
)

func requirePostgres(b *testing.B) *pgtest.Server {
	b.Helper()
	if err := pgtest.Available(); err != nil {
		b.Skipf("skipping the real-Postgres benchmarks: %v", err)
	}
	pgOnce.Do(func() { pgSrv, pgErr = startPostgres() })
	if pgErr != nil {
		b.Fatal(pgErr)
	}
	return pgSrv
}

// wideTableFile creates bench_wide; pgbench-compare embeds the same file.
const wideTableFile = "cmd/pgbench-compare/bench_wide.sql"

func startPostgres() (*pgtest.Server, error) {
	sql, err := os.ReadFile(wideTableFile)
	if err != nil {
		return nil, fmt.Errorf("read bench_wide: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := pgtest.Start(ctx, pgtest.Options{})
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if err := srv.Exec(ctx, "postgres", string(sql)); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("load bench_wide: %w", err)
	}
	return srv, nil
}

func stopPostgres() error {
	if pgSrv == nil {
		return nil
	}
	return pgSrv.Stop()
}
