package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgveil/pgveil/rules/demo"
	"github.com/pgveil/pgveil/rules/subject"
)

// customerWithInvoices returns a customer with invoices and messages, and
// one without invoices.
func customers(ds *demo.Dataset) (held, free demo.Customer) {
	inv := map[int64]bool{}
	for _, i := range ds.Invoices {
		inv[i.CustomerID] = true
	}
	msg := map[int64]bool{}
	for _, m := range ds.Messages {
		msg[m.CustomerID] = true
	}
	for _, c := range ds.Customers {
		switch {
		case inv[c.ID] && msg[c.ID] && held.ID == 0:
			held = c
		case !inv[c.ID] && msg[c.ID] && free.ID == 0:
			free = c
		}
	}
	return held, free
}

func testSubjectCommand(t *testing.T, fx *gdprFixture) {
	cfg, auditFile, _, _ := fx.database(t)
	held, free := customers(fx.data)
	if held.ID == 0 || free.ID == 0 {
		t.Fatal("no suitable customers")
	}
	id := strconv.FormatInt(held.ID, 10)
	out := filepath.Join(t.TempDir(), "export.json")
	code, stdout, stderr := pgveil(t, "subject", "export", "--config", cfg, "--id", id, "--out", out, "--operator", "dpo-alice")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "exported") {
		t.Fatalf("export = %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Format  string `json:"format"`
		Subject string `json:"subject"`
		Tables  []struct {
			Table string           `json:"table"`
			Rows  []map[string]any `json:"rows"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if doc.Format != subject.ExportFormat || doc.Subject != id || len(doc.Tables) < 4 || !strings.Contains(string(b), held.Email) {
		t.Errorf("export: %s", b[:min(len(b), 400)])
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v", fi.Mode())
	}

	code, stdout, stderr = pgveil(t, "subject", "erase", "--config", cfg, "--id", strconv.FormatInt(free.ID, 10), "--dry-run", "--operator", "dpo-alice")
	if code != 0 || !strings.Contains(stdout, "dry run") || !strings.Contains(stdout, "deleted") || !strings.Contains(stdout, "public.customers") {
		t.Fatalf("erase --dry-run = %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = pgveil(t, "subject", "erase", "--config", cfg, "--id", id, "--operator", "dpo-alice")
	if code != 0 || !strings.Contains(stdout, "kept") || !strings.Contains(stdout, "public.invoices") ||
		!strings.Contains(stdout, "statutory tax records") || !strings.Contains(stdout, "redacted") {
		t.Fatalf("erase = %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("erase:\n%s", stdout)
	code, stdout, stderr = pgveil(t, "subject", "export", "--config", cfg, "--id", id)
	if code != 0 || strings.Contains(stdout, `"public.messages"`) || !strings.Contains(stdout, `"public.invoices"`) ||
		!strings.Contains(stdout, `"full_name":"[redacted]"`) {
		t.Fatalf("export after erase = %d\n%s\n%s", code, stdout, stderr)
	}

	other := strconv.FormatInt(fx.data.Customers[5].ID, 10)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"restrict", "--reason", "accuracy contested"}, "processing restricted"},
		{[]string{"restrict"}, "already restricted since"},
		{[]string{"unrestrict"}, "restriction lifted"},
		{[]string{"unrestrict"}, "was not restricted"},
		{[]string{"rectify", "--set", "email=fixed.address@example.org", "--set", "phone=+4915100000000"}, "rectified email, phone in public.customers (1 rows)"},
	} {
		args := append([]string{"subject", tc.args[0], "--config", cfg, "--id", other, "--operator", "dpo-alice"}, tc.args[1:]...)
		code, stdout, stderr = pgveil(t, args...)
		if code != 0 || !strings.Contains(stdout, tc.want) {
			t.Errorf("pgveil %s = %d\n%s\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	code, _, stderr = pgveil(t, "subject", "export", "--config", cfg, "--id", "999999")
	if code != 1 || !strings.Contains(stderr, "subject not found") {
		t.Errorf("unknown subject = %d: %s", code, stderr)
	}
	code, _, stderr = pgveil(t, "subject", "rectify", "--config", cfg, "--id", other, "--set", "shoe_size=44")
	if code != 1 || !strings.Contains(stderr, "unknown column") {
		t.Errorf("unknown column = %d: %s", code, stderr)
	}
	code, _, stderr = pgveil(t, "subject", "rectify", "--config", cfg, "--id", other, "--set", "birth_date=31.02.1990")
	if code != 1 || strings.Contains(stderr, "31.02.1990") {
		t.Errorf("bad value = %d: %s", code, stderr)
	}

	summaries, raw := auditSummaries(t, auditFile)
	joined := strings.Join(summaries, "|")
	for _, want := range []string{"SUBJECT EXPORT", "SUBJECT ERASE DRY-RUN public.customers", "SUBJECT ERASE public.customers",
		"SUBJECT ERASE public.invoices", "SUBJECT RESTRICT", "SUBJECT UNRESTRICT", "SUBJECT RECTIFY public.customers"} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit trail lacks %q: %q", want, summaries)
		}
	}
	for _, v := range []string{held.Email, held.FullName, "fixed.address@example.org", "+4915100000000"} {
		if strings.Contains(raw, v) {
			t.Errorf("the audit file holds a personal value (%d bytes)", len(v))
		}
	}
}
