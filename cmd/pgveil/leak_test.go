package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/rules/demo"
	"github.com/pgveil/pgveil/rules/demo/leakcheck"
)

// TestServeWritesNoPersonalData: whatever clients send and receive, what
// pgveil itself writes (its log at debug level, its Prometheus metrics and
// its audit spans) holds no personal value of the demo dataset, nor a
// telltale fragment of one (the leak oracle's index, rules/demo/leakcheck).
//
// The statements are chosen to tempt each output: personal values as SQL
// literals (in reads, in writes, in refused and in malformed statements),
// errors whose text echoes a value (a failed cast, a unique violation),
// refusals, a full read of every personal column as each identity, and a
// COPY. The SQL the clients sent is deliberately not benign text here: a
// literal e-mail in a WHERE clause is personal data, and pgveil must not
// write it anywhere either.
func TestServeWritesNoPersonalData(t *testing.T) {
	pg, ds := startDemo(t, "demo", smallDemo)
	cfgPath, _ := writeDemoConfig(t, pg.SuperDSN("demo"), "")
	dir := filepath.Dir(cfgPath)
	metricsAddr := freeAddr(t)
	spans := filepath.Join(dir, "spans.jsonl")
	extra := fmt.Sprintf("metrics:\n  listen: %s\naudit:\n  exporter: file\n  file: %s\n  spool_dir: %s\n",
		metricsAddr, spans, filepath.Join(dir, "spool"))
	appendFile(t, cfgPath, extra)
	addr, logs, stop := startServeLevel(t, cfgPath, pg, slog.LevelDebug)

	c0, c1 := ds.Customers[0], ds.Customers[1]
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	common := []string{
		"SELECT * FROM customers",
		"SELECT * FROM messages",
		"SELECT * FROM tickets",
		"SELECT * FROM login_events",
		"SELECT * FROM invoices",
		"SELECT id, full_name FROM customers WHERE email = " + lit(c0.Email),
		"SELECT count(*) FROM customers WHERE full_name = " + lit(c0.FullName) + " OR phone = " + lit(c1.Phone),
		"SELECT email::int FROM customers",
		"SELECT " + lit(c0.Email) + "::int",
		"SELECT full_name || " + lit(c1.Email) + " FROM customers",
		"UPDATE customers SET email = " + lit(c1.Email) + " WHERE id = " + fmt.Sprint(c0.ID),
		"INSERT INTO customers (id, full_name, email, country, marketing_opt_in, created_at) VALUES (999999, " + lit(c0.FullName) + ", " + lit(c0.Email) + ", 'DE', false, now())",
		"DO $$ BEGIN PERFORM 1 FROM customers WHERE email = " + lit(c0.Email) + "; END $$",
		"SELEKT " + lit(c0.Email),
		"SELECT * FROM pg_stats WHERE tablename = 'customers'",
		"SELECT query FROM pg_stat_activity",
		"COPY (SELECT * FROM customers) TO STDOUT",
		"SELECT c.full_name, m.body FROM customers c JOIN messages m ON m.customer_id = c.id WHERE c.phone = " + lit(c0.Phone),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	statements := 0
	for _, role := range []string{"app_service", "support_agent", "analyst", "marketing", "dpo"} {
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s-demo@%s/demo?sslmode=disable", role, role, addr))
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		for _, sql := range common {
			// Errors and refusals are expected; what matters is what
			// pgveil writes meanwhile. The simple protocol sends the
			// literals as the client wrote them.
			if strings.HasPrefix(sql, "COPY") {
				_, _ = conn.PgConn().CopyTo(ctx, io.Discard, sql)
			} else {
				_, _ = conn.PgConn().Exec(ctx, sql).ReadAll()
			}
			// The extended protocol too, with a personal value as a
			// parameter.
			_, _ = conn.PgConn().ExecParams(ctx, "SELECT id FROM customers WHERE email = $1", [][]byte{[]byte(c1.Email)}, nil, nil, nil).Close()
			statements += 2
		}
		conn.Close(ctx)
	}

	metrics := httpGet(t, "http://"+metricsAddr+"/metrics")
	if !strings.Contains(metrics, "pgveil_") {
		t.Fatalf("the metrics endpoint served no pgveil metrics:\n%.2000s", metrics)
	}
	stop() // drain and flush the audit trail
	spanData, err := os.ReadFile(spans)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(spanData, []byte("pgveil.subjects")) {
		t.Fatalf("no span recorded a personal-data access:\n%.2000s", spanData)
	}

	ix := leakcheck.New(ds, serveBenignText(t))
	// The index finds what it should on this dataset (a check that
	// cannot fail is no check).
	for _, v := range []string{c0.Email, c0.FullName, c1.Phone} {
		if got, _ := ix.Find([]byte("x " + v + " y")); got == "" {
			t.Fatalf("the leak index does not find %q", v)
		}
	}
	for name, out := range map[string]string{"log": logs.String(), "metrics": metrics, "spans": string(spanData)} {
		for line := range strings.Lines(out) {
			if v, frag := ix.Find([]byte(line)); v != "" {
				t.Errorf("LEAK in pgveil's %s: personal value %q (fragment %q) in %.300q", name, v, frag, line)
			}
		}
	}
	t.Logf("%d statements as 5 identities; no personal value in %d log lines, %d metrics lines, %d bytes of spans",
		statements, strings.Count(logs.String(), "\n"), strings.Count(metrics, "\n"), len(spanData))
}

// serveBenignText is text that proves nothing when pgveil writes it: the
// schema, the rules, the example policies, pgveil's own messages and
// metric names (its non-test sources).
func serveBenignText(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	b.Write(demo.RulesYAML)
	for _, tbl := range demo.Tables() {
		b.WriteString(tbl + "\n")
	}
	for _, dir := range []string{".", "../../proxy", "../../proxy/analyze", "../../rules", "../../audit", "../../policy", "../../policy/examples"} {
		files, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := f.Name()
			if (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) || strings.HasSuffix(name, ".rego") {
				src, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				b.Write(src)
			}
		}
	}
	return b.Bytes()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(body)
}
