package analyze

import (
	"slices"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgveil/pgveil/rules"
)

func analyzeOne(t *testing.T, snap *Snapshot, sql string) *rules.Statement {
	t.Helper()
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	stmts := a.AnalyzeWith(snap, sql)
	if len(stmts) != 1 {
		t.Fatalf("%d statements", len(stmts))
	}
	return stmts[0]
}

// TestSchemaObjects covers the vectors that need objects the demo database
// lacks: views, materialized views, partitions, foreign and temporary
// tables, triggers, user functions, operators and domains.
func TestSchemaObjects(t *testing.T) {
	snap := testSnapshot()
	tests := []struct {
		name   string
		sql    string
		out    []string
		opaque bool
		tables []string
	}{
		{name: "view", sql: "SELECT * FROM customer_contacts",
			out:    []string{"direct customers.id", "direct customers.full_name", "direct customers.email", "derived customers.email"},
			tables: []string{"public.customer_contacts", "public.customers"}},
		{name: "view over view", sql: "SELECT email_lower FROM contacts_de",
			out:    []string{"derived customers.email"},
			tables: []string{"public.contacts_de", "public.customer_contacts", "public.customers"}},
		{name: "view with join", sql: "SELECT email, status FROM ticket_emails",
			out:    []string{"direct customers.email", "direct tickets.status"},
			tables: []string{"public.customers", "public.ticket_emails", "public.tickets"}},
		{name: "aggregate view", sql: "SELECT * FROM country_counts",
			out: []string{"direct customers.country", "none"}},
		{name: "view whole row", sql: "SELECT v FROM customer_contacts v",
			out: []string{"derived customers.id customers.full_name customers.email"}},
		{name: "materialized view", sql: "SELECT email FROM customer_summary",
			out: []string{"direct customers.email"}},
		{name: "view in expression", sql: "SELECT upper(full_name) FROM customer_contacts",
			out: []string{"derived customers.full_name"}},
		{name: "partition reads parent classification", sql: "SELECT to_phone, body FROM messages_2024",
			out:    []string{"direct messages.to_phone", "direct messages.body"},
			tables: []string{"public.messages_2024"}},
		{name: "foreign table", sql: "SELECT email FROM remote_customers",
			out: []string{"direct remote_customers.email"}, opaque: true},
		{name: "temporary table", sql: "SELECT a FROM scratch",
			out: []string{"unknown pg_temp_3.scratch.a"}},
		{name: "table with triggers read", sql: "SELECT note FROM audited",
			out: []string{"direct audited.note"}},
		{name: "table with triggers written", sql: "INSERT INTO audited VALUES (1, 'x')", opaque: true},
		{name: "view calling user function", sql: "SELECT secret FROM secret_view",
			out: []string{"unknown customers.id"}, opaque: true},
		{name: "opaque view other column", sql: "SELECT id FROM secret_view",
			out: []string{"direct customers.id"}, opaque: true},
		{name: "user function", sql: "SELECT get_secret(id) FROM customers",
			out: []string{"unknown customers.id"}, opaque: true},
		{name: "user function qualified", sql: "SELECT public.get_secret(1)",
			out: []string{"unknown"}, opaque: true},
		{name: "pg_catalog qualified builtin", sql: "SELECT pg_catalog.lower(email) FROM customers",
			out: []string{"derived customers.email"}},
		{name: "trusted extension function", sql: "SELECT similarity(email, 'x') FROM customers",
			out: []string{"derived customers.email"}},
		{name: "trusted function", sql: "SELECT pure_helper(email) FROM customers",
			out: []string{"derived customers.email"}},
		{name: "user operator", sql: "SELECT email === 'x' FROM customers",
			out: []string{"unknown customers.email"}, opaque: true},
		{name: "builtin operator qualified", sql: "SELECT email OPERATOR(pg_catalog.=) 'x' FROM customers",
			out: []string{"derived customers.email"}},
		{name: "cast to domain running user code", sql: "SELECT email::checked_email FROM customers",
			out: []string{"unknown customers.email"}, opaque: true},
		{name: "user set-returning function", sql: "SELECT * FROM user_rows()", opaque: true},
		{name: "user procedure", sql: "CALL refresh_all()", opaque: true},
		{name: "user function in DDL", sql: "CREATE INDEX ON customers (get_secret(id))", opaque: true},
		{name: "dblink in view definition", sql: "CREATE VIEW v AS SELECT * FROM dblink('x', 'y') AS t(a text)", opaque: true},
		{name: "update through view", sql: "UPDATE customer_contacts SET full_name = email RETURNING full_name",
			out: []string{"derived customers.email customers.full_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := analyzeOne(t, snap, tt.sql)
			if st.Opaque != tt.opaque {
				t.Errorf("Opaque = %v (%s), want %v", st.Opaque, st.OpaqueReason, tt.opaque)
			}
			if tt.out != nil {
				checkOutputs(t, snap, "outputs", st.Outputs, tt.out)
			}
			if tt.tables != nil && !slices.Equal(st.Tables, tt.tables) {
				t.Errorf("Tables = %v, want %v", st.Tables, tt.tables)
			}
		})
	}
}

func TestUserSRFShapeUnknown(t *testing.T) {
	st := analyzeOne(t, testSnapshot(), "SELECT * FROM user_rows()")
	if st.Outputs != nil || !st.Returns {
		t.Fatalf("Outputs = %+v, Returns = %v; want nil, true", st.Outputs, st.Returns)
	}
}

// TestStoringBuiltinShadowed: a user function with the name of a builtin
// that stores its arguments (set_config, setval) may be the one PostgreSQL
// calls, and it may read tables, so an unqualified call is opaque; a
// pg_catalog-qualified call is the builtin, a server-side copy.
func TestStoringBuiltinShadowed(t *testing.T) {
	s := testSchema()
	s.Functions = append(s.Functions,
		Function{OID: 20100, Schema: "public", Name: "set_config", Language: "plpgsql", Kind: 'f'},
		Function{OID: 20101, Schema: "public", Name: "setval", Language: "plpgsql", Kind: 'f'})
	snap := NewSnapshot(s, mapClassifier(demoRules), Trust{})
	for _, q := range []string{
		"SELECT set_config('app.x', email, false) FROM customers",
		"SELECT setval('s', length(email)) FROM customers",
	} {
		if st := analyzeOne(t, snap, q); !st.Opaque {
			t.Errorf("%s: not opaque next to a user function of the same name", q)
		}
	}
	for _, q := range []string{
		"SELECT pg_catalog.set_config('app.x', email, false) FROM customers",
		"SELECT pg_catalog.setval('s', length(email)) FROM customers",
	} {
		st := analyzeOne(t, snap, q)
		if st.Opaque || !st.ServerCopy {
			t.Errorf("%s: Opaque = %v, ServerCopy = %v; want a server-side copy", q, st.Opaque, st.ServerCopy)
		}
	}
}

// TestKeyProbes: a grouping, DISTINCT, set operation or join key reveals
// which rows hold equal values; combined with something the client chooses
// (a constant, a list of guesses), it answers a condition and is a filter
// use as well. Pure keys stay what they were.
func TestKeyProbes(t *testing.T) {
	snap := testSnapshot()
	tests := []struct {
		sql, column string
		want        rules.Use
	}{
		{"SELECT count(*) FROM customers GROUP BY email", "email", rules.UseGroup},
		// A computed key is not a stored value: from classified data alone
		// a query can compute any constant, hence any guess.
		{"SELECT count(*) FROM customers GROUP BY lower(email)", "email", rules.UseGroup | rules.UseFilter},
		{"SELECT count(*) FROM customers c, (SELECT (k.email IS NOT NULL)::int AS o FROM customers k ORDER BY k.id LIMIT 1) g " +
			"GROUP BY c.email = chr(g.o * 97)", "email", rules.UseGroup | rules.UseFilter},
		{"SELECT count(*) FROM customers c GROUP BY c.email = chr(((NULL IS NULL)::int) * 97)", "email", rules.UseGroup | rules.UseFilter},
		{"SELECT count(*) FROM customers GROUP BY email = 'a@b.c'", "email", rules.UseGroup | rules.UseFilter},
		{"SELECT count(*) FROM customers GROUP BY split_part(email, '@', 2)", "email", rules.UseGroup | rules.UseFilter},
		{"SELECT DISTINCT email FROM customers", "email", rules.UseOutput | rules.UseGroup},
		{"SELECT DISTINCT email LIKE 'a%' FROM customers", "email", rules.UseOutput | rules.UseGroup | rules.UseFilter},
		{"SELECT email FROM customers UNION SELECT billing_email FROM invoices", "email", rules.UseOutput | rules.UseGroup},
		{"SELECT email FROM customers UNION SELECT 'a@b.c'", "email", rules.UseOutput | rules.UseGroup | rules.UseFilter},
		{"SELECT email FROM customers UNION ALL SELECT 'a@b.c'", "email", rules.UseOutput},
		{"SELECT count(*) FROM customers c JOIN messages m ON m.to_phone = c.phone", "phone", rules.UseJoin},
		{"SELECT count(*) FROM customers c JOIN messages m ON m.to_phone = c.phone AND c.email <> ''", "email", rules.UseFilter},
		{"SELECT count(*) FROM customers c JOIN (VALUES ('x')) v(p) ON c.phone = v.p", "phone", rules.UseJoin | rules.UseFilter},
		{"SELECT count(*) OVER (PARTITION BY phone) FROM customers", "phone", rules.UseGroup},
		{"SELECT count(*) OVER (PARTITION BY phone > '+4') FROM customers", "phone", rules.UseGroup | rules.UseFilter},
		// A guess can come from an unclassified column as well as from a
		// constant.
		{"SELECT count(*) FROM customers c JOIN products p ON p.name = c.email", "email", rules.UseJoin | rules.UseFilter},
		{"SELECT count(*) FROM customers c, products p WHERE p.id = 7 GROUP BY c.email = p.name", "email", rules.UseGroup | rules.UseFilter},
		{"SELECT email FROM customers INTERSECT SELECT name FROM products WHERE id = 7", "email", rules.UseOutput | rules.UseGroup | rules.UseFilter},
		// unnest flattens an array element: its row count is the length.
		{"SELECT count(*) FROM customers c, unnest(ARRAY[string_to_array(c.email, NULL)]) u WHERE c.id = 1", "email", rules.UseFilter},
		// Compared with a relation of unknown shape: anything, a guess
		// included.
		{"SELECT count(*) FROM (SELECT email FROM customers) c NATURAL JOIN " +
			"(SELECT (json_populate_record(NULL::customers, '{}')).*) g", "email", rules.UseJoin | rules.UseFilter},
		{"SELECT count(*) FROM (SELECT email FROM customers INTERSECT " +
			"SELECT (json_populate_record(NULL::customers, '{}')).*) s", "email", rules.UseGroup | rules.UseFilter},
		{"SELECT count(*) FROM customers c JOIN no_such_relation g USING (email)", "email", rules.UseJoin | rules.UseFilter},
		// A recursive UNION drops step rows equal to earlier rows, the
		// base row's included; CYCLE compares its columns the same way.
		{"WITH RECURSIVE r(x) AS (SELECT 'a@b.c'::text UNION SELECT email FROM customers) SELECT count(*) FROM r", "email", rules.UseGroup | rules.UseFilter},
		{"WITH RECURSIVE r(x, n) AS (SELECT 'G'::text, 0 UNION SELECT substr(c.full_name, 1, 1), r.n + 1 FROM r, customers c WHERE r.n < 1) " +
			"SELECT count(*) FROM r", "full_name", rules.UseGroup | rules.UseFilter},
		{"WITH RECURSIVE r(x, n) AS (SELECT '+1'::text, 0 UNION ALL SELECT c.phone, r.n + 1 FROM r, customers c WHERE r.n < 1) " +
			"CYCLE x SET is_cycle USING path SELECT count(*) FROM r WHERE NOT is_cycle", "phone", rules.UseGroup | rules.UseFilter},
		// A column of an outer level wins over a relation name (a whole
		// row) of a nearer one.
		{"SELECT count(*) FROM customers c WHERE EXISTS (SELECT 1 FROM (SELECT 1 z) email WHERE email LIKE 'p%')", "email", rules.UseFilter},
		// A VALUES list of classified values only is no probe.
		{"SELECT x FROM customers c, LATERAL (VALUES (c.email)) v(x) GROUP BY v.x", "email", rules.UseOutput | rules.UseGroup},
	}
	for _, tt := range tests {
		st := analyzeOne(t, snap, tt.sql)
		var got rules.Use
		for _, c := range st.Columns {
			if c.Table == "public.customers" && c.Column == tt.column {
				got = c.Uses
			}
		}
		if got != tt.want {
			t.Errorf("%s: customers.%s uses %v, want %v", tt.sql, tt.column, got.Names(), tt.want.Names())
		}
	}
}

// TestOutputProbe: an output that mixes classified data with a value the
// client could choose is a probe (rules.Output.Probe: never hashed); NULL
// literals and classified values alone are not.
func TestOutputProbe(t *testing.T) {
	snap := testSnapshot()
	for _, tt := range []struct {
		sql  string
		want bool
	}{
		{"SELECT lower(email) FROM customers", false},
		{"SELECT email FROM customers UNION ALL SELECT NULL", false},
		{"SELECT email FROM customers UNION ALL SELECT NULL::text", false},
		{"SELECT email FROM customers UNION ALL SELECT chr(((NULL IS NULL)::int) * 97)", true},
		{"SELECT CASE WHEN email IS NULL THEN NULL ELSE email END FROM customers", false},
		{"SELECT x FROM customers c, LATERAL (VALUES (c.email), (c.phone)) v(x)", false},
		{"SELECT email FROM customers UNION ALL SELECT 'guess'", true},
		{"SELECT email FROM customers UNION ALL SELECT name FROM products", true},
		{"SELECT coalesce(email, $1) FROM customers", true},
		{"SELECT (substr(c.email, j.id::int, 1) = chr(k.id::int))::text FROM customers c, customers k, customers j", true},
		{"SELECT v FROM customers c, JSON_TABLE(to_jsonb(c.email), '$' COLUMNS (v text PATH '$.nope' DEFAULT 'guess@x.com' ON EMPTY)) j", true},
	} {
		st := analyzeOne(t, snap, tt.sql)
		if len(st.Outputs) != 1 || st.Outputs[0].Probe != tt.want {
			t.Errorf("%s: Outputs = %+v, want Probe %v", tt.sql, st.Outputs, tt.want)
		}
	}
}

func TestAmbiguousRelationName(t *testing.T) {
	s := testSchema()
	s.Relations = append(s.Relations, rel(19000, "archive", "customers", 'r', c("id", oidInt8), c("email", oidText), c("note", oidText)))
	snap := NewSnapshot(s, mapClassifier(demoRules), Trust{})
	// Unqualified: either schema may be meant (search_path), so both.
	st := analyzeOne(t, snap, "SELECT email FROM customers")
	checkOutputs(t, snap, "unqualified", st.Outputs, []string{"derived archive.customers.email customers.email"})
	// A * cannot tell which relation's columns it expands to.
	if st := analyzeOne(t, snap, "SELECT * FROM customers"); st.Outputs != nil {
		t.Errorf("ambiguous *: Outputs = %+v, want nil", st.Outputs)
	}
	// A column only one of them has.
	st = analyzeOne(t, snap, "SELECT note, phone FROM customers")
	checkOutputs(t, snap, "one-sided", st.Outputs, []string{"direct archive.customers.note", "direct customers.phone"})
	if !slices.Contains(st.Tables, "archive.customers") || !slices.Contains(st.Tables, "public.customers") {
		t.Errorf("Tables = %v", st.Tables)
	}
	// A row type named like both: PostgreSQL takes the first on
	// search_path (the session's temporary schema first), which cannot be
	// told here.
	if st := analyzeOne(t, snap, "SELECT p.* FROM jsonb_populate_record(NULL::customers, '{}') p"); st.Outputs != nil {
		t.Errorf("ambiguous row type: Outputs = %+v, want nil", st.Outputs)
	}
	if st := analyzeOne(t, snap, "SELECT p.* FROM jsonb_populate_record(NULL::public.customers, '{}') p"); len(st.Outputs) != 8 {
		t.Errorf("qualified row type: %d outputs, want 8", len(st.Outputs))
	}
	// Qualified: exactly one.
	st = analyzeOne(t, snap, "SELECT email FROM public.customers")
	checkOutputs(t, snap, "qualified", st.Outputs, []string{"direct customers.email"})

	// Same shapes: the columns merge by position, direct when the
	// categories agree.
	s2 := testSchema()
	s2.Relations = append(s2.Relations, rel(19001, "archive", "products", 'r', c("id", oidInt8), c("sku", oidText), c("name", oidText), c("price_cents", oidInt8), c("category", oidText)))
	snap2 := NewSnapshot(s2, mapClassifier(demoRules), Trust{})
	st = analyzeOne(t, snap2, "SELECT sku FROM products")
	checkOutputs(t, snap2, "same shape", st.Outputs, []string{"direct archive.products.sku products.sku"})
}

func TestUnresolvedRules(t *testing.T) {
	cls := mapClassifier{}
	for k, v := range demoRules {
		cls[k] = v
	}
	cls[rules.ColumnRef{Table: "public.customers", Column: "e_mail"}] = "email"
	cls[rules.ColumnRef{Table: "public.gone", Column: "x"}] = "name"
	snap := NewSnapshot(testSchema(), cls, Trust{})
	want := []rules.ColumnRef{{Table: "public.customers", Column: "e_mail"}, {Table: "public.gone", Column: "x"}}
	if got := snap.Unresolved(); !slices.Equal(got, want) {
		t.Fatalf("Unresolved = %v, want %v", got, want)
	}
	// The table whose rules no longer match: its unclassified columns are
	// suspect (the renamed column is one of them).
	st := analyzeOne(t, snap, "SELECT id, email FROM customers")
	checkOutputs(t, snap, "tainted", st.Outputs, []string{"unknown customers.id", "direct customers.email"})
	// Other tables are unaffected.
	st = analyzeOne(t, snap, "SELECT id FROM products")
	checkOutputs(t, snap, "untainted", st.Outputs, []string{"direct products.id"})
}

func TestViewCycleAndBadDefinition(t *testing.T) {
	s := &Schema{SearchPath: []string{"public"}}
	v1 := rel(1, "public", "v1", 'v', c("a", oidText))
	v1.Definition = "SELECT a FROM v2"
	v2 := rel(2, "public", "v2", 'v', c("a", oidText))
	v2.Definition = "SELECT a FROM v1"
	v3 := rel(3, "public", "v3", 'v', c("a", oidText))
	v3.Definition = "SELEKT nonsense"
	v4 := rel(4, "public", "v4", 'v', c("a", oidText), c("b", oidText))
	v4.Definition = "SELECT 1"
	s.Relations = []Relation{v1, v2, v3, v4}
	snap := NewSnapshot(s, nil, Trust{})
	for _, name := range []string{"v1", "v2", "v3", "v4"} {
		st := analyzeOne(t, snap, "SELECT * FROM "+name)
		if !st.Opaque {
			t.Errorf("%s: not opaque", name)
		}
		for _, o := range st.Outputs {
			if !o.Unknown {
				t.Errorf("%s: output %s not Unknown", name, o.Name)
			}
		}
	}
}

func TestViewSearchPath(t *testing.T) {
	s := &Schema{SearchPath: []string{"pg_catalog", "app"}}
	s.Relations = []Relation{
		rel(1, "app", "people", 'r', c("mail", oidText)),
		rel(2, "other", "people", 'r', c("mail", oidText)),
	}
	v := rel(3, "app", "v", 'v', c("mail", oidText))
	v.Definition = "SELECT people.mail FROM people"
	s.Relations = append(s.Relations, v)
	snap := NewSnapshot(s, mapClassifier{{Table: "app.people", Column: "mail"}: "email"}, Trust{})
	st := analyzeOne(t, snap, "SELECT mail FROM app.v")
	checkOutputs(t, snap, "view", st.Outputs, []string{"direct app.people.mail"})
}

func TestField(t *testing.T) {
	snap := testSnapshot()
	email := rules.ColumnRef{Table: "public.customers", Column: "email"}
	tests := []struct {
		name   string
		oid    uint32
		attnum int16
		want   Field
	}{
		{"computed", 0, 0, Field{}},
		{"table column", 16390, 3, Field{Sources: []rules.ColumnRef{email}, Direct: true, Category: "email", Classified: true}},
		{"unclassified column", 16390, 6, Field{Sources: []rules.ColumnRef{{Table: "public.customers", Column: "country"}}, Direct: true}},
		{"system column", 16390, -1, Field{}},
		{"view computed column", 17000, 4, Field{Sources: []rules.ColumnRef{email}, Category: "email", Classified: true}},
		{"view direct column", 17000, 3, Field{Sources: []rules.ColumnRef{email}, Direct: true, Category: "email", Classified: true}},
		{"partition column", 18000, 3, Field{Sources: []rules.ColumnRef{{Table: "public.messages", Column: "to_phone"}}, Direct: true, Category: "phone", Classified: true}},
		{"unknown relation", 99999, 1, Field{Unknown: true, UnknownRelation: true}},
		{"unknown attribute", 16390, 42, Field{Unknown: true, UnknownRelation: true}},
		{"catalog data", 12010, 5, Field{Sources: []rules.ColumnRef{{Table: "pg_catalog.pg_stat_activity", Column: "query"}}, Unknown: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := snap.Field(tt.oid, tt.attnum)
			if !slices.Equal(got.Sources, tt.want.Sources) || got.Direct != tt.want.Direct || got.Unknown != tt.want.Unknown ||
				got.UnknownRelation != tt.want.UnknownRelation || got.Category != tt.want.Category || got.Classified != tt.want.Classified {
				t.Errorf("Field = %+v, want %+v", got, tt.want)
			}
		})
	}
	// A partition's own classification counts too.
	if cat, ok := snap.Category(rules.ColumnRef{Table: "public.messages_2024", Column: "body"}); !ok || cat != "message_body" {
		t.Errorf("partition category = %q, %v", cat, ok)
	}
}

func TestPolicyColumns(t *testing.T) {
	snap := testSnapshot()
	st := analyzeOne(t, snap, "SELECT email, country FROM customers WHERE phone LIKE $1 ORDER BY email")
	got := snap.PolicyColumns(st)
	want := []PolicyColumn{
		{Table: "public.customers", Column: "email", Category: "email", Uses: []string{"output", "order"}},
		{Table: "public.customers", Column: "phone", Category: "phone", Uses: []string{"filter"}},
	}
	if len(got) != len(want) {
		t.Fatalf("PolicyColumns = %+v", got)
	}
	for i := range want {
		if got[i].Table != want[i].Table || got[i].Column != want[i].Column || got[i].Category != want[i].Category || !slices.Equal(got[i].Uses, want[i].Uses) {
			t.Errorf("column %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestRevision(t *testing.T) {
	a := NewSnapshot(testSchema(), mapClassifier(demoRules), Trust{})
	b := NewSnapshot(testSchema(), mapClassifier(demoRules), Trust{})
	if a.Revision() != b.Revision() {
		t.Errorf("equal content, different revisions")
	}
	cls := mapClassifier{}
	for k, v := range demoRules {
		cls[k] = v
	}
	cls[rules.ColumnRef{Table: "public.customers", Column: "country"}] = "address"
	if d := NewSnapshot(testSchema(), cls, Trust{}); d.Revision() == a.Revision() {
		t.Errorf("classification change kept the revision")
	}
	s := testSchema()
	s.Relations[0].Columns = s.Relations[0].Columns[:2]
	if d := NewSnapshot(s, mapClassifier(demoRules), Trust{}); d.Revision() == a.Revision() {
		t.Errorf("schema change kept the revision")
	}
}

func TestCache(t *testing.T) {
	a, err := New(Config{CacheSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	snap := testSnapshot()
	x := a.AnalyzeWith(snap, "SELECT email FROM customers")
	y := a.AnalyzeWith(snap, "SELECT email FROM customers")
	if &x[0] != &y[0] || x[0] != y[0] {
		t.Errorf("second lookup not served from the cache")
	}
	other := NewSnapshot(testSchema(), nil, Trust{})
	z := a.AnalyzeWith(other, "SELECT email FROM customers")
	if z[0] == x[0] {
		t.Errorf("different snapshot served the same analysis")
	}
	if len(z[0].Outputs) != 1 || len(z[0].Outputs[0].Sources) != 1 {
		t.Errorf("unexpected analysis %+v", z[0].Outputs)
	}
	// Oversized queries bypass the cache.
	b, _ := New(Config{MaxCachedQueryBytes: 10})
	p := b.AnalyzeWith(snap, "SELECT email FROM customers")
	q := b.AnalyzeWith(snap, "SELECT email FROM customers")
	if p[0] == q[0] {
		t.Errorf("oversized query was cached")
	}
	if _, err := New(Config{CacheSize: -1}); err == nil {
		t.Errorf("negative cache size accepted")
	}
}

func TestEmptyAndNilSnapshot(t *testing.T) {
	a, _ := New(Config{})
	for _, sql := range []string{"", "  ", ";", "-- only a comment"} {
		stmts := a.AnalyzeWith(nil, sql)
		if len(stmts) != 1 || stmts[0].Kind != rules.KindEmpty {
			t.Errorf("%q: %+v", sql, stmts)
		}
	}
	// Without a schema every relation is unknown.
	st := a.AnalyzeWith(nil, "SELECT email FROM customers")[0]
	if len(st.Outputs) != 1 || !st.Outputs[0].Unknown {
		t.Errorf("empty snapshot: %+v", st.Outputs)
	}
}

func TestPanicRecovery(t *testing.T) {
	// A tree the parser never produces (an INSERT without a target) makes
	// the analysis panic; the statement must come back opaque.
	r := analyzeRaw(testSnapshot(), &pg.Node{Node: &pg.Node_InsertStmt{InsertStmt: &pg.InsertStmt{}}})
	if !r.st.Opaque || r.st.Kind != rules.KindUnknown || !r.st.Returns {
		t.Fatalf("got %+v", r.st)
	}
}

func TestMultiStatementText(t *testing.T) {
	a, _ := New(Config{})
	stmts := a.AnalyzeWith(testSnapshot(), "SELECT 'a@example.com';\n  UPDATE customers SET phone = '555' WHERE id = $1 ;\nSHOW x")
	if len(stmts) != 3 {
		t.Fatalf("%d statements", len(stmts))
	}
	want := []string{"SELECT $1", "UPDATE customers SET phone = $2 WHERE id = $1", "SHOW x"}
	for i, st := range stmts {
		if st.Normalized != want[i] {
			t.Errorf("statement %d: Normalized = %q, want %q", i, st.Normalized, want[i])
		}
	}
	if stmts[1].Params != 1 || stmts[1].Kind != rules.KindUpdate {
		t.Errorf("statement 2: %+v", stmts[1])
	}
	if stmts[0].Fingerprint == stmts[1].Fingerprint {
		t.Errorf("equal fingerprints")
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT $1"},
		{"SELECT 'x', 1.5, B'101', X'FF', E'\\n', U&'d\\0061t'", "SELECT $1, $2, $3, $4, $5, $6"},
		{"/* bob@example.com */ SELECT email -- and 555\nFROM customers", "SELECT email FROM customers"},
		{"SELECT $2, 'a'", "SELECT $2, $3"},
		{"DO $$BEGIN RAISE NOTICE 'secret'; END$$", "DO $1"},
		{"COPY t TO '/tmp/secret'", "COPY t TO $1"},
		{"PREPARE p AS SELECT 'secret'", "PREPARE p AS SELECT $1"},
		{"ALTER TABLE t ADD COLUMN c text DEFAULT 'secret'", "ALTER TABLE t ADD COLUMN c text DEFAULT $1"},
		{"CREATE ROLE x PASSWORD 'pw'", "CREATE ROLE x PASSWORD $1"},
		{"SELECT\n\t a  ,b", "SELECT a ,b"},
		{"SELECT 'unterminated", ""},
	}
	for _, tt := range tests {
		if got, _ := normalize(tt.in); got != tt.want {
			t.Errorf("normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOpaqueReasonsHaveNoValues(t *testing.T) {
	snap := testSnapshot()
	for _, sql := range []string{
		"SELECT query_to_xml('select ''victim@example.com''', true, false, '')",
		"DO $$BEGIN PERFORM 'victim@example.com'; END$$",
		"SELEC 'victim@example.com'",
		"COPY (SELECT 'victim@example.com') TO PROGRAM 'victim@example.com'",
	} {
		st := analyzeOne(t, snap, sql)
		for _, s := range []string{st.OpaqueReason, st.Summary, st.Normalized} {
			if strings.Contains(s, "victim") {
				t.Errorf("%q: value in %q", sql, s)
			}
		}
	}
}

func TestStatementKinds(t *testing.T) {
	snap := testSnapshot()
	tests := []struct {
		sql  string
		kind rules.Kind
		sum  string
	}{
		{"BEGIN", rules.KindTransaction, "BEGIN"},
		{"COMMIT", rules.KindTransaction, "COMMIT"},
		{"SAVEPOINT a", rules.KindTransaction, "SAVEPOINT"},
		{"ROLLBACK TO SAVEPOINT a", rules.KindTransaction, "ROLLBACK TO"},
		{"SET statement_timeout = 5", rules.KindSet, "SET"},
		{"RESET ALL", rules.KindSet, "RESET"},
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", rules.KindSet, "SET"},
		{"SHOW ALL", rules.KindShow, "SHOW"},
		{"UNLISTEN *", rules.KindListen, "UNLISTEN"},
		{"DEALLOCATE ALL", rules.KindDeallocate, "DEALLOCATE"},
		{"CREATE TABLE t (a int)", rules.KindDDL, "CREATE TABLE t"},
		{"ALTER TABLE customers ADD COLUMN x int", rules.KindDDL, "ALTER TABLE public.customers"},
		{"DROP TABLE t", rules.KindDDL, "DROP"},
		{"GRANT SELECT ON customers TO analyst", rules.KindDDL, "GRANT"},
		{"VACUUM customers", rules.KindUtility, "VACUUM"},
		{"ANALYZE customers", rules.KindUtility, "ANALYZE"},
		{"TRUNCATE messages", rules.KindDelete, "TRUNCATE public.messages"},
		{"LOCK TABLE customers", rules.KindUtility, "LOCK"},
		{"DISCARD ALL", rules.KindUtility, "DISCARD ALL"}, {"DISCARD PLANS", rules.KindUtility, "DISCARD"},
		{"REFRESH MATERIALIZED VIEW customer_summary", rules.KindUtility, "REFRESH MATERIALIZED VIEW public.customer_summary"},
		{"LOAD 'auto_explain'", rules.KindUtility, "LOAD"},
		{"CHECKPOINT", rules.KindUtility, "CHECKPOINT"},
	}
	for _, tt := range tests {
		st := analyzeOne(t, snap, tt.sql)
		if st.Kind != tt.kind || st.Summary != tt.sum {
			t.Errorf("%q: kind %s summary %q, want %s %q", tt.sql, st.Kind, st.Summary, tt.kind, tt.sum)
		}
	}
	st := analyzeOne(t, snap, "TRUNCATE messages")
	if len(st.Columns) != 5 || st.Columns[0].Uses != rules.UseWrite {
		t.Errorf("TRUNCATE columns %+v", st.Columns)
	}
	st = analyzeOne(t, snap, "REFRESH MATERIALIZED VIEW customer_summary")
	if !st.ServerCopy {
		t.Errorf("REFRESH not a server copy")
	}
	st = analyzeOne(t, snap, "LOAD 'auto_explain'")
	if !st.Opaque {
		t.Errorf("LOAD not opaque")
	}
}

// TestConcurrentAnalyze runs the corpora from several goroutines over one
// analyzer and snapshot (run with -race).
func TestConcurrentAnalyze(t *testing.T) {
	snap := testSnapshot()
	a, _ := New(Config{CacheSize: 64})
	entries := append(loadCorpus(t, "testdata/hostile.sql"), loadCorpus(t, "testdata/analytic.sql")...)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range entries {
				e := entries[(i+g*37)%len(entries)]
				for _, st := range a.AnalyzeWith(snap, e.sql) {
					_ = snap.PolicyColumns(st)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
