package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgveil/pgveil/audit/otelcoltest"
	"github.com/pgveil/pgveil/policy/examples"
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
	// The control role creates pgveil's own schema (the restriction list).
	if err := pg.Exec(ctx, demoDatabase, "GRANT CREATE ON DATABASE "+demoDatabase+" TO "+demo.ControlRole); err != nil {
		return err
	}
	logger.Info("demo database ready", "postgres", pg.Addr(), "took", time.Since(start).Round(time.Millisecond))

	dir, err := os.MkdirTemp("", "pgveil-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The audit trail goes to a real OpenTelemetry Collector when one is
	// built (make otelcol; cached), to a JSON-lines file otherwise.
	var col *otelcoltest.Collector
	auditCfg := "audit:\n  exporter: file\n  file: " + filepath.Join(dir, "audit-spans.jsonl") + "\n"
	spansFile := filepath.Join(dir, "audit-spans.jsonl")
	if _, err := otelcoltest.Binary(); err == nil {
		cdir := filepath.Join(dir, "otelcol")
		if err = os.MkdirAll(cdir, 0o755); err == nil {
			col, err = otelcoltest.New(otelcoltest.Options{Dir: cdir, Batch: true})
		}
		if err == nil {
			err = col.Start(ctx)
		}
		if err != nil {
			logger.Warn("could not start the OpenTelemetry Collector; writing the audit trail to a file instead", "err", err)
			col = nil
		} else {
			defer col.Close()
			spansFile = col.SpansFile()
			auditCfg = "audit:\n  exporter: otlp-grpc\n  endpoint: " + col.GRPCEndpoint() + "\n  spool_dir: " + filepath.Join(dir, "spool") + "\n"
		}
	} else {
		logger.Info("no OpenTelemetry Collector built (make otelcol); the audit trail goes to a file")
	}
	cfgPath, err := writeDemoFiles(dir, listen, pg, auditCfg+"metrics:\n  listen: 127.0.0.1:9464\n")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, logger, func(addr string) {
		printDemoHelp(stdout, addr, pg, cfgPath)
		where := "the file"
		if col != nil {
			where = "the Collector (" + col.GRPCEndpoint() + "), which writes"
		}
		fmt.Fprintf(stdout, "Audit: every personal-data access is a span, sent to %s %s\n", where, spansFile)
		fmt.Fprintf(stdout, "  e.g. jq -c -f audit/pgveil.jq %s   (audit/README.md has the auditor queries)\n", spansFile)
		fmt.Fprintf(stdout, "Metrics: curl -s http://127.0.0.1:9464/metrics | grep pgveil_\n\n")
	})
}

// writeDemoFiles writes the demo's pgveil.yaml, rules, policies and hash
// key into dir and returns the config's path.
func writeDemoFiles(dir, listen string, pg *pgtest.Server, extra string) (string, error) {
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), demo.RulesYAML, 0o644); err != nil {
		return "", err
	}
	if err := examples.WriteTo(filepath.Join(dir, "policies")); err != nil {
		return "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "hash.key"), key, 0o600); err != nil {
		return "", err
	}
	control := "pgveil-demo"
	for _, r := range demo.Roles() {
		if r.Name == demo.ControlRole {
			control = r.Password
		}
	}
	cfg := fmt.Sprintf(`# pgveil demo configuration (written by pgveil demo).
listen: %s
upstream: %s
control_dsn: %s
rules: rules.yaml
policy:
  paths: [policies/]
masking:
  hash_key_file: hash.key
%s`, listen, pg.Addr(), pg.DSN(demo.ControlRole, control, demoDatabase), extra)
	path := filepath.Join(dir, "pgveil.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}

func printDemoHelp(w io.Writer, addr string, pg *pgtest.Server, cfgPath string) {
	host, port, _ := net.SplitHostPort(addr)
	fmt.Fprintf(w, "\npgveil demo is running: pgveil on %s, in front of a throwaway Postgres on %s.\n", addr, pg.Addr())
	fmt.Fprintf(w, "Connect as each demo role (Ctrl-C stops everything and removes the database):\n\n")
	for _, r := range demo.Roles() {
		fmt.Fprintf(w, "  psql \"postgres://%s:%s@%s:%s/%s?sslmode=disable\"\n", r.Name, r.Password, host, port, demoDatabase)
	}
	fmt.Fprintf(w, "\nDirectly, bypassing pgveil (superuser): psql %q\n", pg.SuperDSN(demoDatabase))
	fmt.Fprintf(w, "Configuration (rules, policies, hash key): %s\n", filepath.Dir(cfgPath))
	fmt.Fprintf(w, "Try: pgveil explain --config %s --user analyst \"SELECT full_name, email FROM customers\"\n\n", cfgPath)
}
