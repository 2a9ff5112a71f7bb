package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules/demo"
)

// gdprOptions sizes the dataset of the GDPR command tests.
var gdprOptions = demo.Options{Customers: 150, Messages: 1500, Tickets: 400, LoginEvents: 600, Invoices: 200, Products: 20}

// gdprFixture is a Postgres with the demo dataset in a template database.
type gdprFixture struct {
	srv  *pgtest.Server
	data *demo.Dataset
}

const gdprTemplate = "gdpr_demo"

// TestGDPRCommands runs the retention, subject and scan commands against
// one server, each on its own copy of the demo database.
func TestGDPRCommands(t *testing.T) {
	srv, ds := startDemo(t, gdprTemplate, gdprOptions)
	fx := &gdprFixture{srv: srv, data: ds}
	t.Run("retention", func(t *testing.T) { testRetentionCommand(t, fx) })
	t.Run("subject", func(t *testing.T) { testSubjectCommand(t, fx) })
	t.Run("scan", func(t *testing.T) { testScanCommand(t, fx) })
	t.Run("bad input", testGDPRBadInput)
}

// database copies the template into a fresh database (the control role may
// create pgveil's schema in it) and writes a config for it: control_dsn as
// the demo's control role, the demo rules, audit spans to a file. It
// returns the config path, the audit file and the database's control DSN.
func (fx *gdprFixture) database(t *testing.T) (cfgPath, auditFile, dsn, db string) {
	t.Helper()
	ctx := context.Background()
	db = fx.srv.TempDatabase(t, gdprTemplate)
	if err := fx.srv.Exec(ctx, db, "GRANT CREATE ON DATABASE "+pgx.Identifier{db}.Sanitize()+" TO "+demo.ControlRole); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), demo.RulesYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hash.key"), []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	dsn = fx.srv.DSN(demo.ControlRole, demo.ControlRole+"-demo", db)
	cfg := fmt.Sprintf("upstream: %s\ncontrol_dsn: %s\nrules: rules.yaml\nmasking: {hash_key_file: hash.key}\naudit: {exporter: file, file: audit.jsonl}\n", fx.srv.Addr(), dsn)
	cfgPath = filepath.Join(dir, "pgveil.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, filepath.Join(dir, "audit.jsonl"), dsn, db
}

// pgveil runs the command line and returns its exit code and output.
func pgveil(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// auditSummaries returns the db.query.summary of every span in the audit
// file, in order.
func auditSummaries(t *testing.T, file string) (summaries []string, raw string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("audit file: %v", err)
	}
	raw = string(b)
	const key = `"key":"db.query.summary","value":{"stringValue":"`
	for rest := raw; ; {
		i := strings.Index(rest, key)
		if i < 0 {
			break
		}
		rest = rest[i+len(key):]
		summaries = append(summaries, rest[:strings.IndexByte(rest, '"')])
	}
	return summaries, raw
}

func gdprConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func testGDPRBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"retention"}, 2, "usage: pgveil retention run"},
		{[]string{"retention", "run"}, 1, "--config is required"},
		{[]string{"retention", "run", "--config", missing}, 1, "no such file"},
		{[]string{"retention", "run", "--now", "yesterday"}, 2, "--now"},
		{[]string{"subject"}, 2, "usage: pgveil subject ACTION"},
		{[]string{"subject", "forget", "--id", "1"}, 2, `unknown action "forget"`},
		{[]string{"subject", "export", "--config", missing}, 2, "--id is required"},
		{[]string{"subject", "rectify", "--id", "1", "--set", "email"}, 2, "column=value"},
		{[]string{"subject", "rectify", "--id", "1"}, 2, "--set column=value is required"},
		{[]string{"scan"}, 2, "--dsn"},
		{[]string{"scan", "--dsn", "postgres://x", "--check"}, 2, "--check needs the rules"},
	} {
		code, _, stderr := pgveil(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("pgveil %s = %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
}
