package analyze

import (
	"iter"
	"sort"

	"github.com/pgveil/pgveil/rules"
)

// demoRules mirrors rules/demo/rules.yaml: the classification of the demo
// database.
var demoRules = map[rules.ColumnRef]string{
	{Table: "public.customers", Column: "full_name"}:     "name",
	{Table: "public.customers", Column: "email"}:         "email",
	{Table: "public.customers", Column: "phone"}:         "phone",
	{Table: "public.customers", Column: "birth_date"}:    "birth_date",
	{Table: "public.messages", Column: "to_phone"}:       "phone",
	{Table: "public.messages", Column: "body"}:           "message_body",
	{Table: "public.tickets", Column: "subject"}:         "free_text",
	{Table: "public.tickets", Column: "body"}:            "free_text",
	{Table: "public.tickets", Column: "custom_fields"}:   "free_text",
	{Table: "public.login_events", Column: "ip"}:         "ip_address",
	{Table: "public.login_events", Column: "user_agent"}: "user_agent",
	{Table: "public.invoices", Column: "billing_name"}:   "name",
	{Table: "public.invoices", Column: "billing_email"}:  "email",
}

// mapClassifier is a Classifier (and ClassifiedLister) over a map.
type mapClassifier map[rules.ColumnRef]string

func (m mapClassifier) Category(table, column string) (string, bool) {
	c, ok := m[rules.ColumnRef{Table: table, Column: column}]
	return c, ok
}

func (m mapClassifier) Columns() iter.Seq2[rules.ColumnRef, string] {
	return func(yield func(rules.ColumnRef, string) bool) {
		refs := make([]rules.ColumnRef, 0, len(m))
		for r := range m {
			refs = append(refs, r)
		}
		sort.Slice(refs, func(i, j int) bool { return compareRef(refs[i], refs[j]) < 0 })
		for _, r := range refs {
			if !yield(r, m[r]) {
				return
			}
		}
	}
}

// Type OIDs used by the test schema.
const (
	oidBool   = 16
	oidInt8   = 20
	oidInt4   = 23
	oidText   = 25
	oidJSONB  = 3802
	oidInet   = 869
	oidDate   = 1082
	oidTstz   = 1184
	oidName   = 19
	oidAnyArr = 2277
)

type colSpec struct {
	name string
	typ  uint32
}

func rel(oid uint32, schema, name string, kind byte, cols ...colSpec) Relation {
	r := Relation{OID: oid, Schema: schema, Name: name, Kind: kind}
	for i, c := range cols {
		r.Columns = append(r.Columns, Column{Num: int16(i + 1), Name: c.name, TypeOID: c.typ})
	}
	return r
}

func c(name string, typ uint32) colSpec { return colSpec{name, typ} }

// demoRelations are the demo tables (rules/demo), as LoadSchema would
// report them.
func demoRelations() []Relation {
	return []Relation{
		rel(16384, "public", "products", 'r', c("id", oidInt8), c("sku", oidText), c("name", oidText), c("price_cents", oidInt8), c("category", oidText)),
		rel(16390, "public", "customers", 'r', c("id", oidInt8), c("full_name", oidText), c("email", oidText), c("phone", oidText),
			c("birth_date", oidDate), c("country", oidText), c("marketing_opt_in", oidBool), c("created_at", oidTstz)),
		rel(16400, "public", "messages", 'r', c("id", oidInt8), c("customer_id", oidInt8), c("to_phone", oidText), c("body", oidText), c("created_at", oidTstz)),
		rel(16410, "public", "tickets", 'r', c("id", oidInt8), c("customer_id", oidInt8), c("subject", oidText), c("body", oidText),
			c("custom_fields", oidJSONB), c("status", oidText), c("created_at", oidTstz)),
		rel(16420, "public", "login_events", 'r', c("id", oidInt8), c("customer_id", oidInt8), c("ip", oidInet), c("user_agent", oidText),
			c("succeeded", oidBool), c("created_at", oidTstz)),
		rel(16430, "public", "invoices", 'r', c("id", oidInt8), c("customer_id", oidInt8), c("billing_name", oidText), c("billing_email", oidText),
			c("amount_cents", oidInt8), c("currency", oidText), c("issued_at", oidDate)),
		rel(16440, "public", "invoice_lines", 'r', c("id", oidInt8), c("invoice_id", oidInt8), c("product_id", oidInt8), c("quantity", oidInt4),
			c("unit_price_cents", oidInt8)),
	}
}

// catalogRelations are a few system relations, enough for the catalog
// vectors.
func catalogRelations() []Relation {
	return []Relation{
		rel(1259, "pg_catalog", "pg_class", 'r', c("oid", oidInt4), c("relname", oidName), c("relkind", oidText)),
		rel(12000, "pg_catalog", "pg_stats", 'v', c("schemaname", oidName), c("tablename", oidName), c("attname", oidName),
			c("null_frac", oidInt4), c("most_common_vals", oidAnyArr), c("histogram_bounds", oidAnyArr)),
		rel(12010, "pg_catalog", "pg_stat_activity", 'v', c("pid", oidInt4), c("usename", oidName), c("client_addr", oidInet),
			c("state", oidText), c("query", oidText)),
		rel(2619, "pg_catalog", "pg_statistic", 'r', c("starelid", oidInt4), c("staattnum", oidInt4), c("stavalues1", oidAnyArr)),
		rel(12020, "pg_catalog", "pg_tables", 'v', c("schemaname", oidName), c("tablename", oidName), c("tableowner", oidName)),
		rel(12030, "pg_catalog", "pg_prepared_statements", 'v', c("name", oidText), c("statement", oidText)),
	}
}

// testViews are views over the demo tables used by the unit tests (they
// are not part of the demo database).
func testViews() []Relation {
	cc := rel(17000, "public", "customer_contacts", 'v', c("id", oidInt8), c("full_name", oidText), c("email", oidText), c("email_lower", oidText))
	cc.Definition = " SELECT customers.id,\n    customers.full_name,\n    customers.email,\n    lower(customers.email) AS email_lower\n   FROM customers;"
	cn := rel(17010, "public", "country_counts", 'v', c("country", oidText), c("n", oidInt8))
	cn.Definition = " SELECT customers.country,\n    count(*) AS n\n   FROM customers\n  GROUP BY customers.country;"
	te := rel(17020, "public", "ticket_emails", 'v', c("ticket_id", oidInt8), c("email", oidText), c("status", oidText))
	te.Definition = " SELECT t.id AS ticket_id,\n    c.email,\n    t.status\n   FROM tickets t\n     JOIN customers c ON c.id = t.customer_id;"
	de := rel(17030, "public", "contacts_de", 'v', c("id", oidInt8), c("email_lower", oidText))
	de.Definition = " SELECT customer_contacts.id,\n    customer_contacts.email_lower\n   FROM customer_contacts\n  WHERE customer_contacts.id > 0;"
	mv := rel(17040, "public", "customer_summary", 'm', c("id", oidInt8), c("email", oidText), c("country", oidText))
	mv.Definition = " SELECT customers.id,\n    customers.email,\n    customers.country\n   FROM customers;"
	return []Relation{cc, cn, te, de, mv}
}

// extraRelations are objects for the vectors that the demo database lacks:
// a partition, a foreign table, a temporary table, a table with triggers, a
// view calling a user function.
func extraRelations() []Relation {
	part := rel(18000, "public", "messages_2024", 'r', c("id", oidInt8), c("customer_id", oidInt8), c("to_phone", oidText), c("body", oidText), c("created_at", oidTstz))
	part.Parents = []uint32{16400}
	ft := rel(18010, "public", "remote_customers", 'f', c("id", oidInt8), c("email", oidText))
	tmp := rel(18020, "pg_temp_3", "scratch", 'r', c("a", oidText), c("b", oidInt8))
	tmp.Temp = true
	trg := rel(18030, "public", "audited", 'r', c("id", oidInt8), c("note", oidText))
	trg.UserTriggers = true
	uv := rel(18040, "public", "secret_view", 'v', c("id", oidInt8), c("secret", oidText))
	uv.Definition = " SELECT customers.id,\n    get_secret(customers.id) AS secret\n   FROM customers;"
	return []Relation{part, ft, tmp, trg, uv}
}

func demoFunctions() []Function {
	return []Function{
		{OID: 20000, Schema: "public", Name: "get_secret", Language: "plpgsql", Kind: 'f'},
		{OID: 20001, Schema: "public", Name: "refresh_all", Language: "plpgsql", Kind: 'p'},
		{OID: 20002, Schema: "public", Name: "similarity", Language: "c", Kind: 'f', Extension: "pg_trgm"},
		{OID: 20003, Schema: "public", Name: "pure_helper", Language: "sql", Kind: 'f'},
		{OID: 20004, Schema: "public", Name: "user_rows", Language: "plpgsql", Kind: 'f', ReturnsSet: true},
	}
}

// testSchema is the demo schema plus the test views, extra objects and a
// few catalog relations.
func testSchema() *Schema {
	var rels []Relation
	rels = append(rels, demoRelations()...)
	rels = append(rels, catalogRelations()...)
	rels = append(rels, testViews()...)
	rels = append(rels, extraRelations()...)
	return &Schema{
		Relations:  rels,
		Functions:  demoFunctions(),
		Operators:  []Operator{{Schema: "public", Name: "===", FuncSchema: "public", FuncName: "get_secret"}},
		Types:      []Type{{OID: 30000, Schema: "public", Name: "checked_email", Kind: 'd', Checks: []string{"CHECK ((get_secret(length(VALUE)) IS NOT NULL))"}}},
		SearchPath: []string{"pg_catalog", "public"},
	}
}

func testSnapshot() *Snapshot {
	return NewSnapshot(testSchema(), mapClassifier(demoRules), Trust{Functions: []string{"public.pure_helper"}})
}
