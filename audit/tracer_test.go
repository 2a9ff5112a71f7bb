package audit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

func TestSpanShape(t *testing.T) {
	tr, sr := recorder(t)
	ev := sampleEvent()
	tr.TraceStatement(context.Background(), ev)

	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "SELECT public.customers" {
		t.Errorf("name = %q", s.Name())
	}
	if s.SpanKind() != trace.SpanKindClient {
		t.Errorf("kind = %v", s.SpanKind())
	}
	if !s.StartTime().Equal(ev.Start) || !s.EndTime().Equal(ev.Start.Add(ev.Duration)) {
		t.Errorf("start %v end %v, want %v + %v", s.StartTime(), s.EndTime(), ev.Start, ev.Duration)
	}
	if s.Status().Code != codes.Unset {
		t.Errorf("status = %v", s.Status())
	}
	if s.InstrumentationScope().Name != ScopeName {
		t.Errorf("scope = %q", s.InstrumentationScope().Name)
	}
	a := attrMap(s.Attributes())
	want := map[attribute.Key]any{
		"db.system.name":               "postgresql",
		"db.namespace":                 "app",
		"db.operation.name":            "SELECT",
		"db.collection.name":           "public.customers",
		"db.query.summary":             "SELECT public.customers",
		"db.query.text":                "SELECT id, email, phone FROM customers WHERE id = $1",
		"db.response.returned_rows":    int64(1),
		"server.address":               "db.internal",
		"server.port":                  int64(5432),
		"client.address":               "10.1.2.3",
		"pgveil.event":                 "statement",
		"pgveil.outcome":               "ok",
		"pgveil.identity.user":         "analyst",
		"pgveil.identity.application":  "metabase",
		"pgveil.identity.roles":        []string{"analyst", "readers"},
		"pgveil.identity.tls":          true,
		"pgveil.identity.tls_subject":  "CN=analyst,O=Nimbus",
		"pgveil.decision":              "allow",
		"pgveil.decision.reason":       "analysts get pseudonyms",
		"pgveil.policy.revision":       "rev-7",
		"pgveil.statement.kind":        "select",
		"pgveil.statement.fingerprint": "5e1f0c2d9a7b3c4e",
		"pgveil.protocol":              "extended",
		"pgveil.command_tag":           "SELECT",
		"pgveil.tables":                []string{"public.customers"},
		"pgveil.columns":               []string{"public.customers.email", "public.customers.phone", "public.customers.birth_date"},
		"pgveil.columns.revealed":      []string{"public.customers.phone"},
		"pgveil.columns.masked":        []string{"public.customers.email:hash"},
		"pgveil.columns.filtered":      []string{"public.customers.birth_date"},
		"pgveil.categories":            []string{"email", "phone", "birth_date"},
		"pgveil.categories.revealed":   []string{"phone"},
		"pgveil.subjects":              []string{testPseudonymizer(t).Pseudonym("42")},
		"pgveil.subjects.count":        int64(1),
		"pgveil.subjects.truncated":    false,
		"pgveil.subjects.tables":       []string{"public.customers"},
		"pgveil.subjects.key_id":       testPseudonymizer(t).KeyID(),
	}
	for k, w := range want {
		v, ok := a[k]
		if !ok {
			t.Errorf("attribute %s missing", k)
			continue
		}
		if got := v.AsInterface(); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s = %v, want %v", k, got, w)
		}
	}
	for k := range a {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected attribute %s = %v", k, a[k].Emit())
		}
	}
}

func TestSpanStatusAndRefusals(t *testing.T) {
	tr, sr := recorder(t)

	denied := sampleEvent()
	denied.Decision = &rules.Decision{Allow: false, Reason: "analysts may not export emails", Revision: "rev-8"}
	denied.Outcome, denied.SQLState, denied.RowsReturned = proxy.OutcomeDenied, "42501", 0
	denied.SubjectKeys, denied.SubjectCount = nil, 0
	tr.TraceStatement(context.Background(), denied)

	failed := sampleEvent()
	failed.Outcome, failed.SQLState = proxy.OutcomeError, "22P02"
	tr.TraceStatement(context.Background(), failed)

	auditDown := sampleEvent()
	auditDown.Outcome, auditDown.SQLState, auditDown.Reason = proxy.OutcomeAuditErr, "57P05", ErrUnavailable.Error()
	tr.TraceStatement(context.Background(), auditDown)

	session := &proxy.StatementEvent{
		Identity: &rules.Identity{User: "contractor", Database: "app", ClientAddr: "198.51.100.7"},
		Decision: &rules.Decision{Allow: false, Reason: "contractors connect from the VPN only", Revision: "rev-8"},
		Outcome:  proxy.OutcomeDenied, SQLState: "28000",
	}
	tr.TraceStatement(context.Background(), session)

	canceled := sampleEvent()
	canceled.Outcome = proxy.OutcomeCanceled
	tr.TraceStatement(context.Background(), canceled)

	spans := sr.Ended()
	if len(spans) != 5 {
		t.Fatalf("%d spans", len(spans))
	}
	tests := []struct {
		name, code, errType, status, reason string
		statusCode                          codes.Code
	}{
		{"SELECT public.customers", "42501", "42501", "denied: analysts may not export emails", "analysts may not export emails", codes.Error},
		{"SELECT public.customers", "22P02", "22P02", "SQLSTATE 22P02", "analysts get pseudonyms", codes.Error},
		{"SELECT public.customers", "57P05", "57P05", "refused: the audit trail could not be written", ErrUnavailable.Error(), codes.Error},
		{SessionSpanName, "28000", "28000", "denied: ", "contractors connect from the VPN only", codes.Error},
		{"SELECT public.customers", "", "", "", "analysts get pseudonyms", codes.Unset},
	}
	for i, tt := range tests {
		s := spans[i]
		a := attrMap(s.Attributes())
		if s.Name() != tt.name {
			t.Errorf("%d: name %q, want %q", i, s.Name(), tt.name)
		}
		if s.Status().Code != tt.statusCode || !strings.HasPrefix(s.Status().Description, tt.status) {
			t.Errorf("%d: status %v %q, want %v %q", i, s.Status().Code, s.Status().Description, tt.statusCode, tt.status)
		}
		if got := a["db.response.status_code"].AsString(); got != tt.code {
			t.Errorf("%d: db.response.status_code %q, want %q", i, got, tt.code)
		}
		if got := a["error.type"].AsString(); got != tt.errType {
			t.Errorf("%d: error.type %q, want %q", i, got, tt.errType)
		}
		if got := a[AttrReason].AsString(); got != tt.reason {
			t.Errorf("%d: reason %q, want %q", i, got, tt.reason)
		}
	}
	sa := attrMap(spans[3].Attributes())
	if sa[AttrEvent].AsString() != EventSession || sa[AttrDecision].AsString() != DecisionDeny {
		t.Errorf("session span: event %q decision %q", sa[AttrEvent].AsString(), sa[AttrDecision].AsString())
	}
	if _, ok := sa["db.query.text"]; ok {
		t.Error("session span has a query text")
	}

	c := tr.Events()
	if c.ByOutcome["denied"] != 2 || c.ByOutcome["error"] != 1 || c.ByOutcome["audit_err"] != 1 || c.ByOutcome["canceled"] != 1 || c.Denied != 2 || c.Allowed != 3 {
		t.Errorf("events = %+v", c)
	}
}

func TestSpanWriteCounts(t *testing.T) {
	tr, sr := recorder(t)
	ev := sampleEvent()
	ev.Statement = &rules.Statement{Kind: rules.KindUpdate, Summary: "UPDATE public.customers", Normalized: "UPDATE customers SET email = $1 WHERE id = $2", Tables: []string{"public.customers"}}
	ev.Columns = []proxy.AuditColumn{{ColumnRef: rules.ColumnRef{Table: "public.customers", Column: "email"}, Category: "email", Uses: rules.UseWrite}}
	ev.RowsReturned, ev.RowsAffected, ev.CommandTag = 0, 3, "UPDATE"
	tr.TraceStatement(context.Background(), ev)
	a := attrMap(sr.Ended()[0].Attributes())
	if got := a[AttrRowsAffected].AsInt64(); got != 3 {
		t.Errorf("rows affected = %d", got)
	}
	if _, ok := a["db.response.returned_rows"]; ok {
		t.Error("a write without RETURNING has db.response.returned_rows")
	}
	if got := a[AttrWritten].AsStringSlice(); !slices.Equal(got, []string{"public.customers.email"}) {
		t.Errorf("written = %q", got)
	}
	if _, ok := a[AttrRevealed]; ok {
		t.Error("a column only written is listed as revealed")
	}
}

func TestSpanName(t *testing.T) {
	tests := []struct {
		summary string
		tables  []string
		tag     string
		kind    rules.Kind
		op      string
		coll    string
	}{
		{"SELECT public.customers", []string{"public.customers"}, "SELECT", rules.KindSelect, "SELECT", "public.customers"},
		// The first relation as written, not the first in sorted order.
		{"SELECT public.messages public.customers", []string{"public.customers", "public.messages"}, "", rules.KindSelect, "SELECT", "public.messages"},
		{"CREATE TABLE AS public.t public.customers", []string{"public.customers", "public.t"}, "", rules.KindCreateTableAs, "CREATE TABLE AS", "public.t"},
		{`SELECT public."Order Lines"`, []string{`public."Order Lines"`}, "", rules.KindSelect, "SELECT", `public."Order Lines"`},
		// A table whose name is a prefix of another's.
		{"DELETE public.cust public.customers", []string{"public.cust", "public.customers"}, "", rules.KindDelete, "DELETE", "public.cust"},
		{"SELECT public.customers_archive", []string{"public.customers", "public.customers_archive"}, "", rules.KindSelect, "SELECT", "public.customers_archive"},
		{"BEGIN", nil, "BEGIN", rules.KindTransaction, "BEGIN", ""},
		{"", nil, "COPY", rules.KindCopyTo, "COPY", ""},
		{"", nil, "", rules.KindCopyTo, "COPY_TO", ""},
	}
	for _, tt := range tests {
		op, coll := operationAndCollection(&rules.Statement{Summary: tt.summary, Tables: tt.tables, Kind: tt.kind}, tt.tag)
		if op != tt.op || coll != tt.coll {
			t.Errorf("%q: op %q coll %q, want %q %q", tt.summary, op, coll, tt.op, tt.coll)
		}
	}
}

func TestTraceLinking(t *testing.T) {
	// A parent that is not sampled: the audit provider samples anyway.
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	tr, sr := recorder(t)
	ev := sampleEvent()
	ev.TraceParent = tp
	tr.TraceStatement(context.Background(), ev)
	ev2 := sampleEvent()
	ev2.TraceParent = "00-00000000000000000000000000000000-00f067aa0ba902b7-01" // invalid: new root
	tr.TraceStatement(context.Background(), ev2)

	spans := sr.Ended()
	s := spans[0]
	if got := s.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %s", got)
	}
	if got := s.Parent().SpanID().String(); got != "00f067aa0ba902b7" || !s.Parent().IsRemote() {
		t.Errorf("parent %s remote %v", got, s.Parent().IsRemote())
	}
	if !s.SpanContext().IsSampled() {
		t.Error("audit span not sampled under an unsampled parent")
	}
	if spans[1].Parent().IsValid() {
		t.Error("an invalid traceparent gave the span a parent")
	}
}

func TestParseTraceParent(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		sampled bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true, false},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-extra", true, true}, // future version, extra field
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false, false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false, false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false, false}, // upper case
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false, false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", false, false},
		{"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		sc, ok := parseTraceParent(tt.in)
		if ok != tt.ok || (ok && sc.IsSampled() != tt.sampled) {
			t.Errorf("%q: ok %v sampled %v, want %v %v", tt.in, ok, sc.IsSampled(), tt.ok, tt.sampled)
		}
	}
	if n := testing.AllocsPerRun(100, func() { parseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") }); n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
}

func TestCapsAndTruncation(t *testing.T) {
	tr, sr := recorder(t, WithMaxSubjectKeys(3), WithMaxAttributeLength(64))
	ev := sampleEvent()
	for i := range 10 {
		ev.SubjectKeys = append(ev.SubjectKeys, fmt.Sprint(1000+i))
	}
	ev.SubjectCount = 5000 // the proxy saw more than it kept
	st := *ev.Statement
	st.Normalized = "SELECT " + strings.Repeat("é", 100) + " FROM customers"
	ev.Statement = &st
	ev.Identity.Roles = make([]string, 300)
	for i := range ev.Identity.Roles {
		ev.Identity.Roles[i] = fmt.Sprintf("role%03d", i)
	}
	tr.TraceStatement(context.Background(), ev)
	a := attrMap(sr.Ended()[0].Attributes())

	subj := a[AttrSubjects].AsStringSlice()
	if len(subj) != 3 || a[AttrSubjectCount].AsInt64() != 5000 || !a[AttrSubjectsTruncated].AsBool() {
		t.Errorf("subjects %d, count %d, truncated %v", len(subj), a[AttrSubjectCount].AsInt64(), a[AttrSubjectsTruncated].AsBool())
	}
	q := a["db.query.text"].AsString()
	if len(q) > 64 || !utf8.ValidString(q) || !strings.HasPrefix(q, "SELECT é") {
		t.Errorf("db.query.text = %q (%d bytes)", q, len(q))
	}
	roles := a[AttrRoles].AsStringSlice()
	if len(roles) != maxListLen || roles[maxListLen-1] != "+45 more" {
		t.Errorf("roles: %d, last %q", len(roles), roles[len(roles)-1])
	}
}

func TestPseudonym(t *testing.T) {
	// The formula README.md gives auditors, computed independently.
	m := hmac.New(sha256.New, testSecret)
	m.Write([]byte("pgveil/audit/subject/v1"))
	k := m.Sum(nil)
	m = hmac.New(sha256.New, k)
	m.Write([]byte("42"))
	want := "s_" + hex.EncodeToString(m.Sum(nil))[:32]

	p := testPseudonymizer(t)
	if got := p.Pseudonym("42"); got != want {
		t.Fatalf("Pseudonym(42) = %s, want %s", got, want)
	}
	if p.Pseudonym("43") == want {
		t.Fatal("two subjects share a pseudonym")
	}
	if len(p.KeyID()) != 8 {
		t.Errorf("key id %q", p.KeyID())
	}
	other, _ := NewPseudonymizer([]byte("another-secret-of-16+"))
	if other.Pseudonym("42") == want || other.KeyID() == p.KeyID() {
		t.Error("a different key gives the same pseudonym or key id")
	}
	if _, err := NewPseudonymizer([]byte("short")); err == nil {
		t.Error("a 5-byte key was accepted")
	}
	var buf [64]byte
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { p.appendPseudonym(buf[:0], "42") }); n != 0 {
		t.Errorf("appendPseudonym allocs = %v, want 0", n)
	}
}

func TestNoKeyMeansRandomKey(t *testing.T) {
	a, b := NewTracer(nil), NewTracer(nil)
	if !a.RandomKey() || a.pseud.Pseudonym("42") == b.pseud.Pseudonym("42") {
		t.Error("tracers without a key share pseudonyms")
	}
}

func TestNilEventAndNilProvider(t *testing.T) {
	tr := NewTracer(nil)
	tr.TraceStatement(context.Background(), nil)
	tr.TraceStatement(context.Background(), sampleEvent())
	if err := tr.Ready(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestNoPersonalDataInSpanStrings is a quick in-memory check; the leak
// oracle over exported spans is TestNoPersonalDataExported.
func TestNoPersonalDataInSpanStrings(t *testing.T) {
	tr, sr := recorder(t)
	ev := sampleEvent()
	ev.SubjectKeys = []string{"alice.liddell@example.com", "Bob O'Hara"}
	tr.TraceStatement(context.Background(), ev)
	for _, kv := range sr.Ended()[0].Attributes() {
		s := kv.Value.Emit()
		if strings.Contains(s, "alice") || strings.Contains(s, "Hara") {
			t.Errorf("%s = %s", kv.Key, s)
		}
	}
}

// TestTracerWithoutRecording checks that a provider which does not record
// (a parent-based sampler under an unsampled parent) is not an error.
func TestTracerWithoutRecording(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)) // ParentBased(AlwaysOn)
	defer tp.Shutdown(context.Background())
	tr := NewTracer(tp)
	ev := sampleEvent()
	ev.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	tr.TraceStatement(context.Background(), ev)
	if n := len(sr.Ended()); n != 0 {
		t.Fatalf("%d spans recorded under an unsampled parent with a parent-based sampler", n)
	}
	_ = time.Now
}
