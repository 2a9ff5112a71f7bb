// Package demotest is the shared harness of the integration tests of the
// GDPR command packages (retention, subject, discover): a throwaway Postgres
// (proxy/pgtest) holding the demo dataset in a template database, fresh
// copies of it per test, and a Tracer that records audit events.
package demotest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules/demo"
)

// Template is the database holding the demo dataset; tests that change
// data work on a copy (DB).
const Template = "demo_template"

// BatchOptions sizes a dataset for the GDPR job tests (retention, subject):
// big enough for many batches, small enough to copy in a blink.
var BatchOptions = demo.Options{Customers: 300, Messages: 3000, Tickets: 300, LoginEvents: 1500, Invoices: 400, Products: 20}

// Main runs the tests of m against a throwaway Postgres whose Template
// database holds the demo dataset generated with opts, checks for leaked
// goroutines, and returns the exit code for os.Exit.
func Main(m *testing.M, opts demo.Options) int {
	code := pgtest.Main(m, pgtest.Options{}, func(s *pgtest.Server) error {
		ctx := context.Background()
		if err := s.CreateDatabase(ctx, Template, ""); err != nil {
			return err
		}
		var sql bytes.Buffer
		if err := demo.Generate(opts).WriteSQL(&sql); err != nil {
			return err
		}
		return s.Exec(ctx, Template, sql.String())
	})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	return code
}

// DB returns a fresh copy of the demo database, dropped when t ends, and
// the control role's DSN for it.
func DB(t *testing.T) (srv *pgtest.Server, db, dsn string) {
	t.Helper()
	srv = pgtest.Require(t)
	db = srv.TempDatabase(t, Template)
	return srv, db, srv.DSN(demo.ControlRole, demo.ControlRole+"-demo", db)
}

// Connect opens a connection closed when t ends.
func Connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(Ctx(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Ctx is a context for one test: two minutes at most.
func Ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Tracer records audit events. OnTrace, if set, runs on each; ReadyErr is
// what Ready reports (a trail that cannot be written).
type Tracer struct {
	OnTrace  func(*proxy.StatementEvent)
	ReadyErr error

	mu     sync.Mutex
	events []*proxy.StatementEvent
}

// Ready implements proxy.QueryTracer.
func (f *Tracer) Ready() error { return f.ReadyErr }

// TraceStatement implements proxy.QueryTracer.
func (f *Tracer) TraceStatement(_ context.Context, ev *proxy.StatementEvent) {
	f.mu.Lock()
	f.events = append(f.events, ev)
	hook := f.OnTrace
	f.mu.Unlock()
	if hook != nil {
		hook(ev)
	}
}

// Events returns the events recorded so far.
func (f *Tracer) Events() []*proxy.StatementEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*proxy.StatementEvent(nil), f.events...)
}

// Reset forgets the events recorded so far.
func (f *Tracer) Reset() {
	f.mu.Lock()
	f.events = nil
	f.mu.Unlock()
}
