// Package jobaudit records the audit spans of pgveil's stored-data jobs
// (retention, subject requests) through the proxy's audit contract,
// proxy.QueryTracer, so that they land in the same trail as every proxied
// access: one proxy.StatementEvent per action with a synthetic statement
// (kind, summary such as "RETENTION public.messages", tables, columns), the
// operator as the identity, the counts, the raw subject keys (which the
// tracer pseudonymises) and the outcome. Events never carry data values.
//
// A Recorder is safe for concurrent use when its Tracer is.
package jobaudit

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

// ErrUnavailable is returned (wrapped, with the tracer's error) by Ready
// when the audit trail cannot be written: jobs then refuse to act.
var ErrUnavailable = errors.New("audit trail unavailable")

// Recorder turns job actions into audit events.
type Recorder struct {
	tracer   proxy.QueryTracer
	identity *rules.Identity
	server   string
}

// New returns a Recorder that records through tracer as operator, working
// on the database conn is connected to; app names the job in the
// identity's application_name ("pgveil retention").
func New(tracer proxy.QueryTracer, operator, app string, conn *pgx.Conn) *Recorder {
	cfg := conn.Config()
	return &Recorder{
		tracer: tracer,
		identity: &rules.Identity{
			User:            operator,
			Database:        cfg.Database,
			ApplicationName: app,
		},
		server: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))),
	}
}

// Ready returns nil when an action can be recorded now, else an error
// wrapping ErrUnavailable: a job must not act without its audit trail.
func (r *Recorder) Ready() error {
	if err := r.tracer.Ready(); err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	return nil
}

// Event is one action of a job.
type Event struct {
	Kind rules.Kind
	// Summary is the low-cardinality summary: "RETENTION public.messages",
	// "SUBJECT EXPORT", "SUBJECT ERASE public.customers".
	Summary string
	// Text describes the action without values, for db.query.text.
	Text    string
	Tables  []string
	Columns []proxy.AuditColumn
	// CommandTag is the SQL command the action ran ("UPDATE", "DELETE").
	CommandTag   string
	RowsAffected int64
	RowsReturned int64
	// SubjectKeys are the raw subject keys the action touched (the tracer
	// pseudonymises them); SubjectCount the number of distinct ones.
	SubjectKeys   []string
	SubjectCount  int64
	SubjectTables []string
	Start         time.Time
	// Err is the action's error, nil when it succeeded.
	Err error
	// Reason says why the action was refused or what was kept (no values).
	Reason string
}

// Record records e. It never blocks on the network (the tracer queues).
func (r *Recorder) Record(ctx context.Context, e Event) {
	ev := &proxy.StatementEvent{
		Identity: r.identity,
		Statement: &rules.Statement{
			Kind:       e.Kind,
			Summary:    e.Summary,
			Normalized: e.Text,
			Tables:     e.Tables,
			Returns:    e.RowsReturned > 0,
		},
		Columns:       e.Columns,
		Start:         e.Start,
		Duration:      time.Since(e.Start),
		RowsReturned:  e.RowsReturned,
		RowsAffected:  e.RowsAffected,
		CommandTag:    e.CommandTag,
		Outcome:       proxy.OutcomeOK,
		Reason:        e.Reason,
		SubjectKeys:   e.SubjectKeys,
		SubjectCount:  max(e.SubjectCount, int64(len(e.SubjectKeys))),
		SubjectTables: e.SubjectTables,
		ServerAddress: r.server,
	}
	for _, c := range e.Columns {
		ev.Statement.Columns = append(ev.Statement.Columns, rules.ColumnUse{ColumnRef: c.ColumnRef, Uses: c.Uses})
	}
	if e.Err != nil {
		ev.Outcome = proxy.OutcomeError
		var pgErr *pgconn.PgError
		switch {
		case errors.Is(e.Err, context.Canceled), errors.Is(e.Err, context.DeadlineExceeded):
			ev.Outcome = proxy.OutcomeCanceled
		case errors.As(e.Err, &pgErr):
			ev.SQLState = pgErr.Code
		}
	}
	r.tracer.TraceStatement(context.WithoutCancel(ctx), ev)
}

// SafeError returns err with the parts that can echo data values removed:
// PostgreSQL data exceptions (SQLSTATE class 22) quote the offending input
// in their message ("invalid input syntax for type date: \"...\""), so for
// them only the code and a generic text remain. Other server errors keep
// their message (their details, which can hold key values, are never
// included by pgconn's Error). Errors that are not server errors are
// returned as they are.
func SafeError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || !strings.HasPrefix(pgErr.Code, "22") {
		return err
	}
	return &safeError{code: pgErr.Code, err: err}
}

type safeError struct {
	code string
	err  error
}

func (e *safeError) Error() string {
	return "a value is not valid for its column (SQLSTATE " + e.code + ")"
}

// Unwrap keeps errors.As working for callers that branch on the code; they
// must not print the unwrapped error.
func (e *safeError) Unwrap() error { return e.err }
