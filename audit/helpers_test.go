package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

// testSecret keys pseudonyms in tests.
var testSecret = []byte("0123456789abcdef-test-secret")

func testPseudonymizer(t testing.TB) *Pseudonymizer {
	t.Helper()
	p, err := NewPseudonymizer(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sampleEvent is a 1-row masked read of one customer.
func sampleEvent() *proxy.StatementEvent {
	return &proxy.StatementEvent{
		Identity: &rules.Identity{
			User: "analyst", Database: "app", ApplicationName: "metabase", ClientAddr: "10.1.2.3",
			TLS:   rules.TLSInfo{Enabled: true, Subject: "CN=analyst,O=Nimbus"},
			Roles: []string{"analyst", "readers"},
		},
		Statement: &rules.Statement{
			Kind:        rules.KindSelect,
			Summary:     "SELECT public.customers",
			Normalized:  "SELECT id, email, phone FROM customers WHERE id = $1",
			Fingerprint: "5e1f0c2d9a7b3c4e",
			Tables:      []string{"public.customers"},
			Returns:     true,
		},
		Decision: &rules.Decision{Allow: true, Reason: "analysts get pseudonyms", Revision: "rev-7"},
		Columns: []proxy.AuditColumn{
			{ColumnRef: rules.ColumnRef{Table: "public.customers", Column: "email"}, Category: "email", Uses: rules.UseOutput, Mask: "hash"},
			{ColumnRef: rules.ColumnRef{Table: "public.customers", Column: "phone"}, Category: "phone", Uses: rules.UseOutput, Mask: "pass"},
			{ColumnRef: rules.ColumnRef{Table: "public.customers", Column: "birth_date"}, Category: "birth_date", Uses: rules.UseFilter},
		},
		Start:         time.Unix(1_700_000_000, 0),
		Duration:      3 * time.Millisecond,
		RowsReturned:  1,
		CommandTag:    "SELECT",
		Outcome:       proxy.OutcomeOK,
		SubjectKeys:   []string{"42"},
		SubjectCount:  1,
		SubjectTables: []string{"public.customers"},
		ServerAddress: "db.internal:5432",
		Protocol:      "extended",
	}
}

// seqEvent is sampleEvent numbered n (pgveil.statement.fingerprint holds
// the number, so order and uniqueness can be checked downstream).
func seqEvent(n int) *proxy.StatementEvent {
	ev := sampleEvent()
	st := *ev.Statement
	st.Fingerprint = fmt.Sprintf("seq-%06d", n)
	ev.Statement = &st
	ev.Start = time.Now()
	return ev
}

// recorder returns a Tracer over an SDK provider with a span recorder.
func recorder(t testing.TB, opts ...Option) (*Tracer, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return NewTracer(tp, append([]Option{WithPseudonymizer(testPseudonymizer(t))}, opts...)...), sr
}

func attrMap(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
