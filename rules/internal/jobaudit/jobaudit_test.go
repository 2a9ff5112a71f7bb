package jobaudit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

type recorded struct {
	ready error
	evs   []*proxy.StatementEvent
}

func (r *recorded) Ready() error { return r.ready }
func (r *recorded) TraceStatement(_ context.Context, ev *proxy.StatementEvent) {
	r.evs = append(r.evs, ev)
}

func TestRecordOutcomes(t *testing.T) {
	tr := &recorded{}
	rec := &Recorder{tracer: tr, identity: &rules.Identity{User: "dpo"}, server: "127.0.0.1:5432"}
	col := proxy.AuditColumn{ColumnRef: rules.ColumnRef{Table: "public.t", Column: "c"}, Category: "email", Uses: rules.UseWrite}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		err               error
		outcome, sqlstate string
	}{
		{nil, proxy.OutcomeOK, ""},
		{context.Canceled, proxy.OutcomeCanceled, ""},
		{fmt.Errorf("batch: %w", &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}), proxy.OutcomeError, "40P01"},
		{errors.New("boom"), proxy.OutcomeError, ""},
	} {
		rec.Record(ctx, Event{Kind: rules.KindUpdate, Summary: "RETENTION public.t", Tables: []string{"public.t"},
			Columns: []proxy.AuditColumn{col}, RowsAffected: 3, SubjectKeys: []string{"1", "2"}, Start: time.Now(), Err: tc.err})
		ev := tr.evs[len(tr.evs)-1]
		if ev.Outcome != tc.outcome || ev.SQLState != tc.sqlstate || ev.SubjectCount != 2 || ev.Identity.User != "dpo" ||
			len(ev.Statement.Columns) != 1 || ev.Statement.Columns[0].Uses != rules.UseWrite || ev.RowsAffected != 3 {
			t.Errorf("err %v: %+v %+v", tc.err, ev, ev.Statement)
		}
	}
	tr.ready = errors.New("spool full")
	if err := rec.Ready(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ready = %v", err)
	}
}

func TestSafeError(t *testing.T) {
	bad := &pgconn.PgError{Code: "22007", Message: `invalid input syntax for type date: "31.02.1990"`}
	err := SafeError(fmt.Errorf("x: %w", bad))
	if strings.Contains(err.Error(), "1990") || !strings.Contains(err.Error(), "22007") {
		t.Errorf("SafeError = %v", err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Error("SafeError hides the code from errors.As")
	}
	other := &pgconn.PgError{Code: "42501", Message: "permission denied for table t"}
	if got := SafeError(other); got != error(other) {
		t.Errorf("SafeError changed a non-data error: %v", got)
	}
}
