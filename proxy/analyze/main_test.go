package analyze

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules/demo"
)

// liveDB is the database TestMain loads a small demo dataset and the test
// objects into.
const liveDB = "analyze"

// liveObjects are the objects of the unit tests' schema that the demo
// database lacks (views, an inheritance child, user functions, a trigger, a
// user operator, a domain), created for the integration tests.
const liveObjects = `
CREATE VIEW public.customer_contacts AS SELECT id, full_name, email, lower(email) AS email_lower FROM public.customers;
CREATE VIEW public.country_counts AS SELECT country, count(*) AS n FROM public.customers GROUP BY country;
CREATE VIEW public.ticket_emails AS SELECT t.id AS ticket_id, c.email, t.status FROM public.tickets t JOIN public.customers c ON c.id = t.customer_id;
CREATE VIEW public.contacts_de AS SELECT id, email_lower FROM public.customer_contacts WHERE id > 0;
CREATE MATERIALIZED VIEW public.customer_summary AS SELECT id, email, country FROM public.customers;
CREATE TABLE public.messages_2024 () INHERITS (public.messages);
CREATE FUNCTION public.get_secret(bigint) RETURNS text LANGUAGE plpgsql AS $$BEGIN RETURN (SELECT email FROM public.customers WHERE id = $1); END$$;
CREATE FUNCTION public.pure_helper(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT upper($1)$$;
CREATE FUNCTION public.user_rows() RETURNS SETOF public.customers LANGUAGE sql AS $$SELECT * FROM public.customers$$;
CREATE PROCEDURE public.refresh_all() LANGUAGE plpgsql AS $$BEGIN END$$;
CREATE VIEW public.secret_view AS SELECT id, public.get_secret(id) AS secret FROM public.customers;
CREATE TABLE public.audited (id bigint, note text);
CREATE FUNCTION public.audit_trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER audited_trg BEFORE INSERT ON public.audited FOR EACH ROW EXECUTE FUNCTION public.audit_trg();
CREATE FUNCTION public.eq_secret(text, text) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RETURN $1 = $2; END$$;
CREATE OPERATOR public.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = public.eq_secret);
CREATE DOMAIN public.checked_email AS text CHECK (public.get_secret(length(VALUE)) IS NOT NULL);
ANALYZE;
`

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{}, func(s *pgtest.Server) error {
		ctx := context.Background()
		if err := s.CreateDatabase(ctx, liveDB, ""); err != nil {
			return err
		}
		var sql bytes.Buffer
		d := demo.Generate(demo.Options{Customers: 40, Messages: 80, Tickets: 40, LoginEvents: 80, Invoices: 40, Products: 10})
		if err := d.WriteSQL(&sql); err != nil {
			return err
		}
		if err := s.Exec(ctx, liveDB, sql.String()); err != nil {
			return err
		}
		return s.Exec(ctx, liveDB, liveObjects)
	})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}
