package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules/demo"
)

// demoDB is the database TestMain loads the default dataset into.
const demoDB = "demo"

var loadTime time.Duration

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{}, func(s *pgtest.Server) error {
		ctx := context.Background()
		if err := s.CreateDatabase(ctx, demoDB, ""); err != nil {
			return err
		}
		var sql bytes.Buffer
		if err := demo.Generate(demo.Options{}).WriteSQL(&sql); err != nil {
			return err
		}
		start := time.Now()
		err := s.Exec(ctx, demoDB, sql.String())
		loadTime = time.Since(start)
		return err
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestLoadedRowCounts(t *testing.T) {
	srv := pgtest.Require(t)
	t.Logf("loading the default dataset took %v", loadTime)
	d := demo.Generate(demo.Options{})
	conn := connect(t, srv.SuperDSN(demoDB))
	want := map[string]int{
		"public.customers": len(d.Customers), "public.messages": len(d.Messages), "public.tickets": len(d.Tickets),
		"public.login_events": len(d.LoginEvents), "public.invoices": len(d.Invoices),
		"public.invoice_lines": len(d.InvoiceLines), "public.products": len(d.Products),
	}
	for _, tbl := range demo.Tables() {
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want[tbl] {
			t.Errorf("%s: %d rows, want %d", tbl, n, want[tbl])
		}
	}
	var older, younger int
	err := conn.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE created_at <  $1::timestamptz - interval '180 days'),
	                                                   count(*) FILTER (WHERE created_at >= $1::timestamptz - interval '180 days')
	                                            FROM public.messages`, demo.ReferenceDate).Scan(&older, &younger)
	if err != nil {
		t.Fatal(err)
	}
	if older == 0 || younger == 0 {
		t.Errorf("messages older/younger than 180 days: %d/%d, want both", older, younger)
	}
}

// TestPersonalValuesAreInTheDatabase checks that every value Personal lists
// is what PostgreSQL returns for its row (whole values) or occurs in it
// (identifiers inside free text and jsonb).
func TestPersonalValuesAreInTheDatabase(t *testing.T) {
	srv := pgtest.Require(t)
	conn := connect(t, srv.SuperDSN(demoDB))
	d := demo.Generate(demo.Options{})
	personal := d.Personal()
	db := map[string]map[int64]string{} // "table.column" -> id -> text
	for _, p := range personal {
		key := p.Table + "." + p.Column
		if db[key] != nil {
			continue
		}
		db[key] = map[int64]string{}
		// The simple protocol returns every value in text format, exactly
		// as a client sees it (inet without /32, jsonb as text).
		res, err := conn.PgConn().Exec(context.Background(), fmt.Sprintf("SELECT id, %s FROM %s WHERE %[1]s IS NOT NULL",
			pgx.Identifier{p.Column}.Sanitize(), p.Table)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range res[0].Rows {
			id, err := strconv.ParseInt(string(row[0]), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			db[key][id] = string(row[1])
		}
	}
	missing := 0
	for _, p := range personal {
		got, ok := db[p.Table+"."+p.Column][p.Row]
		whole := p.Column != "custom_fields" && (p.Category == "free_text" || p.Category == "message_body" ||
			!slices.Contains([]string{"public.messages.body", "public.tickets.body", "public.tickets.subject"}, p.Table+"."+p.Column))
		var found bool
		if whole {
			found = ok && got == p.Value
		} else {
			found = ok && strings.Contains(got, p.Value)
		}
		if !found {
			if missing++; missing <= 10 {
				t.Errorf("%s.%s row %d: database has %q, want %q (whole: %v)", p.Table, p.Column, p.Row, got, p.Value, whole)
			}
		}
	}
	t.Logf("checked %d personal values (%d distinct)", len(personal), len(d.PersonalValues()))
}

func TestRoles(t *testing.T) {
	srv := pgtest.Require(t)
	ctx := context.Background()
	for _, r := range demo.Roles() {
		conn := connect(t, srv.DSN(r.Name, r.Password, demoDB))
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM public.customers").Scan(&n); err != nil {
			t.Errorf("%s: %v", r.Name, err)
		}
		var groups []string
		err := conn.QueryRow(ctx, `SELECT coalesce(array_agg(g.rolname ORDER BY g.rolname), '{}')
		                           FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
		                           WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)`).Scan(&groups)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(groups, r.Groups) && !(len(groups) == 0 && len(r.Groups) == 0) {
			t.Errorf("%s is a member of %v, want %v", r.Name, groups, r.Groups)
		}
	}

	app := connect(t, srv.DSN("app_service", "app_service-demo", demoDB))
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var id int64
	if err := tx.QueryRow(ctx, "INSERT INTO public.customers (full_name, email, country) VALUES ('New Customer', 'new@example.com', 'DE') RETURNING id").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id != demo.DefaultCustomers+1 {
		t.Errorf("new customer id = %d, want %d (identity sequence after the loaded rows)", id, demo.DefaultCustomers+1)
	}

	analyst := connect(t, srv.DSN("analyst", "analyst-demo", demoDB))
	if _, err := analyst.Exec(ctx, "DELETE FROM public.messages WHERE id = 1"); err == nil {
		t.Error("analyst may delete messages")
	}
}
