package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules/demo"
)

// demoDatabase is the database the demo loads and the proxy serves.
const demoDatabase = "demo"

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:6432", "address pgveil listens on")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	seed := fs.Uint64("seed", demo.DefaultSeed, "seed of the generated dataset")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger, err := newLogger(logConfig{Level: *logLevel}, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil demo: %v\n", err)
		return 2
	}
	if err := demoRun(ctx, *listen, *seed, logger, stdout); err != nil {
		fmt.Fprintf(stderr, "pgveil demo: %v\n", err)
		return 1
	}
	return 0
}

func demoRun(ctx context.Context, listen string, seed uint64, logger *slog.Logger, stdout io.Writer) error {
	if err := pgtest.Available(); err != nil {
		return fmt.Errorf("%w\n(install the PostgreSQL server packages, e.g. apt-get install -y postgresql)", err)
	}
	start := time.Now()
	pg, err := pgtest.Start(ctx, pgtest.Options{Logf: func(f string, a ...any) { logger.Debug(fmt.Sprintf(f, a...)) }})
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	defer pg.Stop()
	if err := pg.CreateDatabase(ctx, demoDatabase, ""); err != nil {
		return err
	}
	var sql strings.Builder
	if err := demo.Generate(demo.Options{Seed: seed}).WriteSQL(&sql); err != nil {
		return fmt.Errorf("generate demo data: %w", err)
	}
	if err := pg.Exec(ctx, demoDatabase, sql.String()); err != nil {
		return fmt.Errorf("load demo data: %w", err)
	}
	logger.Info("demo database ready", "postgres", pg.Addr(), "took", time.Since(start).Round(time.Millisecond))

	cfg := &fileConfig{Listen: listen, Upstream: pg.Addr()}
	return serve(ctx, cfg, logger, func(addr string) {
		printDemoHelp(stdout, addr, pg)
	})
}

func printDemoHelp(w io.Writer, addr string, pg *pgtest.Server) {
	host, port, _ := net.SplitHostPort(addr)
	fmt.Fprintf(w, "\npgveil demo is running: pgveil on %s, in front of a throwaway Postgres on %s.\n", addr, pg.Addr())
	fmt.Fprintf(w, "Connect as each demo role (Ctrl-C stops everything and removes the database):\n\n")
	for _, r := range demo.Roles() {
		fmt.Fprintf(w, "  psql \"postgres://%s:%s@%s:%s/%s?sslmode=disable\"\n", r.Name, r.Password, host, port, demoDatabase)
	}
	fmt.Fprintf(w, "\nDirectly, bypassing pgveil (superuser): psql %q\n\n", pg.SuperDSN(demoDatabase))
}
