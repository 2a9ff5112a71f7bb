package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgveil/pgveil/policy/examples"
	"github.com/pgveil/pgveil/rules/demo"
)

// TestPolicyToolsWithDatabase runs check and explain against one demo
// database.
func TestPolicyToolsWithDatabase(t *testing.T) {
	srv, _ := startDemo(t, "demo", smallDemo)
	dsn := srv.SuperDSN("demo")
	t.Run("check", func(t *testing.T) { testCheckDemo(t, dsn) })
	t.Run("check problems", func(t *testing.T) { testCheckReportsProblems(t, dsn) })
	t.Run("explain", func(t *testing.T) { testExplainDemo(t, dsn) })
}

// writeDemoConfig writes rules, the example policies and a config into a
// temp dir and returns the config path.
func writeDemoConfig(t *testing.T, dsn string, extraRules string) (cfgPath, policyDir string) {
	t.Helper()
	dir := t.TempDir()
	policyDir = filepath.Join(dir, "policies")
	if err := examples.WriteTo(policyDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), append(append([]byte{}, demo.RulesYAML...), extraRules...), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := "upstream: 127.0.0.1:5432\nrules: rules.yaml\npolicy:\n  paths: [policies/]\n"
	if dsn != "" {
		cfg += "control_dsn: " + dsn + "\n"
	}
	cfgPath = filepath.Join(dir, "pgveil.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, policyDir
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func testCheckDemo(t *testing.T, dsn string) {
	cfg, _ := writeDemoConfig(t, dsn, "")
	code, out, errOut := runCmd(t, "check", "--config", cfg)
	if code != 0 {
		t.Fatalf("check = %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"ok    config", "ok    rules", "ok    database: every classified column exists",
		"with a session rule", "PASS  data.pgveil_test.test_analyst_may_not_filter_on_email", " passed, 0 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func testCheckReportsProblems(t *testing.T, dsn string) {
	// A classified column that does not exist, and a failing Rego test.
	cfg, pdir := writeDemoConfig(t, dsn, "  public.customers_archive:\n    columns: {email: email}\n")
	b, _ := os.ReadFile(filepath.Join(pdir, "pgveil_test.rego"))
	b = append(b, []byte("\ntest_that_fails if {\n\tpgveil.decision.allow with input as in_put(stranger, customers_contact)\n}\n")...)
	if err := os.WriteFile(filepath.Join(pdir, "pgveil_test.rego"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, "check", "--config", cfg)
	if code != 1 {
		t.Fatalf("check = %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"FAIL  rules: public.customers_archive.email is classified but the database has no such column",
		"FAIL  data.pgveil_test.test_that_fails (", "1 failed", "pgveil check: FAILED"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckCompileErrorAndBadInput(t *testing.T) {
	cfg, pdir := writeDemoConfig(t, "", "")
	if err := os.WriteFile(filepath.Join(pdir, "broken.rego"), []byte("package pgveil\n\nx := {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, "check", "--config", cfg)
	if code != 1 || !strings.Contains(out, "broken.rego:4") || !strings.Contains(out, "no control_dsn") {
		t.Fatalf("check = %d:\n%s", code, out)
	}
	if code, _, errOut := runCmd(t, "check"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Errorf("no --config: %d %s", code, errOut)
	}
	code, out, _ = runCmd(t, "check", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 1 || !strings.Contains(out, "no such file") {
		t.Errorf("missing config: %d %s", code, out)
	}
}

func testExplainDemo(t *testing.T, dsn string) {
	cfg, _ := writeDemoConfig(t, dsn, "")
	code, out, errOut := runCmd(t, "explain", "--config", cfg, "--user", "support_agent", "--role", "support_agent",
		"SELECT id, full_name, email, lower(email) AS e, phone FROM customers WHERE id = 1")
	if code != 0 {
		t.Fatalf("explain = %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{`"user": "support_agent"`, `"category": "email"`, "decision: ALLOW",
		"full_name  pass", "email      email      = public.customers.email", "e          redact     derived from public.customers.email",
		"phone      last4"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Roles from the database, a refusal, JSON output.
	code, out, errOut = runCmd(t, "explain", "--config", cfg, "--user", "analyst", "--json",
		"SELECT count(*) FROM customers WHERE email LIKE 'a%'")
	if code != 0 {
		t.Fatalf("explain = %d\n%s\n%s", code, out, errOut)
	}
	var doc struct {
		Input struct {
			Identity struct {
				Roles []string `json:"roles"`
			} `json:"identity"`
		} `json:"input"`
		Decision struct {
			Allow  bool   `json:"allow"`
			Reason string `json:"reason"`
		} `json:"decision"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Decision.Allow || !strings.Contains(doc.Decision.Reason, "public.customers.email (filter)") {
		t.Errorf("decision = %+v", doc.Decision)
	}
	if strings.Join(doc.Input.Identity.Roles, ",") != "analyst,analytics" {
		t.Errorf("roles from pg_auth_members = %v", doc.Input.Identity.Roles)
	}
	// Inference without a WHERE clause: the count of a set-returning
	// function's rows, a UNION or a join against guesses, DISTINCT. The example
	// policy refuses them for analysts on the columns they see masked,
	// except equality on pseudonyms (hash).
	for _, tc := range []struct{ sql, want string }{
		{"SELECT count(*) FROM customers c, generate_series(1, ascii(c.email)) WHERE c.id = 1", "public.customers.email (filter)"},
		{"SELECT full_name FROM customers WHERE id = 1 UNION SELECT 'Anna Nowak'", "public.customers.full_name (group)"},
		{"SELECT count(*) FROM (SELECT DISTINCT birth_date FROM customers) s", "public.customers.birth_date (group)"},
		{"SELECT DISTINCT email FROM customers", ""},
		{"SELECT c.id FROM customers c JOIN (VALUES ('anna@example.com')) v(e) ON c.email = v.e", "public.customers.email (filter)"},
		{"SELECT count(*) FROM customers c JOIN messages m ON m.to_phone = c.phone", ""},
	} {
		code, out, errOut = runCmd(t, "explain", "--config", cfg, "--user", "analyst", "--json", tc.sql)
		if code != 0 {
			t.Fatalf("explain = %d\n%s\n%s", code, out, errOut)
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if refused := !doc.Decision.Allow; refused != (tc.want != "") || !strings.Contains(doc.Decision.Reason, tc.want) {
			t.Errorf("%s: decision = %+v, want refused for %q", tc.sql, doc.Decision, tc.want)
		}
	}
	// The session decision.
	code, out, _ = runCmd(t, "explain", "--config", cfg, "--user", "dpo", "--addr", "203.0.113.9", "--session")
	if code != 0 || !strings.Contains(out, "decision: DENY") || !strings.Contains(out, "internal network") {
		t.Errorf("session explain = %d\n%s", code, out)
	}
}

func TestExplainBadInput(t *testing.T) {
	cfg, _ := writeDemoConfig(t, "", "")
	if code, _, errOut := runCmd(t, "explain", "--config", cfg, "SELECT 1"); code != 2 || !strings.Contains(errOut, "usage") {
		t.Errorf("no --user: %d %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "explain", "--config", "/nonexistent.yaml", "--user", "u", "SELECT 1"); code != 2 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing config: %d %s", code, errOut)
	}
	// Without a database: lineage unknown, said on stderr; still explained.
	code, out, errOut := runCmd(t, "explain", "--config", cfg, "--user", "intern", "SELECT * FROM customers; SELECT 1")
	if code != 0 || !strings.Contains(errOut, "lineage is unknown") || !strings.Contains(out, "statement 2 of 2") {
		t.Errorf("no db: %d\n%s\n%s", code, out, errOut)
	}
}
