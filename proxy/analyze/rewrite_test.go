package analyze

import (
	"errors"
	"testing"
)

func TestRewrite(t *testing.T) {
	filters := map[string]string{"public.customers": "NOT restricted", "public.messages": "created_at > now() - interval '1 year'"}
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT email FROM products", "SELECT email FROM products"},
		{"SELECT email FROM customers WHERE id = $1",
			"SELECT email FROM (SELECT * FROM customers WHERE NOT restricted) customers WHERE id = $1"},
		{"SELECT c.email FROM public.customers AS c",
			"SELECT c.email FROM (SELECT * FROM public.customers WHERE NOT restricted) c"},
		{"SELECT x FROM customers c(a, b, x)",
			"SELECT x FROM (SELECT * FROM customers WHERE NOT restricted) c(a, b, x)"},
		{"SELECT m.body FROM messages m JOIN customers c ON c.id = m.customer_id",
			"SELECT m.body FROM (SELECT * FROM messages WHERE created_at > (now() - '1 year'::interval)) m JOIN (SELECT * FROM customers WHERE NOT restricted) c ON c.id = m.customer_id"},
		{"SELECT (SELECT count(*) FROM customers) FROM products",
			"SELECT (SELECT count(*) FROM (SELECT * FROM customers WHERE NOT restricted) customers) FROM products"},
		{"WITH x AS (SELECT * FROM customers) SELECT * FROM x",
			"WITH x AS (SELECT * FROM (SELECT * FROM customers WHERE NOT restricted) customers) SELECT * FROM x"},
		{"WITH customers AS (SELECT 1 AS id) SELECT * FROM customers",
			"WITH customers AS (SELECT 1 AS id) SELECT * FROM customers"},
		{"WITH customers AS (SELECT * FROM customers) SELECT * FROM customers",
			"WITH customers AS (SELECT * FROM (SELECT * FROM customers WHERE NOT restricted) customers) SELECT * FROM customers"},
		{"SELECT * FROM products p, LATERAL (SELECT email FROM customers WHERE id = p.id) l",
			"SELECT * FROM products p, LATERAL (SELECT email FROM (SELECT * FROM customers WHERE NOT restricted) customers WHERE id = p.id) l"},
		{"SELECT email FROM customers UNION SELECT billing_email FROM invoices",
			"SELECT email FROM (SELECT * FROM customers WHERE NOT restricted) customers UNION SELECT billing_email FROM invoices"},
		{"UPDATE customers SET phone = NULL WHERE id = 1",
			"UPDATE customers SET phone = NULL WHERE id = 1 AND EXISTS (SELECT 1 FROM customers pgveil_rf WHERE pgveil_rf.ctid = customers.ctid AND pgveil_rf.tableoid = customers.tableoid AND NOT restricted)"},
		{"DELETE FROM customers c",
			"DELETE FROM customers c WHERE EXISTS (SELECT 1 FROM customers pgveil_rf WHERE pgveil_rf.ctid = c.ctid AND pgveil_rf.tableoid = c.tableoid AND NOT restricted)"},
		{"UPDATE tickets t SET subject = c.email FROM customers c WHERE c.id = t.customer_id",
			"UPDATE tickets t SET subject = c.email FROM (SELECT * FROM customers WHERE NOT restricted) c WHERE c.id = t.customer_id"},
		{"COPY customers (id, email) TO STDOUT",
			"COPY (SELECT id, email FROM customers WHERE NOT restricted) TO STDOUT"},
		{"INSERT INTO tickets (subject) SELECT email FROM customers",
			"INSERT INTO tickets (subject) SELECT email FROM (SELECT * FROM customers WHERE NOT restricted) customers"},
		{"INSERT INTO customers (email) VALUES ('x')", "INSERT INTO customers (email) VALUES ('x')"},
		{"EXPLAIN ANALYZE SELECT * FROM customers",
			"EXPLAIN (ANALYZE) SELECT * FROM (SELECT * FROM customers WHERE NOT restricted) customers"},
		{"PREPARE p AS SELECT * FROM customers",
			"PREPARE p AS SELECT * FROM (SELECT * FROM customers WHERE NOT restricted) customers"},
	}
	for _, tt := range tests {
		got, err := Rewrite(tt.in, filters)
		if err != nil {
			t.Errorf("Rewrite(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Rewrite(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestRewriteRefuses(t *testing.T) {
	filters := map[string]string{"public.customers": "NOT restricted"}
	for _, sql := range []string{
		"SELECT * FROM customers TABLESAMPLE SYSTEM (10)",
		"TRUNCATE customers",
		"MERGE INTO customers c USING products p ON p.id = c.id WHEN MATCHED THEN DELETE",
		"INSERT INTO customers (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET email = 'x'",
		"SELEC 1",
		// A CTE named like the target: the target is still the table,
		// and the CTE would be what the filter's subquery reads.
		"WITH customers AS (SELECT 1) UPDATE customers SET email = email WHERE id = 2 RETURNING email",
		"WITH customers AS (SELECT 1) DELETE FROM customers WHERE id = 2 RETURNING email",
		"WITH customers AS (SELECT 1) INSERT INTO customers (id) VALUES (2) ON CONFLICT (id) DO UPDATE SET email = customers.email RETURNING email",
		"WITH customers AS (SELECT 1) MERGE INTO customers c USING (SELECT 2 AS id) s ON c.id = s.id WHEN MATCHED THEN UPDATE SET email = c.email",
	} {
		if _, err := Rewrite(sql, filters); !errors.Is(err, ErrRewrite) {
			t.Errorf("Rewrite(%q) = %v, want ErrRewrite", sql, err)
		}
	}
	for _, pred := range []string{"true; DROP TABLE customers", "true ORDER BY 1", "true UNION SELECT 1", "", "true LIMIT 1"} {
		if _, err := Rewrite("SELECT 1 FROM customers", map[string]string{"public.customers": pred}); !errors.Is(err, ErrRewrite) {
			t.Errorf("predicate %q accepted: %v", pred, err)
		}
	}
	if _, err := Rewrite("SELECT 1", map[string]string{"customers": "true"}); !errors.Is(err, ErrRewrite) {
		t.Errorf("unqualified filter key accepted")
	}
	// With a snapshot, views over filtered tables are refused.
	snap := testSnapshot()
	for _, sql := range []string{"SELECT * FROM customer_contacts", "SELECT * FROM contacts_de", "SELECT email FROM customer_summary"} {
		if _, err := RewriteWith(snap, sql, filters); !errors.Is(err, ErrRewrite) {
			t.Errorf("RewriteWith(%q) = %v, want ErrRewrite", sql, err)
		}
	}
	if got, err := RewriteWith(snap, "SELECT * FROM products", filters); err != nil || got != "SELECT * FROM products" {
		t.Errorf("RewriteWith(products) = %q, %v", got, err)
	}
	// A partition (or inheritance child) gets its parent's filter.
	got, err := RewriteWith(snap, "SELECT body FROM messages_2024 WHERE id = 1", map[string]string{"public.messages": "NOT restricted"})
	if want := "SELECT body FROM (SELECT * FROM messages_2024 WHERE NOT restricted) messages_2024 WHERE id = 1"; err != nil || got != want {
		t.Errorf("partition: %q, %v; want %q", got, err, want)
	}
}
