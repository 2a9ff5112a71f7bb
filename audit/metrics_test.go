package audit

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rec.Code)
	}
	return rec.Body.String()
}

func TestMetrics(t *testing.T) {
	up := &fakeUploader{}
	tr := pipeTracer(t, Config{SpoolDir: t.TempDir()}, up)
	stats := proxy.Stats{Accepted: 10, Refused: 1, Sessions: 9, Active: 3, Cancels: 2, Statements: 120,
		DeniedPolicy: 4, DeniedOpaque: 5, DeniedAudit: 6, DeniedSession: 7, MaskedRows: 80, MaskedValues: 160}
	m, err := NewMetrics(MetricsConfig{Stats: func() proxy.Stats { return stats }, Tracer: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())

	tr.TraceStatement(context.Background(), seqEvent(1))
	denied := seqEvent(2)
	denied.Outcome, denied.Decision = proxy.OutcomeDenied, &rules.Decision{Allow: false}
	tr.TraceStatement(context.Background(), denied)
	if err := tr.ForceFlush(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	m.ObserveStatement(rules.KindSelect, proxy.OutcomeOK, 1500*time.Microsecond)
	m.ObserveStatement(rules.KindSelect, proxy.OutcomeOK, 3*time.Millisecond)
	m.ObserveStatement(rules.KindUpdate, proxy.OutcomeDenied, 200*time.Microsecond)
	m.ObserveStatement(rules.Kind("brand_new"), "surprise", time.Millisecond)

	body := scrape(t, m.Handler())
	for _, want := range []string{
		`pgveil_connections_accepted_total 10`,
		`pgveil_connections_refused_total 1`,
		`pgveil_sessions_total 9`,
		`pgveil_sessions_active 3`,
		`pgveil_cancels_total 2`,
		`pgveil_statements_total 120`,
		`pgveil_refusals_total{cause="policy"} 4`,
		`pgveil_refusals_total{cause="opaque"} 5`,
		`pgveil_refusals_total{cause="audit"} 6`,
		`pgveil_refusals_total{cause="session"} 7`,
		`pgveil_masked_rows_total 80`,
		`pgveil_masked_values_total 160`,
		`pgveil_statement_duration_seconds_count{kind="select",outcome="ok"} 2`,
		`pgveil_statement_duration_seconds_bucket{kind="select",outcome="ok",le="0.0025"} 1`,
		`pgveil_statement_duration_seconds_count{kind="update",outcome="denied"} 1`,
		`pgveil_statement_duration_seconds_count{kind="unknown",outcome="other"} 1`,
		`pgveil_audit_events_total{outcome="ok"} 1`,
		`pgveil_audit_events_total{outcome="denied"} 1`,
		`pgveil_audit_decisions_total{decision="allow"} 1`,
		`pgveil_audit_decisions_total{decision="deny"} 1`,
		`pgveil_audit_spans_total{result="exported"} 2`,
		`pgveil_audit_spans_total{result="dropped"} 0`,
		`pgveil_audit_spans_total{result="spooled"} 0`,
		`pgveil_audit_spans_total{result="replayed"} 0`,
		`pgveil_audit_spool_bytes 0`,
		`pgveil_audit_writable 1`,
		`pgveil_audit_exporter_up 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestObserveStatementAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	m, err := NewMetrics(MetricsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	if n := testing.AllocsPerRun(1000, func() { m.ObserveStatement(rules.KindSelect, proxy.OutcomeOK, time.Millisecond) }); n != 0 {
		t.Errorf("ObserveStatement allocs = %v, want 0", n)
	}
}

func TestMetricsServe(t *testing.T) {
	m, err := NewMetrics(MetricsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	client.CloseIdleConnections()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "go_goroutines") {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
