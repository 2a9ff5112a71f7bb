package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/proxy/pgtest"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `pgveil serve` in process with cfgPath, in front of pg,
// until the test ends. It returns the listen address and the log.
func startServe(t *testing.T, cfgPath string, pg *pgtest.Server) (string, *syncBuffer) {
	t.Helper()
	addr, logs, _ := startServeLevel(t, cfgPath, pg, slog.LevelInfo)
	return addr, logs
}

// startServeLevel is startServe with the log level, and a stop function that
// shuts pgveil down (draining, flushing the audit trail) and may be called
// before the test ends.
func startServeLevel(t *testing.T, cfgPath string, pg *pgtest.Server, level slog.Level) (string, *syncBuffer, func()) {
	t.Helper()
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Upstream = "127.0.0.1:0", pg.Addr()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logger, func(a string) { ready <- a }) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return addr, logs, stop
}

// TestServePolicyReload: a policy edited on disk takes effect for new
// statements within 2 s, without a restart and without dropping the open
// connection; a broken policy leaves the previous one in force and is
// reported.
func TestServePolicyReload(t *testing.T) {
	pg, _ := startDemo(t, "demo", smallDemo)
	cfgPath, policyDir := writeDemoConfig(t, pg.SuperDSN("demo"), "")
	addr, logs := startServe(t, cfgPath, pg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, "postgres://analyst:analyst-demo@"+addr+"/demo?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	email := func() string {
		t.Helper()
		var v *string
		if err := conn.QueryRow(ctx, "select email from customers order by id limit 1").Scan(&v); err != nil {
			t.Fatalf("query: %v", err)
		}
		if v == nil {
			return "<null>"
		}
		return *v
	}
	if got := email(); !strings.HasPrefix(got, "h_") {
		t.Fatalf("analyst email = %q, want a hash pseudonym", got)
	}

	path := filepath.Join(policyDir, "pgveil.rego")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(src), `"email": "hash",`+"\n\t\t\"phone\": \"hash\"", `"email": "redact",`+"\n\t\t\"phone\": \"hash\"", 1)
	if edited == string(src) {
		t.Fatal("could not find the analyst's email mask in the example policy")
	}
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for email() != "[redacted]" {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("edited policy not in force after %v", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("edited policy in force after %v", time.Since(start).Round(time.Millisecond))

	if err := os.WriteFile(path, []byte(edited+"\nthis is not rego {{{\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if got := email(); got != "[redacted]" {
		t.Fatalf("after a broken edit, email = %q: the previous policy should stay in force", got)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("the broken policy was not reported:\n%s", logs.String())
	}
}
