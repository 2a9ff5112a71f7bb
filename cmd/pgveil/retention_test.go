package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pgveil/pgveil/rules/retention"
)

func testRetentionCommand(t *testing.T, fx *gdprFixture) {
	cfg, auditFile, dsn, _ := fx.database(t)
	now, _ := time.Parse(time.DateOnly, "2026-11-01")
	old := 0
	for _, m := range fx.data.Messages {
		if m.CreatedAt.Before(now.AddDate(0, 0, -180)) {
			old++
		}
	}

	code, out, errOut := pgveil(t, "retention", "run", "--config", cfg, "--now", "2026-11-01", "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run") || !strings.Contains(out, "public.messages") {
		t.Fatalf("dry run = %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = pgveil(t, "retention", "run", "--config", cfg, "--now", "2026-11-01", "--batch", "100", "--operator", "dpo-alice", "--json")
	if code != 0 {
		t.Fatalf("run = %d\n%s\n%s", code, out, errOut)
	}
	var rep retention.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	batches := 0
	for _, tr := range rep.Tables {
		if tr.Table == "public.messages" && tr.Rows != int64(old) {
			t.Errorf("messages: %d rows, want %d", tr.Rows, old)
		}
		batches += tr.Batches
	}
	var redacted int
	if err := gdprConn(t, dsn).QueryRow(context.Background(), "SELECT count(*) FROM public.messages WHERE body = '[redacted]'").Scan(&redacted); err != nil {
		t.Fatal(err)
	}
	if redacted != old {
		t.Errorf("%d messages redacted, want %d", redacted, old)
	}
	code, out, _ = pgveil(t, "retention", "run", "--config", cfg, "--now", "2026-11-01")
	if code != 0 || !strings.Contains(out, "public.messages") {
		t.Fatalf("second run = %d\n%s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "public.") && !strings.Contains(line, " 0 rows") {
			t.Errorf("second run changed something: %s", line)
		}
	}
	code, _, errOut = pgveil(t, "retention", "run", "--config", cfg, "--table", "public.customers")
	if code != 1 || !strings.Contains(errOut, "no retention clause") {
		t.Errorf("--table without retention = %d: %s", code, errOut)
	}

	summaries, raw := auditSummaries(t, auditFile)
	runs := 0
	for _, s := range summaries {
		if strings.HasPrefix(s, "RETENTION public.") {
			runs++
		}
	}
	if runs != batches || !strings.Contains(strings.Join(summaries, "|"), "RETENTION DRY-RUN public.messages") {
		t.Errorf("audit: %d retention spans for %d batches: %q", runs, batches, summaries)
	}
	if !strings.Contains(raw, "dpo-alice") {
		t.Error("audit spans lack the operator")
	}
	for _, m := range fx.data.Messages[:200] {
		if strings.Contains(raw, m.ToPhone) {
			t.Fatal("the audit file holds a phone number")
		}
	}
}
