package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/proxy/pgtest"
)

// benchDB is the database, and the role pgbench logs in as. The role is not
// a superuser so that a masking target can treat it as an ordinary
// identity.
const (
	benchDB   = "bench"
	benchUser = "bench"
)

// tools are the external binaries the harness runs.
type tools struct {
	pgbench   string
	pgbouncer string
}

func findTools(o options) (tools, error) {
	var t tools
	var err error
	if err := pgtest.Available(); err != nil {
		return t, fmt.Errorf("%w\n(install the PostgreSQL server packages: apt-get install -y postgresql)", err)
	}
	if t.pgbench, err = findBinary(o.PgbenchBin, "pgbench", postgresBinDirs()...); err != nil {
		return t, fmt.Errorf("%w (it comes with the PostgreSQL server packages: apt-get install -y postgresql)", err)
	}
	if t.pgbouncer, err = findBinary(o.PgbouncerBin, "pgbouncer", "/usr/sbin"); err != nil {
		return t, fmt.Errorf("%w: apt-get install -y pgbouncer", err)
	}
	return t, nil
}

// findBinary returns flagValue if set, else name in the first of dirs that
// has it, else name on PATH. The PostgreSQL directories come before PATH
// because Debian's /usr/bin/pgbench is a Perl wrapper that adds tens of
// milliseconds to every run.
func findBinary(flagValue, name string, dirs ...string) (string, error) {
	if flagValue != "" {
		if _, err := os.Stat(flagValue); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return flagValue, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH or in %v", name, dirs)
	}
	return p, nil
}

// postgresBinDirs lists /usr/lib/postgresql/*/bin, highest version first.
func postgresBinDirs() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	return dirs
}

// database is the throwaway Postgres with the pgbench tables and
// bench_wide loaded.
type database struct {
	srv      *pgtest.Server
	password string // benchUser's
	// scramSecret is benchUser's SCRAM verifier from pg_authid, for
	// pgbouncer's auth_file (see pgbouncer.go).
	scramSecret string
	version     string
}

func (d *database) addr() string { return d.srv.Addr() }

func (d *database) stop() error {
	if err := d.srv.Stop(); err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	return nil
}

func startDatabase(ctx context.Context, o options, t tools, logf func(string, ...any)) (*database, error) {
	start := time.Now()
	// Room for every target's clients at once plus pgbouncer's idle server
	// connections, which stay open while the other targets run.
	conns := (3+len(o.Targets))*o.maxClients() + 20
	srv, err := pgtest.Start(ctx, pgtest.Options{
		Settings: map[string]string{"max_connections": strconv.Itoa(max(100, conns))},
	})
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	d := &database{srv: srv, password: randomHex(12)}
	if err := d.prepare(ctx, o, t); err != nil {
		srv.Stop()
		return nil, err
	}
	logf("postgres %s on %s ready: pgbench -i -s %d and bench_wide loaded in %s",
		d.version, d.addr(), o.Scale, time.Since(start).Round(100*time.Millisecond))
	return d, nil
}

func (d *database) prepare(ctx context.Context, o options, t tools) error {
	if err := d.srv.CreateRole(ctx, benchUser, d.password, "scram-sha-256"); err != nil {
		return fmt.Errorf("create role: %w", err)
	}
	if err := d.srv.CreateDatabase(ctx, benchDB, ""); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	// Owning the database gives the role CREATE on its public schema.
	if err := d.srv.Exec(ctx, "", "ALTER DATABASE "+benchDB+" OWNER TO "+benchUser); err != nil {
		return fmt.Errorf("database owner: %w", err)
	}
	if err := d.pgbenchInit(ctx, t.pgbench, o.Scale); err != nil {
		return err
	}
	if err := d.loadWide(ctx); err != nil {
		return err
	}
	return d.readCatalog(ctx)
}

// pgbenchInit runs pgbench -i as the bench role over TCP, as the runs will.
func (d *database) pgbenchInit(ctx context.Context, pgbench string, scale int) error {
	cmd := exec.CommandContext(ctx, pgbench, "-i", "-q", "-s", strconv.Itoa(scale),
		"-h", d.srv.Host(), "-p", strconv.Itoa(d.srv.Port()), "-U", benchUser, benchDB)
	cmd.Env = d.clientEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgbench -i: %w\n%s", err, tail(out.String(), 20))
	}
	return nil
}

func (d *database) loadWide(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, d.dsn(d.addr()))
	if err != nil {
		return fmt.Errorf("load bench_wide: %w", err)
	}
	defer conn.Close(ctx)
	// Without arguments Exec uses the simple protocol, which runs the
	// whole multi-statement file.
	if _, err := conn.Exec(ctx, wideTableSQL); err != nil {
		return fmt.Errorf("load bench_wide: %w", err)
	}
	return nil
}

// readCatalog reads what only a superuser can: the role's SCRAM secret.
func (d *database) readCatalog(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, d.srv.SuperDSN(benchDB))
	if err != nil {
		return fmt.Errorf("read catalog: %w", err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", benchUser).Scan(&d.scramSecret)
	if err == nil && !strings.HasPrefix(d.scramSecret, "SCRAM-SHA-256$") {
		err = errors.New("not a SCRAM secret")
	}
	if err != nil {
		return fmt.Errorf("read %s's SCRAM secret: %w", benchUser, err)
	}
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&d.version); err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	return nil
}

// dsn is the bench role's URL through the target at addr.
func (d *database) dsn(addr string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", benchUser, d.password, addr, benchDB)
}

// clientEnv is the environment of pgbench: the caller's minus any PG*
// variable (a stray PGOPTIONS or PGSSLMODE would skew one target), plus the
// password and sslmode=disable for every target. Without it libpq would
// use TLS to Postgres directly (which has ssl=on) and plaintext to the
// proxies, which have no certificate here.
func (d *database) clientEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	return append(env, "PGPASSWORD="+d.password, "PGSSLMODE=disable", "PGGSSENCMODE=disable")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
