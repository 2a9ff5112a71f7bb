package proxy

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// recordingTracer keeps the events the proxy emits.
type recordingTracer struct {
	mu     sync.Mutex
	events []*StatementEvent
	down   error
}

func (r *recordingTracer) Ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.down
}

func (r *recordingTracer) TraceStatement(_ context.Context, ev *StatementEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recordingTracer) take() []*StatementEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// TestAuditEvents: one event per statement that touches personal data,
// with the identity, decision, columns and masks, row counts, subject keys
// in text form (binary results included) and the trace parent; none for
// statements without personal data; refusals recorded; and with the audit
// trail down, personal-data statements are refused while others run.
func TestAuditEvents(t *testing.T) {
	pg, _ := requireDemo(t)
	tr := &recordingTracer{}
	p := maskingProxy(t, pg, fixedDecider{"analyst": analystDecision}, func(c *Config) { c.Tracer = tr })
	ctx := testCtx(t)
	conn := connect(ctx, t, demoDSN(p.addr, "analyst"))
	tr.take()

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	q := "/*traceparent='" + tp + "'*/ select id, email from customers where id <= 3 order by id"
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		rows, err := conn.Query(ctx, q, mode)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		evs := tr.take()
		if len(evs) != 1 {
			t.Fatalf("mode %v: %d events, want 1", mode, len(evs))
		}
		ev := evs[0]
		if ev.Outcome != OutcomeOK || ev.RowsReturned != 3 || ev.CommandTag != "SELECT" {
			t.Errorf("mode %v: outcome %s rows %d tag %q", mode, ev.Outcome, ev.RowsReturned, ev.CommandTag)
		}
		if ev.Identity.User != "analyst" || ev.Decision == nil || ev.Decision.Revision != "test" {
			t.Errorf("mode %v: identity/decision %+v %+v", mode, ev.Identity, ev.Decision)
		}
		keys := slices.Clone(ev.SubjectKeys)
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"1", "2", "3"}) || ev.SubjectCount != 3 {
			t.Errorf("mode %v: subject keys %q count %d, want 1 2 3 in text form", mode, ev.SubjectKeys, ev.SubjectCount)
		}
		if ev.TraceParent != tp {
			t.Errorf("mode %v: traceparent %q", mode, ev.TraceParent)
		}
		var masked bool
		for _, c := range ev.Columns {
			if c.Column == "email" && c.Mask == "hash" {
				masked = true
			}
		}
		if !masked {
			t.Errorf("mode %v: columns %+v: want email with mask hash", mode, ev.Columns)
		}
	}
	// No personal data, no event.
	if _, err := conn.Exec(ctx, "select count(*) from products"); err != nil {
		t.Fatal(err)
	}
	if evs := tr.take(); len(evs) != 0 {
		t.Errorf("statement without personal data recorded: %+v", evs[0].Statement.Summary)
	}
	// A refusal is recorded.
	conn.Exec(ctx, "do $$ begin perform 1; end $$")
	evs := tr.take()
	if len(evs) != 1 || evs[0].Outcome != OutcomeDenied || evs[0].SQLState != codeInsufficientPriv {
		t.Errorf("refusal events: %+v", evs)
	}
	// The trail is down: personal data is refused, the rest runs.
	tr.mu.Lock()
	tr.down = errors.New("the audit trail cannot be written; personal data is unavailable until it recovers")
	tr.mu.Unlock()
	_, err := conn.Exec(ctx, "select email from customers limit 1")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != codeAuditUnavailable {
		t.Errorf("with the trail down: %v, want SQLSTATE %s", err, codeAuditUnavailable)
	}
	if _, err := conn.Exec(ctx, "select count(*) from products"); err != nil {
		t.Errorf("statement without personal data refused while the trail is down: %v", err)
	}
	if evs := tr.take(); len(evs) != 1 || evs[0].Outcome != OutcomeAuditErr {
		t.Errorf("audit-down refusal events: %d", len(evs))
	}
}

// TestAuditEventsUnmaskedAndInterrupted: an identity that sees everything
// gets the subjects of the rows it read in its record too, and a read cut
// off by the client's disconnect is recorded (canceled, with the rows
// relayed so far) rather than not at all (found in review).
func TestAuditEventsUnmaskedAndInterrupted(t *testing.T) {
	pg, _ := requireDemo(t)
	tr := &recordingTracer{}
	p := maskingProxy(t, pg, fixedDecider{"dpo": revealAllDecision, "analyst": analystDecision}, func(c *Config) { c.Tracer = tr })
	ctx := testCtx(t)
	dpo := connect(ctx, t, demoDSN(p.addr, "dpo"))
	tr.take()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		rows, err := dpo.Query(ctx, "select id, email from customers where id <= 3 order by id", mode)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		evs := tr.take()
		if len(evs) != 1 {
			t.Fatalf("mode %v: %d events", mode, len(evs))
		}
		keys := slices.Clone(evs[0].SubjectKeys)
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"1", "2", "3"}) {
			t.Errorf("mode %v: unmasked identity's subject keys %q, want 1 2 3", mode, evs[0].SubjectKeys)
		}
	}

	conn, fe, _ := hijackedRecording(ctx, t, demoDSN(p.addr, "analyst"))
	tr.take()
	fe.Send(&pgproto3.Query{String: "select c.id, c.email from customers c cross join generate_series(1, 200) g"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	for rows := 0; rows < 3; {
		m, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(*pgproto3.DataRow); ok {
			rows++
		}
	}
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	var evs []*StatementEvent
	for time.Now().Before(deadline) && len(evs) == 0 {
		time.Sleep(20 * time.Millisecond)
		evs = tr.take()
	}
	if len(evs) != 1 || evs[0].Outcome != OutcomeCanceled || evs[0].RowsReturned < 3 {
		var got []string
		for _, ev := range evs {
			got = append(got, ev.Outcome)
		}
		t.Fatalf("interrupted read: events %v, want one canceled with the rows relayed", got)
	}
}
