package storedmask_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/demo"
	"github.com/pgveil/pgveil/rules/internal/dbschema"
	"github.com/pgveil/pgveil/rules/internal/storedmask"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{}, nil)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// corpus holds values of every type the SQL forms cover, including the edge
// cases: short and empty text, non-ASCII, IPv4 and IPv6 with and without
// prefixes, IPv4-mapped IPv6, infinities, BC dates, NULLs.
const corpus = `
CREATE TABLE v (
	id serial PRIMARY KEY,
	t text, tn text NOT NULL DEFAULT 'x', vc varchar(6), vcn varchar(20) NOT NULL DEFAULT 'x',
	i inet, c cidr, d date, dn date NOT NULL DEFAULT '2000-01-01', ts timestamp, tz timestamptz,
	n numeric, j jsonb, b boolean);
INSERT INTO v (t, vc, i, c, d, ts, tz, n, j, b) VALUES
	('+1 555 123 4567', 'abcdef', '192.168.10.77', '10.1.2.0/24', '1985-07-14', '1985-07-14 13:14:15', '1985-07-14 23:30:00+02', 12.5, '{"a": 1}', true),
	('1234', 'abc', '10.1.2.3/16', '10.0.0.0/8', 'infinity', '-infinity', 'infinity', 0, '[]', false),
	('12345', '', '2001:db8:1:2:3:4:5:6', '2001:db8::/32', '0044-03-15 BC', '0044-03-15 13:00 BC', '2000-01-01 00:00:00+00', -1, 'null', NULL),
	('', 'ü', '::ffff:1.2.3.4', '2001:db8:abcd:1200::/56', '2000-01-01', '2000-01-01', '1999-12-31 23:59:59-05', NULL, NULL, NULL),
	('Jürgen Müller', 'Ärger', '1.2.3.4/32', '1.2.3.4/32', '2024-02-29', '2024-02-29 23:59:59.999999', '2024-02-29 23:59:59.999999+00', NULL, NULL, NULL),
	('***********4567', '******', '2001:db8::/48', '192.168.0.0/16', NULL, NULL, NULL, NULL, NULL, NULL),
	(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
`

// TestSQLEqualsGo proves every SQL form equal to the Go mask (which is the
// proxy's) on the corpus and on every phone number of the demo dataset, and
// every rewrite idempotent.
func TestSQLEqualsGo(t *testing.T) {
	srv := pgtest.Require(t)
	db := srv.TempDatabase(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Exec(ctx, db, corpus); err != nil {
		t.Fatal(err)
	}
	var phones []string
	for _, m := range demo.Generate(demo.Options{}).Messages {
		phones = append(phones, m.ToPhone)
	}
	conn, err := pgx.Connect(ctx, srv.SuperDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "INSERT INTO v (t) SELECT unnest($1::text[])", phones); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SET TimeZone = 'Europe/Berlin'"); err != nil { // the SQL forms must not depend on it
		t.Fatal(err)
	}
	schema, err := dbschema.Load(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	tbl, _ := schema.Table("public.v")
	cases := []struct {
		mask    string
		columns []string
	}{
		{"last4", []string{"t", "tn", "vc", "vcn"}},
		{"partial:2", []string{"t", "vc"}},
		{"partial:6", []string{"t"}},
		{"null", []string{"t", "tn", "i", "d", "dn", "n", "j", "b"}},
		{"erase", []string{"t", "tn", "vc", "vcn", "i", "c", "d", "dn", "ts", "tz", "n", "j", "b"}},
		{"ip_prefix", []string{"i", "c"}},
		{"year", []string{"d", "dn", "ts", "tz"}},
	}
	checked := 0
	for _, tc := range cases {
		m, err := rules.ParseMask(tc.mask)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range tc.columns {
			col, ok := tbl.Column(name)
			if !ok {
				t.Fatalf("no column %s", name)
			}
			rw, err := storedmask.New(m, "public.v", col)
			if err != nil {
				t.Fatalf("%s on %s: %v", tc.mask, name, err)
			}
			if !rw.HasSQL() {
				t.Errorf("%s on %s (%s) has no SQL form", tc.mask, name, col.Type)
				continue
			}
			ref := "v." + dbschema.Ident(name)
			expr := rw.SQL(ref)
			again := rw.SQL("(" + expr + ")")
			q := "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'"
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
			rows, err := tx.Query(ctx, fmt.Sprintf("SELECT id, %s::text, (%s)::text, (%s) IS NOT DISTINCT FROM (%s) FROM v ORDER BY id", ref, expr, again, expr))
			if err != nil {
				t.Fatalf("%s on %s: %v\n%s", tc.mask, name, err, expr)
			}
			for rows.Next() {
				var id int
				var in, sqlOut *string
				var idem bool
				if err := rows.Scan(&id, &in, &sqlOut, &idem); err != nil {
					t.Fatal(err)
				}
				goOut := rw.Apply(in)
				if show(goOut) != show(sqlOut) {
					t.Errorf("%s on %s (%s), row %d: SQL %s, Go %s", tc.mask, name, col.Type, id, show(sqlOut), show(goOut))
				}
				if !idem {
					t.Errorf("%s on %s, row %d: not idempotent", tc.mask, name, id)
				}
				if col.NotNull && sqlOut == nil {
					t.Errorf("%s on NOT NULL %s gave NULL", tc.mask, name)
				}
				checked++
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			_ = tx.Rollback(ctx)
		}
	}
	t.Logf("%d values checked", checked)
}

func show(s *string) string {
	if s == nil {
		return "NULL"
	}
	return fmt.Sprintf("%q", *s)
}

func TestUnsupported(t *testing.T) {
	text := &dbschema.Column{Name: "c", TypeOID: 25, TypeMod: -1, Type: "text", BaseType: "text"}
	unknownNotNull := &dbschema.Column{Name: "c", TypeOID: 600, TypeMod: -1, Type: "point", BaseType: "point", NotNull: true}
	generated := &dbschema.Column{Name: "c", TypeOID: 25, TypeMod: -1, Type: "text", Generated: true}
	for _, tc := range []struct {
		mask string
		col  *dbschema.Column
	}{
		{"hash", text}, {"pass", text}, {"erase", unknownNotNull}, {"last4", generated},
	} {
		m, _ := rules.ParseMask(tc.mask)
		if _, err := storedmask.New(m, "public.t", tc.col); !errors.Is(err, storedmask.ErrUnsupported) {
			t.Errorf("%s on %s: err %v, want ErrUnsupported", tc.mask, tc.col.Type, err)
		}
	}
	m, _ := rules.ParseMask("email")
	rw, err := storedmask.New(m, "public.t", text)
	if err != nil {
		t.Fatal(err)
	}
	if rw.HasSQL() {
		t.Error("email has an SQL form")
	}
	in := "anna@example.com"
	if got := rw.Apply(&in); got == nil || *got != "a***@example.com" {
		t.Errorf("email: %v", got)
	}
	bad := "nope"
	if got := rw.Apply(&bad); got != nil {
		t.Errorf("email of a non-address in a nullable column: %v, want NULL", *got)
	}
}
