package audit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pgveil/pgveil/audit/otelcoltest"
	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

// These tests send spans over the network to a real OpenTelemetry
// Collector (audit/otelcol, run by otelcoltest) and read them back from
// the file it writes. Without the collector binary they skip, and fail
// under CI=true.

func e2eTracer(t testing.TB, cfg Config) *Tracer {
	t.Helper()
	cfg.Insecure = true
	cfg.PseudonymKey = testSecret
	tr, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tr.Shutdown(ctx)
	})
	return tr
}

func fingerprints(spans []otelcoltest.Span) []string {
	out := make([]string, 0, len(spans))
	for _, s := range spans {
		out = append(out, s.Str(string(AttrFingerprint)))
	}
	return out
}

func TestE2EExport(t *testing.T) {
	for _, exp := range []string{ExporterOTLPGRPC, ExporterOTLPHTTP} {
		t.Run(exp, func(t *testing.T) {
			col := otelcoltest.Run(t, otelcoltest.Options{})
			endpoint := col.GRPCEndpoint()
			if exp == ExporterOTLPHTTP {
				endpoint = col.HTTPEndpoint()
			}
			tr := e2eTracer(t, Config{Exporter: exp, Endpoint: endpoint, SpoolDir: t.TempDir(), ServiceInstanceID: "pgveil-test-1"})
			ctx := testCtx(t, 30*time.Second)

			read := seqEvent(1)
			// The application's span was not sampled; the audit span is
			// recorded anyway, as its child.
			read.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
			tr.TraceStatement(ctx, read)
			denied := seqEvent(2)
			denied.Decision = &rules.Decision{Allow: false, Reason: "analysts may not read birth dates", Revision: "rev-8"}
			denied.Outcome, denied.SQLState, denied.RowsReturned, denied.SubjectKeys, denied.SubjectCount = proxy.OutcomeDenied, "42501", 0, nil, 0
			tr.TraceStatement(ctx, denied)
			tr.TraceStatement(ctx, &proxy.StatementEvent{
				Identity: &rules.Identity{User: "contractor", Database: "app", ClientAddr: "198.51.100.7"},
				Decision: &rules.Decision{Allow: false, Reason: "contractors connect from the VPN only"},
				Outcome:  proxy.OutcomeDenied, SQLState: "28000",
			})
			if err := tr.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			spans, err := col.WaitSpans(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(spans) != 3 {
				t.Fatalf("%d spans, want 3", len(spans))
			}

			s := spans[0]
			if s.Name != "SELECT public.customers" || s.Kind != 3 || s.Scope != ScopeName {
				t.Errorf("name %q kind %d scope %q", s.Name, s.Kind, s.Scope)
			}
			if s.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || s.ParentSpanID != "00f067aa0ba902b7" {
				t.Errorf("trace %s parent %s: not linked to the application's span", s.TraceID, s.ParentSpanID)
			}
			if s.Flags&1 == 0 {
				t.Errorf("flags %#x: not sampled", s.Flags)
			}
			want := map[string]string{
				"db.system.name":         "postgresql",
				"db.namespace":           "app",
				"db.operation.name":      "SELECT",
				"db.collection.name":     "public.customers",
				"db.query.text":          "SELECT id, email, phone FROM customers WHERE id = $1",
				"pgveil.decision":        "allow",
				"pgveil.policy.revision": "rev-7",
				"pgveil.identity.user":   "analyst",
				"client.address":         "10.1.2.3",
				"pgveil.subjects.key_id": testPseudonymizer(t).KeyID(),
			}
			for k, v := range want {
				if got := s.Str(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if n, _ := s.Int("db.response.returned_rows"); n != 1 {
				t.Errorf("db.response.returned_rows = %d", n)
			}
			if n, _ := s.Int("pgveil.subjects.count"); n != 1 {
				t.Errorf("pgveil.subjects.count = %d", n)
			}
			if got := s.Strings("pgveil.subjects"); len(got) != 1 || got[0] != testPseudonymizer(t).Pseudonym("42") {
				t.Errorf("pgveil.subjects = %q", got)
			}
			if got := s.Strings("pgveil.columns.masked"); len(got) != 1 || got[0] != "public.customers.email:hash" {
				t.Errorf("pgveil.columns.masked = %q", got)
			}
			res := map[string]string{}
			for _, kv := range s.Resource {
				if kv.Value.StringValue != nil {
					res[kv.Key] = *kv.Value.StringValue
				}
			}
			if res["service.name"] != "pgveil" || res["service.instance.id"] != "pgveil-test-1" {
				t.Errorf("resource %v", res)
			}

			d := spans[1]
			if d.Status.Code != 2 || d.Str("db.response.status_code") != "42501" || d.Str("pgveil.decision") != "deny" {
				t.Errorf("denied span: status %+v code %q decision %q", d.Status, d.Str("db.response.status_code"), d.Str("pgveil.decision"))
			}
			if spans[2].Name != SessionSpanName || spans[2].Str("pgveil.event") != "session" {
				t.Errorf("session span %q event %q", spans[2].Name, spans[2].Str("pgveil.event"))
			}
		})
	}
}

// TestE2EOutage streams personal-data statements at 20 per second while
// the collector is stopped for 30 seconds and started again: every span
// arrives, in order, exactly once; Ready never refuses (the spool absorbs
// the outage).
func TestE2EOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 45 s")
	}
	col := otelcoltest.Run(t, otelcoltest.Options{})
	tr := e2eTracer(t, Config{Exporter: ExporterOTLPGRPC, Endpoint: col.GRPCEndpoint(), SpoolDir: t.TempDir()})
	ctx := testCtx(t, 3*time.Minute)

	const rate = 20 // statements per second
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	n := 0
	emit := func(d time.Duration) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			<-tick.C
			if err := tr.Ready(); err != nil {
				t.Fatalf("statement %d refused during the outage: %v (stats %+v)", n, err, tr.Stats())
			}
			tr.TraceStatement(ctx, seqEvent(n))
			n++
		}
	}
	emit(5 * time.Second)
	if err := col.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	emit(30 * time.Second)
	during := tr.Stats()
	t.Logf("after 30 s down: %+v", during)
	if during.SpoolSpans == 0 || !during.ExporterDown {
		t.Errorf("nothing spooled during the outage: %+v", during)
	}
	if err := col.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	t.Logf("collector down for %v", restarted.Sub(stopped).Round(time.Millisecond))
	drained := make(chan time.Duration, 1)
	go func() {
		for tr.Stats().SpoolSpans > 0 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		drained <- time.Since(restarted)
	}()
	emit(5 * time.Second)
	t.Logf("spool drained %v after the collector came back", (<-drained).Round(time.Millisecond))

	if err := tr.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	spans, err := col.WaitSpans(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would show up by now
	if spans, err = col.Spans(); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnceInOrder(t, fingerprints(spans), seqNames(0, n))
	s := tr.Stats()
	t.Logf("%d statements, %d spans received; stats %+v", n, len(spans), s)
	if s.Dropped != 0 || s.Replayed == 0 || s.Exported+s.Replayed != int64(n) {
		t.Errorf("stats %+v", s)
	}
}

// TestE2EDenyTinySpool: with on_failure deny and a small spool, Ready
// refuses once the spool is full while the collector is down, and accepts
// again once the spool has been replayed; nothing traced is lost.
func TestE2EDenyTinySpool(t *testing.T) {
	col := otelcoltest.Run(t, otelcoltest.Options{})
	tr := e2eTracer(t, Config{
		Exporter: ExporterOTLPGRPC, Endpoint: col.GRPCEndpoint(),
		SpoolDir: t.TempDir(), SpoolMaxBytes: 32 << 10, OnFailure: OnFailureDeny, BatchSize: 4,
	})
	ctx := testCtx(t, time.Minute)
	if err := col.Stop(); err != nil {
		t.Fatal(err)
	}
	n, refused := 0, 0
	for i := 0; i < 2000 && refused < 20; i++ {
		if err := tr.Ready(); err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Ready: %v", err)
			}
			refused++ // the proxy answers the client with err's message
		} else {
			tr.TraceStatement(ctx, seqEvent(n))
			n++
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := tr.Stats()
	t.Logf("traced %d, then refused %d; stats %+v", n, refused, s)
	if refused < 20 {
		t.Fatalf("Ready never refused with the spool full (stats %+v)", s)
	}
	if err := col.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for tr.Ready() != nil {
		if ctx.Err() != nil {
			t.Fatalf("Ready still refuses after the collector came back (stats %+v)", tr.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("Ready accepts again %v after the collector came back", time.Since(restarted).Round(time.Millisecond))
	for range 10 {
		tr.TraceStatement(ctx, seqEvent(n))
		n++
	}
	if err := tr.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	spans, err := col.WaitSpans(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnceInOrder(t, fingerprints(spans), seqNames(0, n))
	if s := tr.Stats(); s.Dropped != 0 {
		t.Errorf("dropped %d under deny", s.Dropped)
	}
}
