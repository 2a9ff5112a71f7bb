package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

// Environment variables that Main reads. They are test-harness switches,
// read here rather than in cmd/ because Main is the entry point of a test
// binary.
const (
	// EnvCI, when true (strconv.ParseBool), makes missing PostgreSQL
	// binaries a failure instead of a skip.
	EnvCI = "CI"
	// EnvKeep, when true, keeps the server's directory after the tests.
	EnvKeep = "PGVEIL_TEST_KEEP"
)

// TestingM is what Main needs of *testing.M.
type TestingM interface {
	Run() int
}

// TB is the part of testing.TB that this package uses; *testing.T and
// *testing.B satisfy it.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// harness is the state Main shares with Require: one server per test binary
// is inherently process-wide, like the testing package's own flags. It is
// set once before m.Run and cleared after.
type harness struct {
	srv    *Server
	reason string // why srv is nil
}

var current atomic.Pointer[harness]

// Main runs the tests of a test binary around one PostgreSQL server and
// returns the exit code for os.Exit. It
//
//   - starts the server with opts (Options.Logf, which also gets Main's own
//     messages, defaults to stderr; the PGVEIL_TEST_KEEP variable sets
//     Options.Keep), then calls setup (which may be nil) to create roles,
//     databases and fixtures;
//   - when the PostgreSQL binaries are missing: fails (returns 1) under
//     CI=true, and otherwise prints a skip notice and runs the tests without a
//     server, so that Require skips them;
//   - fails (returns 1) when the binaries exist but the server does not start
//     or setup fails: that is a broken machine, not a missing feature;
//   - stops the server when the tests end, and on SIGINT or SIGTERM, after
//     which it re-raises the signal. If a test panics the process dies
//     without returning here; the server then exits on its parent-death
//     signal and the next Start removes its directory.
//
// Combine it with goleak by checking after it returns:
//
//	code := pgtest.Main(m, opts, setup)
//	if code == 0 {
//		if err := goleak.Find(); err != nil { fmt.Fprintln(os.Stderr, err); code = 1 }
//	}
//	os.Exit(code)
func Main(m TestingM, opts Options, setup func(*Server) error) int {
	if opts.Logf == nil {
		opts.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	}
	if keep, _ := strconv.ParseBool(os.Getenv(EnvKeep)); keep {
		opts.Keep = true
	}
	if _, err := findBinDir(opts.BinDir); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv(EnvCI)); ci {
			opts.Logf("FAIL: %v\n(%s=true: the integration tests must run; install PostgreSQL)", err, EnvCI)
			return 1
		}
		opts.Logf("SKIP: %v\n(tests that need PostgreSQL will skip; under %s=true this fails)", err, EnvCI)
		current.Store(&harness{reason: err.Error()})
		defer current.Store(nil)
		return m.Run()
	}

	srv, err := Start(context.Background(), opts)
	if err != nil {
		opts.Logf("FAIL: %v", err)
		return 1
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			opts.Logf("pgtest: stop: %v", err)
		}
	}()

	// The goroutine below is owned by Main: it exits when a signal arrives
	// (after stopping the server and re-raising the signal) or when Main
	// closes quit, and Main waits for it before returning.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case sig := <-sigs:
			opts.Logf("pgtest: %v: stopping postgres", sig)
			_ = srv.Stop()
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-quit:
		}
	})
	defer func() {
		signal.Stop(sigs)
		close(quit)
		wg.Wait()
	}()

	if setup != nil {
		if err := setup(srv); err != nil {
			opts.Logf("FAIL: pgtest setup: %v", err)
			return 1
		}
	}
	current.Store(&harness{srv: srv})
	defer current.Store(nil)
	return m.Run()
}

// Require returns the server that Main started for this test binary, or
// skips the test when Main ran without one (PostgreSQL binaries missing
// outside CI). It fails the test when TestMain did not call Main.
func Require(t TB) *Server {
	t.Helper()
	h := current.Load()
	switch {
	case h == nil:
		t.Fatalf("pgtest: Require needs pgtest.Main in this package's TestMain")
		return nil
	case h.srv == nil:
		t.Skipf("pgtest: no PostgreSQL server: %s", h.reason)
		return nil
	}
	return h.srv
}
