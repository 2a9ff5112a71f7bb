package retention_test

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

// demoTemplate holds a small demo dataset; each test works on a copy.
const demoTemplate = "demo_template"

// demoOptions sizes the dataset: big enough for many batches, small enough
// to copy in a blink.
var demoOptions = demo.Options{Customers: 300, Messages: 3000, Tickets: 300, LoginEvents: 1500, Invoices: 400, Products: 20}

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{}, func(s *pgtest.Server) error {
		ctx := context.Background()
		if err := s.CreateDatabase(ctx, demoTemplate, ""); err != nil {
			return err
		}
		var sql bytes.Buffer
		if err := demo.Generate(demoOptions).WriteSQL(&sql); err != nil {
			return err
		}
		return s.Exec(ctx, demoTemplate, sql.String())
	})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// demoDB returns a fresh copy of the demo database and the control role's
// DSN for it.
func demoDB(t *testing.T) (srv *pgtest.Server, db, dsn string) {
	t.Helper()
	srv = pgtest.Require(t)
	db = srv.TempDatabase(t, demoTemplate)
	return srv, db, srv.DSN(demo.ControlRole, demo.ControlRole+"-demo", db)
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(testCtx(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fakeTracer records audit events; onTrace, if set, runs on each.
type fakeTracer struct {
	mu      sync.Mutex
	events  []*proxy.StatementEvent
	onTrace func(*proxy.StatementEvent)
	ready   error
}

func (f *fakeTracer) Ready() error { return f.ready }

func (f *fakeTracer) TraceStatement(_ context.Context, ev *proxy.StatementEvent) {
	f.mu.Lock()
	f.events = append(f.events, ev)
	hook := f.onTrace
	f.mu.Unlock()
	if hook != nil {
		hook(ev)
	}
}

func (f *fakeTracer) Events() []*proxy.StatementEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*proxy.StatementEvent(nil), f.events...)
}
