package proxy

import (
	"context"
	"time"

	"github.com/pgveil/pgveil/rules"
)

// QueryTracer records accesses to personal data. audit.Tracer implements it
// on OpenTelemetry; the proxy never imports the OTel SDK.
//
// The proxy calls TraceStatement once per completed statement that touched
// personal data (read, write, delete, copy) or was refused because of it,
// and once per refused session; never once per row. Calls come from the
// session's relay goroutines and must not block on the network: an
// implementation queues or spools.
type QueryTracer interface {
	// Ready reports whether an access can be recorded right now. When it
	// returns an error (the trail cannot be written and the configured
	// failure mode is deny), the proxy refuses personal-data statements
	// with that error's message and lets the others run.
	Ready() error
	// TraceStatement records one event. ev and everything it points to may
	// be retained by the tracer: the proxy does not reuse them.
	TraceStatement(ctx context.Context, ev *StatementEvent)
}

// Event outcomes.
const (
	OutcomeOK       = "ok"        // the statement completed
	OutcomeError    = "error"     // Postgres answered with an error
	OutcomeDenied   = "denied"    // pgveil refused the statement or session
	OutcomeCanceled = "canceled"  // the client disconnected before completion
	OutcomeAuditErr = "audit_err" // refused because the audit trail is down
)

// StatementEvent describes one statement (or one refused session, when
// Statement is nil) for the audit trail. It holds no data values except the
// raw subject keys, which the tracer must pseudonymise before export.
type StatementEvent struct {
	// Identity is who ran it.
	Identity *rules.Identity
	// Statement is the analysis: kind, summary, normalized text (literals
	// replaced), tables. Nil for a session event.
	Statement *rules.Statement
	// Decision is the policy's verdict, with its revision.
	Decision *rules.Decision
	// Columns are the classified columns the statement touched, each with
	// its category, uses and what the identity got (revealed or the mask).
	Columns []AuditColumn
	// Start and Duration bound the statement, from the proxy receiving it
	// to its completion message.
	Start    time.Time
	Duration time.Duration
	// RowsReturned counts DataRows (and COPY rows) sent to the client;
	// RowsAffected is the count of the CommandComplete tag for writes.
	RowsReturned int64
	RowsAffected int64
	// CommandTag is the completion tag's command word ("SELECT", "UPDATE").
	CommandTag string
	// Outcome is one of the Outcome constants; SQLState is set for errors
	// and refusals.
	Outcome  string
	SQLState string
	// Reason is the refusal reason (no data values).
	Reason string
	// SubjectKeys are distinct raw values of subject-key columns seen in the
	// result (capped); SubjectCount is how many distinct ones there were in
	// all (exact up to a bound, then a lower bound).
	SubjectKeys  []string
	SubjectCount int64
	// SubjectTables are the tables whose subject keys were collected.
	SubjectTables []string
	// TraceParent is the W3C traceparent from a sqlcommenter comment on the
	// statement, if any.
	TraceParent string
	// ServerAddress is the upstream Postgres address.
	ServerAddress string
	// Protocol is "simple" or "extended".
	Protocol string
}

// AuditColumn is one classified column a statement touched.
type AuditColumn struct {
	rules.ColumnRef
	Category string
	Uses     rules.Use
	// Mask is the mask the identity got for it ("pass" when revealed);
	// empty when the column was not returned (only filtered on, written).
	Mask string
}

// StatementObserver receives every statement completion, personal data or
// not, for operations metrics (latency histograms, outcomes). It is called
// on the relay goroutines and must be cheap and non-blocking.
type StatementObserver interface {
	ObserveStatement(kind rules.Kind, outcome string, d time.Duration)
}
