package pgtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// requireBinaries skips (or, under CI=true, fails) without Postgres, the
// same rule Main applies.
func requireBinaries(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv(EnvCI)); ci {
			t.Fatalf("CI=true: %v", err)
		}
		t.Skip(err)
	}
}

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	requireBinaries(t)
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// searchableTempDir returns a t.TempDir() that the postgres OS user can reach
// when the test runs as root (t.TempDir creates mode 0700 directories).
func searchableTempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{d, filepath.Dir(d)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func connect(t *testing.T, dsn string) (*pgx.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, nil
}

func mustConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := connect(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// wantAuthFailure asserts that err is PostgreSQL's authentication failure.
func wantAuthFailure(t *testing.T, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || (pgErr.Code != "28P01" && pgErr.Code != "28000") {
		t.Fatalf("err = %v, want an authentication failure (28P01/28000)", err)
	}
}

func TestServer(t *testing.T) {
	s := startServer(t, Options{Password: "s3cr'et \\ pw"})
	ctx := context.Background()

	t.Run("plaintext", func(t *testing.T) {
		conn := mustConnect(t, s.SuperDSN(""))
		if got := queryString(t, conn, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); got != "false" {
			t.Errorf("ssl = %s, want false", got)
		}
		if got := queryString(t, conn, "SELECT current_setting('password_encryption')"); got != "scram-sha-256" {
			t.Errorf("password_encryption = %s", got)
		}
		if got := queryString(t, conn, "SELECT current_setting('fsync')"); got != "off" {
			t.Errorf("fsync = %s, want off", got)
		}
		if got := queryString(t, conn, "SELECT inet_server_addr()::text"); got != "127.0.0.1/32" {
			t.Errorf("server address = %s", got)
		}
	})

	t.Run("tls verify-full", func(t *testing.T) {
		conn := mustConnect(t, s.DSN(s.Superuser(), s.SuperPassword(), "postgres", "sslmode=verify-full", "sslrootcert="+s.CAFile()))
		if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
			t.Errorf("connection is %T, want *tls.Conn", conn.PgConn().Conn())
		}
		if got := queryString(t, conn, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); got != "true" {
			t.Errorf("ssl = %s, want true", got)
		}
		pemFile, err := os.ReadFile(s.CAFile())
		if err != nil || !bytes.Equal(pemFile, s.CAPEM()) {
			t.Errorf("CAFile content differs from CAPEM (err %v)", err)
		}
	})

	t.Run("scram role", func(t *testing.T) {
		if err := s.CreateRole(ctx, "alice", "alice-pw", ""); err != nil {
			t.Fatal(err)
		}
		conn := mustConnect(t, s.DSN("alice", "alice-pw", ""))
		if got := queryString(t, conn, "SELECT current_user"); got != "alice" {
			t.Errorf("current_user = %s", got)
		}
		super := mustConnect(t, s.SuperDSN(""))
		if got := queryString(t, super, "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'alice'"); got != "SCRAM-SHA-256$" {
			t.Errorf("stored hash starts %q, want SCRAM-SHA-256$", got)
		}
		_, err := connect(t, s.DSN("alice", "wrong", ""))
		wantAuthFailure(t, err)
	})

	t.Run("md5 role with md5 hba line", func(t *testing.T) {
		if err := s.CreateRole(ctx, "bob", "bob-pw", "md5"); err != nil {
			t.Fatal(err)
		}
		super := mustConnect(t, s.SuperDSN(""))
		if got := queryString(t, super, "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'bob'"); got != "md5" {
			t.Errorf("stored hash starts %q, want md5", got)
		}
		// An md5 hash cannot pass the default scram-sha-256 line ...
		_, err := connect(t, s.DSN("bob", "bob-pw", ""))
		wantAuthFailure(t, err)
		// ... and the md5 line applies as soon as AddHBA returns.
		if err := s.AddHBA(ctx, "host all bob 127.0.0.1/32 md5"); err != nil {
			t.Fatal(err)
		}
		conn := mustConnect(t, s.DSN("bob", "bob-pw", ""))
		if got := queryString(t, conn, "SELECT current_user"); got != "bob" {
			t.Errorf("current_user = %s", got)
		}
	})

	t.Run("hostssl only", func(t *testing.T) {
		if err := s.CreateRole(ctx, "carol", "carol-pw", "scram-sha-256"); err != nil {
			t.Fatal(err)
		}
		if err := s.AddHBA(ctx, "hostssl all carol 127.0.0.1/32 scram-sha-256", "host all carol 127.0.0.1/32 reject"); err != nil {
			t.Fatal(err)
		}
		_, err := connect(t, s.DSN("carol", "carol-pw", ""))
		wantAuthFailure(t, err)
		mustConnect(t, s.DSN("carol", "carol-pw", "", "sslmode=verify-full", "sslrootcert="+s.CAFile()))
	})

	t.Run("invalid hba line changes nothing", func(t *testing.T) {
		err := s.AddHBA(ctx, "host all dave 127.0.0.1/32 no-such-method")
		if err == nil || !strings.Contains(err.Error(), "invalid authentication method") {
			t.Fatalf("err = %v, want invalid authentication method", err)
		}
		mustConnect(t, s.DSN("bob", "bob-pw", "")) // earlier lines survive
		if err := s.AddHBA(ctx, "host all x 127.0.0.1/32 md5\nlocal all all trust"); err == nil {
			t.Fatal("a line break in an hba line was accepted")
		}
	})

	t.Run("exec and databases", func(t *testing.T) {
		if err := s.CreateDatabase(ctx, "tmpl", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Exec(ctx, "tmpl", "CREATE TABLE t (v text); INSERT INTO t VALUES ('a'), ('b')"); err != nil {
			t.Fatal(err)
		}
		db := s.TempDatabase(t, "tmpl")
		conn := mustConnect(t, s.SuperDSN(db))
		if got := queryString(t, conn, "SELECT string_agg(v, ',' ORDER BY v) FROM t"); got != "a,b" {
			t.Errorf("copied rows = %s", got)
		}
		if err := s.Exec(ctx, "", "SELECT 1/0"); err == nil {
			t.Error("Exec hid an error")
		}
	})

	t.Run("issue cert", func(t *testing.T) {
		certPEM, keyPEM, err := s.IssueCert("proxy", "127.0.0.1", "localhost")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(certPEM)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.CAPEM())
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("verify %v: %v", usage, err)
			}
		}
		if err := cert.VerifyHostname("127.0.0.1"); err != nil {
			t.Error(err)
		}
	})
}

// procChildren returns the pids whose parent is pid.
func procChildren(t *testing.T, pid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []int
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			kids = append(kids, child)
		}
	}
	return kids
}

// processesUsing returns the pids whose command line mentions dir.
func processesUsing(dir string) []int {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, c := range cmdlines {
		b, err := os.ReadFile(c)
		if err == nil && bytes.Contains(b, []byte(dir)) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
			pids = append(pids, pid)
		}
	}
	return pids
}

func assertGone(t *testing.T, dir string, pids []int) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dir %s still exists (stat err %v)", dir, err)
	}
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("server process %d still runs", pid)
		}
	}
	if left := processesUsing(dir); len(left) > 0 {
		t.Errorf("processes %v still mention %s", left, dir)
	}
}

func TestStopRemovesEverything(t *testing.T) {
	parent := searchableTempDir(t)
	// A directory left by a crashed run (owner process gone) is removed by
	// the next Start; one without an owner file is someone else's.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(parent, dirPrefix+"stale")
	foreign := filepath.Join(parent, dirPrefix+"foreign")
	for _, d := range []string{filepath.Join(stale, dataDirName), foreign} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(stale, ownerFile), []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	s := startServer(t, Options{Dir: parent})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale dir survived Start: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("foreign dir removed: %v", err)
	}
	conn := mustConnect(t, s.SuperDSN(""))
	_ = conn // an open session: fast shutdown must end it
	pids := append([]int{s.proc.Pid}, procChildren(t, s.proc.Pid)...)
	if len(pids) < 3 {
		t.Fatalf("server processes = %v, want postmaster and its children", pids)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	assertGone(t, s.dir, pids)
}

func TestStartFailureShowsLogAndCleansUp(t *testing.T) {
	requireBinaries(t)
	parent := searchableTempDir(t)
	_, err := Start(context.Background(), Options{Dir: parent, Settings: map[string]string{"shared_buffers": "lots"}, Logf: t.Logf})
	if err == nil {
		t.Fatal("Start succeeded with an invalid setting")
	}
	if !strings.Contains(err.Error(), "shared_buffers") {
		t.Errorf("error lacks the server log: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// fakeM stands in for *testing.M.
type fakeM func() int

func (f fakeM) Run() int { return f() }

// fakeTB records Skipf and Fatalf instead of stopping the goroutine.
type fakeTB struct {
	skipped, failed string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Cleanup(func())                 {}
func (f *fakeTB) Logf(string, ...any)            {}
func (f *fakeTB) Skipf(format string, a ...any)  { f.skipped = fmt.Sprintf(format, a...) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestMainRunsTestsAroundOneServer(t *testing.T) {
	requireBinaries(t)
	t.Setenv(EnvKeep, "")
	var srv *Server
	var pids []int
	setupRan := false
	code := Main(fakeM(func() int {
		tb := &fakeTB{}
		srv = Require(tb)
		if srv == nil || tb.failed != "" || tb.skipped != "" {
			t.Errorf("Require = %v (failed %q, skipped %q)", srv, tb.failed, tb.skipped)
			return 1
		}
		if err := srv.Exec(context.Background(), "", "SELECT 1"); err != nil {
			t.Error(err)
			return 1
		}
		pids = append([]int{srv.proc.Pid}, procChildren(t, srv.proc.Pid)...)
		return 7
	}), Options{Logf: t.Logf}, func(*Server) error { setupRan = true; return nil })
	if code != 7 {
		t.Fatalf("Main = %d, want the tests' code 7", code)
	}
	if !setupRan {
		t.Error("setup did not run")
	}
	assertGone(t, srv.dir, pids)
	tb := &fakeTB{}
	if Require(tb) != nil || tb.failed == "" {
		t.Errorf("Require after Main: failed %q, want a failure", tb.failed)
	}
}

func TestMainSetupFailureFails(t *testing.T) {
	requireBinaries(t)
	ran := false
	code := Main(fakeM(func() int { ran = true; return 0 }), Options{Logf: t.Logf}, func(*Server) error { return errors.New("boom") })
	if code != 1 || ran {
		t.Errorf("Main = %d (tests ran: %v), want 1 without running tests", code, ran)
	}
}

func TestMainWithoutBinaries(t *testing.T) {
	noBin := Options{BinDir: t.TempDir(), Logf: t.Logf}

	t.Setenv(EnvCI, "")
	tb := &fakeTB{}
	code := Main(fakeM(func() int {
		if Require(tb) != nil {
			t.Error("Require returned a server")
		}
		return 0
	}), noBin, nil)
	if code != 0 || !strings.Contains(tb.skipped, "not found") {
		t.Errorf("laptop: Main = %d, skip %q; want 0 and a skip", code, tb.skipped)
	}

	t.Setenv(EnvCI, "true")
	ran := false
	if code := Main(fakeM(func() int { ran = true; return 0 }), noBin, nil); code != 1 || ran {
		t.Errorf("CI: Main = %d (tests ran: %v), want 1 without running tests", code, ran)
	}
}

func TestFindBinDirPrefersHighestVersion(t *testing.T) {
	if got := compareVersions("9.6", "15"); got >= 0 {
		t.Errorf("9.6 vs 15 = %d", got)
	}
	if got := compareVersions("17", "16"); got <= 0 {
		t.Errorf("17 vs 16 = %d", got)
	}
}

func TestDSN(t *testing.T) {
	s := &Server{port: 5555}
	got := s.DSN("a b", "p@ss:/", "db", "sslmode=verify-full", "sslrootcert=/x/ca.crt")
	want := "postgres://a%20b:p%40ss%3A%2F@127.0.0.1:5555/db?sslmode=verify-full&sslrootcert=%2Fx%2Fca.crt"
	if got != want {
		t.Errorf("DSN = %s\nwant  %s", got, want)
	}
	cfg, err := pgconn.ParseConfig(s.DSN("a b", "p@ss:/", "db"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "a b" || cfg.Password != "p@ss:/" || cfg.Database != "db" || cfg.Port != 5555 {
		t.Errorf("parsed %+v", cfg)
	}
	if got := s.DSN("u", "p", ""); !strings.HasSuffix(got, "/postgres?sslmode=disable") {
		t.Errorf("default DSN = %s", got)
	}
}

// Environment of the helper process that TestServerDiesWithItsProcess runs.
const (
	envHelper    = "PGTEST_HELPER"     // "panic" or "signal"
	envHelperDir = "PGTEST_HELPER_DIR" // Options.Dir
)

// TestHelperProcess is not a real test: TestServerDiesWithItsProcess runs the
// test binary again with it, to crash or interrupt a process that runs a
// server.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("helper process for TestServerDiesWithItsProcess")
	}
	opts := Options{Dir: os.Getenv(envHelperDir), Logf: func(string, ...any) {}}
	ready := func(s *Server) {
		fmt.Printf("READY %s %d\n", s.dir, s.proc.Pid)
	}
	switch mode {
	case "panic":
		s, err := Start(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		ready(s)
		time.Sleep(200 * time.Millisecond)
		panic("helper: a test panics") // no deferred Stop runs
	case "signal":
		Main(fakeM(func() int {
			ready(Require(t))
			time.Sleep(time.Minute) // until the parent's SIGINT
			return 0
		}), opts, nil)
	}
	t.Fatalf("helper: %s mode returned", mode)
}

func TestServerDiesWithItsProcess(t *testing.T) {
	requireBinaries(t)
	for _, mode := range []string{"panic", "signal"} {
		t.Run(mode, func(t *testing.T) {
			parent := searchableTempDir(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), envHelper+"="+mode, envHelperDir+"="+parent)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var dir string
			var pid int
			if _, err := fmt.Fscanf(out, "READY %s %d\n", &dir, &pid); err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("helper did not start a server: %v\n%s", err, stderr.String())
			}
			if mode == "signal" {
				if err := cmd.Process.Signal(os.Interrupt); err != nil {
					t.Fatal(err)
				}
			}
			err = cmd.Wait()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("helper exited with %v, want a failure", err)
			}
			if ws, ok := exitErr.Sys().(syscall.WaitStatus); mode == "signal" && (!ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT) {
				t.Errorf("helper exit = %v, want death by the re-raised SIGINT", err)
			}
			// Panic: the kernel's parent-death signal stops the server.
			// Signal: Main stops it before re-raising.
			deadline := time.Now().Add(15 * time.Second)
			for processAlive(pid) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if processAlive(pid) {
				t.Fatalf("postmaster %d survived its process", pid)
			}
			if mode == "panic" {
				removeStale(parent, t.Logf) // what the next Start does
			}
			assertGone(t, dir, nil)
		})
	}
}
