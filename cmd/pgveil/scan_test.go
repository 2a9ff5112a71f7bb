package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgveil/pgveil/rules"
)

func testScanCommand(t *testing.T, fx *gdprFixture) {
	cfg, _, dsn, db := fx.database(t)
	code, stdout, stderr := pgveil(t, "scan", "--check", "--config", cfg)
	if code != 0 || !strings.HasPrefix(stdout, "ok:") {
		t.Fatalf("scan --check on the demo = %d\n%s\n%s", code, stdout, stderr)
	}
	out := filepath.Join(t.TempDir(), "proposed.yaml")
	code, _, stderr = pgveil(t, "scan", "--config", cfg, "--out", out)
	if code != 0 {
		t.Fatalf("scan = %d\n%s", code, stderr)
	}
	if _, err := rules.LoadCatalog(out); err != nil {
		t.Errorf("the proposal is not a valid rules file: %v", err)
	}
	code, stdout, _ = pgveil(t, "scan", "--dsn", dsn, "--sample", "50")
	if code != 0 || !strings.Contains(stdout, "email: email # NEW") {
		t.Errorf("scan without rules = %d\n%s", code, stdout)
	}

	// Schema drift: a new column of national IDs, unclassified.
	if err := fx.srv.Exec(context.Background(), db, `ALTER TABLE public.customers ADD COLUMN ssn text;
		UPDATE public.customers SET ssn = lpad((id % 899 + 1)::text, 3, '0') || '-' || lpad((id % 87 + 13)::text, 2, '0') || '-' || lpad((id * 7 % 9999 + 1)::text, 4, '0');
		ANALYZE public.customers;`); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = pgveil(t, "scan", "--check", "--config", cfg)
	if code != 1 || !strings.Contains(stderr, "public.customers.ssn: national_id") {
		t.Errorf("scan --check after drift = %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}
