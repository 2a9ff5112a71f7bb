package discover_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules/demo"
)

// demoTemplate holds the default demo dataset; tests that change it work on
// a copy.
const demoTemplate = "demo_template"

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{}, func(s *pgtest.Server) error {
		ctx := context.Background()
		if err := s.CreateDatabase(ctx, demoTemplate, ""); err != nil {
			return err
		}
		var sql bytes.Buffer
		if err := demo.Generate(demo.Options{}).WriteSQL(&sql); err != nil {
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
