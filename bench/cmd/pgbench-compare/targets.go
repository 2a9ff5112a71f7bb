package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Built-in target names.
const (
	targetDirect    = "direct"
	targetPgbouncer = "pgbouncer"
	targetPgveil    = "pgveil"
)

// target is one way to reach the database. proc is the proxy process whose
// CPU time is measured; nil for direct.
type target struct {
	Name string
	Addr string // host:port
	proc *proc
}

const startTimeout = 15 * time.Second

// startTargets starts pgbouncer, pgveil and the extra pgveil targets, and
// checks that each answers a query as the bench role. The returned stop
// function is always safe to call, also after an error.
func startTargets(ctx context.Context, o options, t tools, w workDir, d *database, logf func(string, ...any)) ([]*target, func(), error) {
	targets := []*target{{Name: targetDirect, Addr: d.addr()}}
	stop := func() {
		for i := len(targets) - 1; i >= 0; i-- {
			if p := targets[i].proc; p != nil {
				if err := p.stop(); err != nil {
					logf("warning: %v", err)
				}
			}
		}
	}
	add := func(tg *target, err error) error {
		if tg != nil {
			targets = append(targets, tg)
		}
		return err
	}
	if err := add(startPgbouncer(ctx, o, t, w, d)); err != nil {
		return nil, stop, err
	}
	if o.PgveilBin == "" {
		logf("building ./cmd/pgveil")
	}
	bin, err := pgveilBinary(ctx, o, w)
	if err != nil {
		return nil, stop, err
	}
	if err := add(startPgveil(ctx, targetPgveil, "", bin, w, d)); err != nil {
		return nil, stop, err
	}
	for _, x := range o.Targets {
		if err := add(startPgveil(ctx, x.Name, x.Config, bin, w, d)); err != nil {
			return nil, stop, err
		}
	}
	for _, tg := range targets {
		if err := checkTarget(ctx, tg, d); err != nil {
			return nil, stop, err
		}
		logf("target %-10s %s", tg.Name, tg.Addr)
	}
	return targets, stop, nil
}

// checkTarget proves the target authenticates the bench role and reaches
// the data before minutes are spent benchmarking it.
func checkTarget(ctx context.Context, tg *target, d *database) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.dsn(tg.Addr))
	if err != nil {
		return fmt.Errorf("target %s: connect: %w", tg.Name, err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM bench_wide").Scan(&n); err != nil {
		return fmt.Errorf("target %s: query: %w", tg.Name, err)
	}
	if n != 10000 {
		return fmt.Errorf("target %s: bench_wide has %d rows, want 10000", tg.Name, n)
	}
	return nil
}

// pgveilBinary returns --pgveil, or builds ./cmd/pgveil into the work dir so
// that the run measures this checkout and never a stale bin/pgveil.
func pgveilBinary(ctx context.Context, o options, w workDir) (string, error) {
	if o.PgveilBin != "" {
		return filepath.Abs(o.PgveilBin)
	}
	bin := w.join("pgveil")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/pgveil/pgveil/cmd/pgveil")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build pgveil (run from the checkout, or pass --pgveil): %w\n%s", err, out)
	}
	return bin, nil
}

// startPgveil runs `pgveil serve` in front of the database. config, if not
// empty, is an extra target's config file; its placeholders are expanded
// into a copy in the work dir. --log-level warn keeps per-connection info
// lines out of the measurement.
func startPgveil(ctx context.Context, name, config, bin string, w workDir, d *database) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"serve", "--listen", addr, "--upstream", d.addr(), "--log-level", "warn"}
	if config != "" {
		path, err := expandTargetConfig(name, config, w, d)
		if err != nil {
			return nil, err
		}
		args = append(args, "--config", path)
	}
	p, err := startProc(name, w.join(name+".log"), nil, bin, args...)
	if err != nil {
		return nil, err
	}
	tg := &target{Name: name, Addr: addr, proc: p}
	return tg, p.waitReady(ctx, addr, startTimeout)
}

func expandTargetConfig(name, config string, w workDir, d *database) (string, error) {
	text, err := os.ReadFile(config)
	if err != nil {
		return "", fmt.Errorf("target %s: %w", name, err)
	}
	dir, err := filepath.Abs(filepath.Dir(config))
	if err != nil {
		return "", fmt.Errorf("target %s: %w", name, err)
	}
	expanded := expandConfig(string(text), map[string]string{
		"UPSTREAM":    d.addr(),
		"DATABASE":    benchDB,
		"USER":        benchUser,
		"PASSWORD":    d.password,
		"CONTROL_DSN": d.srv.SuperDSN(benchDB),
		"CONFIG_DIR":  dir,
	})
	path := w.join(name + ".yaml")
	if err := os.WriteFile(path, []byte(expanded), 0o600); err != nil {
		return "", fmt.Errorf("target %s: %w", name, err)
	}
	return path, nil
}

// startPgbouncer runs pgbouncer in session mode with a pool as large as the
// largest client count, so that no client ever waits for a server
// connection. It runs as the postgres OS user when we are root, because
// pgbouncer refuses to run as root.
//
// The auth_file holds the role's SCRAM secret copied from pg_authid, the
// setup pgbouncer documents for SCRAM: pgbouncer then verifies clients with
// HMACs alone and logs in to Postgres with the client's proof (no PBKDF2 of
// its own per connection), like pgveil, which relays the exchange.
func startPgbouncer(ctx context.Context, o options, t tools, w workDir, d *database) (*target, error) {
	cred, err := serviceUser()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf, err := writePgbouncerConfig(w, d, port, o.maxClients(), cred)
	if err != nil {
		return nil, err
	}
	p, err := startProc(targetPgbouncer, w.join("pgbouncer.log"), cred, t.pgbouncer, conf)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	tg := &target{Name: targetPgbouncer, Addr: addr, proc: p}
	return tg, p.waitReady(ctx, addr, startTimeout)
}

func writePgbouncerConfig(w workDir, d *database, port, clients int, cred *syscall.Credential) (string, error) {
	authFile := w.join("userlist.txt")
	if err := writeOwned(authFile, fmt.Sprintf("%q %q\n", benchUser, d.scramSecret), cred); err != nil {
		return "", fmt.Errorf("pgbouncer auth_file: %w", err)
	}
	host, pgPort, _ := net.SplitHostPort(d.addr())
	// server_tls_sslmode=disable matches pgveil's upstream (plaintext);
	// unix_socket_dir is empty so that the only listener is the TCP port;
	// connection logging is off as it is for pgveil (--log-level warn).
	conf := strings.Join([]string{
		"[databases]",
		fmt.Sprintf("%s = host=%s port=%s dbname=%s", benchDB, host, pgPort, benchDB),
		"",
		"[pgbouncer]",
		"listen_addr = 127.0.0.1",
		fmt.Sprintf("listen_port = %d", port),
		"unix_socket_dir =",
		"auth_type = scram-sha-256",
		"auth_file = " + authFile,
		"pool_mode = session",
		fmt.Sprintf("default_pool_size = %d", clients),
		fmt.Sprintf("max_client_conn = %d", 2*clients+10),
		"server_tls_sslmode = disable",
		"client_tls_sslmode = disable",
		"log_connections = 0",
		"log_disconnections = 0",
		"log_pooler_errors = 1",
		"",
	}, "\n")
	path := w.join("pgbouncer.ini")
	if err := writeOwned(path, conf, cred); err != nil {
		return "", fmt.Errorf("pgbouncer config: %w", err)
	}
	return path, nil
}

// writeOwned writes a 0600 file owned by cred's user (if not nil).
func writeOwned(path, content string, cred *syscall.Credential) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	if cred == nil {
		return nil
	}
	return os.Chown(path, int(cred.Uid), int(cred.Gid))
}
