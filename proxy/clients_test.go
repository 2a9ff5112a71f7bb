package proxy

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/proxy/pgtest"
)

// clientBin finds a PostgreSQL client program on PATH or next to the
// server binaries. Under CI=true a missing client is a failure.
func clientBin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1]
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (CI=true)", name)
	}
	t.Skipf("%s not found", name)
	return ""
}

// psqlEnv returns the libpq environment for user at addr.
func psqlEnv(addr, user string, extra ...string) []string {
	host, port, _ := net.SplitHostPort(addr)
	env := append(os.Environ(), "PGHOST="+host, "PGPORT="+port, "PGUSER="+user, "PGPASSWORD="+testPW,
		"PGDATABASE=postgres", "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10", "PSQLRC=/dev/null", "PGAPPNAME=psql-test")
	return append(env, extra...)
}

const psqlScript = `\set ON_ERROR_STOP 0
create temp table pt(id int, name text);
\copy pt from stdin
1	alice
2	bob \\ tab\there
3	\N
\.
select count(*) as n, max(id) as top from pt \gset
\echo n=:n top=:top
\copy (select * from pt order by id) to stdout
\copy (select * from pt order by id) to stdout with (format csv, header)
select id, name from pt order by id;
select 1/0;
\echo done
`

// TestPsql runs a psql script using \copy and \gset directly and through
// the proxy (plaintext and TLS) and compares the output.
func TestPsql(t *testing.T) {
	pg := pgtest.Require(t)
	psql := clientBin(t, "psql")
	plain := startProxy(t, pg)
	tlsProxy := startProxy(t, pg, withTLS(t, pg, true))

	run := func(env []string) string {
		cmd := exec.Command(psql, "-X", "-q", "-f", "-")
		cmd.Env = env
		cmd.Stdin = strings.NewReader(psqlScript)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	want := run(psqlEnv(pg.Addr(), scramUser))
	if !strings.Contains(want, "n=3 top=3") || !strings.Contains(want, "done") {
		t.Fatalf("direct psql run looks wrong:\n%s", want)
	}
	for name, env := range map[string][]string{
		"plaintext/scram": psqlEnv(plain.addr, scramUser),
		"plaintext/md5":   psqlEnv(plain.addr, md5User),
		"password":        psqlEnv(plain.addr, pwUser),
		"trust":           psqlEnv(plain.addr, trustUser, "PGPASSWORD="),
		"tls/scram":       psqlEnv(tlsProxy.addr, scramUser, "PGSSLMODE=verify-full", "PGSSLROOTCERT="+tlsProxy.caFile),
		"tls/md5":         psqlEnv(tlsProxy.addr, md5User, "PGSSLMODE=verify-full", "PGSSLROOTCERT="+tlsProxy.caFile),
	} {
		if got := run(env); got != want {
			t.Errorf("%s: through pgveil:\n%s\ndirect:\n%s", name, got, want)
		}
	}
}

// TestPsqlWatchCancel stops `\watch 0.1` with Ctrl-C while a statement runs:
// psql sends a CancelRequest, which the proxy must map to the right
// upstream backend.
func TestPsqlWatchCancel(t *testing.T) {
	pg := pgtest.Require(t)
	psql := clientBin(t, "psql")
	p := startProxy(t, pg)
	ctx := testCtx(t)
	super, err := pgx.Connect(ctx, pg.SuperDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	run := func(addr string) (string, time.Duration) {
		cmd := exec.Command(psql, "-X", "-f", "-")
		cmd.Env = psqlEnv(addr, scramUser, "PGAPPNAME=watch-cancel")
		cmd.Stdin = strings.NewReader("select 'tick', pg_sleep(3) \\watch 0.1\n\\echo after-watch\n")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the statement runs, then press Ctrl-C.
		for deadline := time.Now().Add(20 * time.Second); ; {
			var n int
			super.QueryRow(ctx, "select count(*) from pg_stat_activity where application_name = 'watch-cancel' and query like '%pg_sleep%' and state = 'active'").Scan(&n)
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("psql never started its statement:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		start := time.Now()
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("psql did not stop after SIGINT:\n%s", out.String())
		}
		return out.String(), time.Since(start)
	}
	direct, _ := run(pg.Addr())
	before := p.srv.Stats().Cancels
	proxied, took := run(p.addr)
	// The watch's header line carries a timestamp; compare the rest.
	norm := regexp.MustCompile(`(?m)^.*\(every 0\.1s\).*$`)
	if a, b := norm.ReplaceAllString(direct, ""), norm.ReplaceAllString(proxied, ""); a != b {
		t.Errorf("through pgveil:\n%s\ndirect:\n%s", proxied, direct)
	}
	if !strings.Contains(proxied, "canceling statement due to user request") {
		t.Errorf("statement was not canceled:\n%s", proxied)
	}
	if took > 2500*time.Millisecond {
		t.Errorf("cancel took %v: the sleep ran to completion", took)
	}
	if got := p.srv.Stats().Cancels - before; got != 1 {
		t.Errorf("proxy forwarded %d cancel requests, want 1", got)
	}
}

// TestPgbench runs pgbench in each query mode through the proxy.
func TestPgbench(t *testing.T) {
	pg := pgtest.Require(t)
	pgbench := clientBin(t, "pgbench")
	db := pg.TempDatabase(t, "")
	ctx := testCtx(t)
	if err := pg.Exec(ctx, db, "GRANT ALL ON SCHEMA public TO scram_user, md5_user"); err != nil {
		t.Fatal(err)
	}
	plain := startProxy(t, pg)
	tlsProxy := startProxy(t, pg, withTLS(t, pg, true))
	envFor := func(addr, user string, extra ...string) []string {
		return append(psqlEnv(addr, user, extra...), "PGDATABASE="+db)
	}
	init := exec.Command(pgbench, "-i", "-s", "1", "-q")
	init.Env = envFor(plain.addr, scramUser)
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i through pgveil: %v\n%s", err, out)
	}
	processed := regexp.MustCompile(`number of transactions actually processed: (\d+)/(\d+)`)
	failed := regexp.MustCompile(`number of failed transactions: (\d+)`)
	for _, mode := range []string{"simple", "extended", "prepared"} {
		for name, env := range map[string][]string{
			"plaintext/scram": envFor(plain.addr, scramUser),
			"tls/md5":         envFor(tlsProxy.addr, md5User, "PGSSLMODE=verify-full", "PGSSLROOTCERT="+tlsProxy.caFile),
		} {
			for _, script := range [][]string{{"-S"}, {"-N"}, {}} {
				args := append([]string{"-M", mode, "-c", "4", "-j", "2", "-t", "50", "-n"}, script...)
				cmd := exec.Command(pgbench, args...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				m := processed.FindStringSubmatch(string(out))
				f := failed.FindStringSubmatch(string(out))
				if err != nil || m == nil || m[1] != m[2] || m[1] != "200" || (f != nil && f[1] != "0") {
					t.Errorf("pgbench -M %s %v via %s: %v\n%s", mode, script, name, err, out)
				}
			}
		}
	}
}
