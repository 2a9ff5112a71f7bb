package rules

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// designRules is the example of DESIGN.md, "Rules".
const designRules = `
unclassified: allow            # allow | mask: what a column that no rule names gets
tables:
  public.customers:
    subject_key: id            # which column identifies the data subject
    columns:
      full_name: name          # column: category
      email: email
      phone: phone
      birth_date: birth_date
  public.messages:
    subject_key: customer_id
    timestamp: created_at      # the column retention rules measure age from
    columns:
      to_phone: phone
      body: message_body
    retention:
      - after: 180d            # seed requirement: after 6 months ...
        redact: {to_phone: last4, body: erase}   # ... last 4 digits of phones, SMS bodies
  public.invoices:
    subject_key: customer_id
    legal_hold: "statutory tax records"          # erasure keeps these rows
    columns:
      billing_name: name
      billing_email: email
`

func TestParseCatalogDesignExample(t *testing.T) {
	c, err := ParseCatalog([]byte(designRules))
	if err != nil {
		t.Fatal(err)
	}
	if c.Unclassified() != UnclassifiedAllow || c.NumTables() != 3 {
		t.Fatalf("unclassified %v, %d tables", c.Unclassified(), c.NumTables())
	}
	var names []string
	for tb := range c.Tables() {
		names = append(names, tb.Name())
	}
	if want := []string{"public.customers", "public.invoices", "public.messages"}; !slices.Equal(names, want) {
		t.Fatalf("tables %v, want %v", names, want)
	}
	if cat, ok := c.Category("public.customers", "email"); !ok || cat != "email" {
		t.Errorf("Category(customers.email) = %q, %v", cat, ok)
	}
	if _, ok := c.Category("public.customers", "id"); ok {
		t.Error("customers.id is classified")
	}
	if _, ok := c.Category("public.nothing", "id"); ok {
		t.Error("an unknown table is classified")
	}
	m, _ := c.Table("public.messages")
	if m.SubjectKey() != "customer_id" || m.Timestamp() != "created_at" || m.LegalHold() != "" || m.NumColumns() != 2 {
		t.Errorf("messages: %q %q %q %d", m.SubjectKey(), m.Timestamp(), m.LegalHold(), m.NumColumns())
	}
	r := m.Retention()
	if len(r) != 1 || r[0].After != (Age{Days: 180}) || len(r[0].Redact) != 2 ||
		r[0].Redact[0] != (Redaction{Column: "body", Mask: Mask{Action: ActionRedact}}) ||
		r[0].Redact[1] != (Redaction{Column: "to_phone", Mask: Mask{Action: ActionLast4, Keep: 4}}) {
		t.Errorf("retention %+v", r)
	}
	r[0].Redact[0].Column = "mutated"
	if m.Retention()[0].Redact[0].Column != "body" {
		t.Error("Retention returns internal state")
	}
	inv, _ := c.Table("public.invoices")
	if inv.LegalHold() != "statutory tax records" || inv.Timestamp() != "" {
		t.Errorf("invoices: %q %q", inv.LegalHold(), inv.Timestamp())
	}
	var cols []string
	for ref, cat := range c.Columns() {
		cols = append(cols, ref.String()+"="+cat)
	}
	want := []string{
		"public.customers.birth_date=birth_date", "public.customers.email=email", "public.customers.full_name=name", "public.customers.phone=phone",
		"public.invoices.billing_email=email", "public.invoices.billing_name=name",
		"public.messages.body=message_body", "public.messages.to_phone=phone",
	}
	if !slices.Equal(cols, want) {
		t.Errorf("Columns() = %v\nwant %v", cols, want)
	}
	var tcols []string
	for col := range m.Columns() {
		tcols = append(tcols, col)
	}
	if !slices.Equal(tcols, []string{"body", "to_phone"}) {
		t.Errorf("messages columns %v", tcols)
	}
}

func TestCatalogRevision(t *testing.T) {
	a, err := ParseCatalog([]byte(designRules))
	if err != nil {
		t.Fatal(err)
	}
	// The same content, reordered, reformatted and without comments.
	reordered := `
tables:
  public.invoices: {subject_key: customer_id, legal_hold: statutory tax records, columns: {billing_email: email, billing_name: name}}
  public.messages:
    retention: [{redact: {body: redact, to_phone: last4}, after: 180d}]
    columns: {body: message_body, to_phone: phone}
    timestamp: created_at
    subject_key: customer_id
  public.customers:
    columns: {phone: phone, email: email, full_name: name, birth_date: birth_date}
    subject_key: id
`
	b, err := ParseCatalog([]byte(reordered))
	if err != nil {
		t.Fatal(err)
	}
	if a.Revision() != b.Revision() || len(a.Revision()) != 32 {
		t.Fatalf("revisions %q and %q differ for the same content", a.Revision(), b.Revision())
	}
	changed, err := ParseCatalog([]byte(strings.Replace(designRules, "email: email", "email: phone", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if changed.Revision() == a.Revision() {
		t.Fatal("a changed category kept the revision")
	}
	empty, _ := ParseCatalog(nil)
	var nilCatalog *Catalog
	if empty.Revision() != nilCatalog.Revision() || empty.Revision() == a.Revision() {
		t.Fatal("empty and nil catalogs must share a revision")
	}
}

func TestParseCatalogErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the error
	}{
		{"unknown root key", "unclasified: allow\n", []string{"line 1 col 1", `unknown key "unclasified"`, "unclassified, tables"}},
		{"unknown table key", "tables:\n  public.t:\n    colums: {a: email}\n", []string{"line 3 col 5", `tables."public.t"`, `unknown key "colums"`, "columns"}},
		{"unknown retention key", "tables:\n  public.t:\n    timestamp: ts\n    columns: {a: email}\n    retention:\n      - after: 1y\n        redact: {a: null}\n        when: never\n", []string{"line 8", `retention[0]`, `unknown key "when"`}},
		{"unknown mask", "tables:\n  public.t:\n    timestamp: ts\n    columns: {a: email}\n    retention:\n      - {after: 1y, redact: {a: blur}}\n", []string{"line 6", `retention[0].redact.a`, `"blur"`, "unknown mask"}},
		{"pass is not a redaction", "tables:\n  public.t:\n    timestamp: ts\n    columns: {a: email}\n    retention:\n      - {after: 1y, redact: {a: pass}}\n", []string{"pass does not redact"}},
		{"unqualified table", "tables:\n  customers:\n    columns: {a: email}\n", []string{"line 2", `"customers" must be schema-qualified`, `"public.customers"`}},
		{"bad table name", "tables:\n  public.:\n    columns: {a: email}\n", []string{"not a valid schema.table"}},
		{"three-part table name", "tables:\n  db.public.t: {}\n", []string{"not a valid schema.table"}},
		{"bad category", "tables:\n  public.t:\n    columns: {a: E-Mail}\n", []string{"line 3", `"E-Mail" is not a valid category`}},
		{"numeric category", "tables:\n  public.t:\n    columns: {a: 42}\n", []string{"not a valid category"}},
		{"empty category", "tables:\n  public.t:\n    columns: {a: }\n", []string{"want a category name"}},
		{"bad column name", "tables:\n  public.t:\n    columns: {a.b: email}\n", []string{`"a.b" is not a valid column name`}},
		{"redact unclassified column", "tables:\n  public.t:\n    timestamp: ts\n    columns: {a: email}\n    retention:\n      - {after: 1y, redact: {b: null}}\n", []string{`cannot redact "b": it is not a classified column of public.t`}},
		{"redact timestamp", "tables:\n  public.t:\n    timestamp: ts\n    columns: {a: email, ts: free_text}\n    retention:\n      - {after: 1y, redact: {ts: null}}\n", []string{`cannot redact "ts": it is the timestamp column`}},
		{"retention without timestamp", "tables:\n  public.t:\n    columns: {a: email}\n    retention:\n      - {after: 1y, redact: {a: null}}\n", []string{"line 4", "retention needs the table's timestamp column"}},
		{"bad after", "tables:\n  public.t:\n    timestamp: ts\n    columns: {a: email}\n    retention:\n      - {after: soon, redact: {a: null}}\n", []string{`age "soon"`, "Nm (months)"}},
		{"zero after", "tables:\n  public.t:\n    timestamp: ts\n    columns: {a: email}\n    retention:\n      - {after: 0d, redact: {a: null}}\n", []string{`age "0d"`}},
		{"missing after and redact", "tables:\n  public.t:\n    timestamp: ts\n    columns: {a: email}\n    retention:\n      - {}\n", []string{"missing after", "missing redact"}},
		{"retention not a list", "tables:\n  public.t:\n    timestamp: ts\n    retention: {after: 1y}\n", []string{"want a list"}},
		{"unclassified value", "unclassified: deny\n", []string{`want allow or mask, got "deny"`}},
		{"tables not a mapping", "tables: [a, b]\n", []string{"tables: want a mapping", "got a list"}},
		{"duplicate table", "tables:\n  public.t: {}\n  public.t: {}\n", []string{"line 3", `duplicate key "public.t"`}},
		{"duplicate column", "tables:\n  public.t:\n    columns:\n      a: email\n      a: phone\n", []string{"line 5", `duplicate key "a"`}},
		{"legal hold list", "tables:\n  public.t:\n    legal_hold: [a]\n", []string{"legal_hold", "reason"}},
		{"two documents", "tables: {}\n---\ntables: {}\n", []string{"more than one YAML document"}},
		{"syntax", "tables:\n  public.t: {columns: [\n", []string{"parse rules", "line"}},
		{"root list", "- a\n", []string{"want a mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCatalog([]byte(tt.in))
			if err == nil {
				t.Fatalf("ParseCatalog accepted it: %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// Issues are reachable with errors.As.
	_, err := ParseCatalog([]byte("nope: 1\n"))
	var issue *CatalogIssue
	if !errors.As(err, &issue) || issue.Line != 1 || issue.Column != 1 {
		t.Fatalf("errors.As(%v) = %+v", err, issue)
	}
	// The error count is bounded.
	var many strings.Builder
	many.WriteString("tables:\n")
	for i := range 50 {
		many.WriteString("  t" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ": {}\n")
	}
	_, err = ParseCatalog([]byte(many.String()))
	if n := strings.Count(err.Error(), "\n") + 1; n > maxCatalogIssues+1 {
		t.Fatalf("%d issues reported", n)
	}
}

func TestParseCatalogForms(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(*Catalog) bool
	}{
		{"empty", "", func(c *Catalog) bool { return c.NumTables() == 0 && c.Unclassified() == UnclassifiedAllow }},
		{"comment only", "# nothing yet\n", func(c *Catalog) bool { return c.NumTables() == 0 }},
		{"unclassified mask", "unclassified: mask\n", func(c *Catalog) bool { return c.Unclassified() == UnclassifiedMask }},
		{"table without columns", "tables:\n  public.orders:\n    subject_key: customer_id\n", func(c *Catalog) bool {
			tb, ok := c.Table("public.orders")
			return ok && tb.NumColumns() == 0 && tb.SubjectKey() == "customer_id"
		}},
		{"null table", "tables:\n  public.orders:\n", func(c *Catalog) bool { _, ok := c.Table("public.orders"); return ok }},
		{"legal hold true", "tables:\n  public.t: {legal_hold: true}\n", func(c *Catalog) bool { tb, _ := c.Table("public.t"); return tb.LegalHold() == "legal hold" }},
		{"legal hold false", "tables:\n  public.t: {legal_hold: false}\n", func(c *Catalog) bool { tb, _ := c.Table("public.t"); return tb.LegalHold() == "" }},
		{"open-ended category", "tables:\n  public.t: {columns: {loyalty: loyalty_number}}\n", func(c *Catalog) bool {
			cat, _ := c.Category("public.t", "loyalty")
			return cat == "loyalty_number"
		}},
		{"case preserved", "tables:\n  Sales.Customers: {columns: {EMail: email}}\n", func(c *Catalog) bool {
			_, ok := c.Category("Sales.Customers", "EMail")
			_, lower := c.Category("sales.customers", "email")
			return ok && !lower
		}},
		{"aliases", "cols: &c {a: email}\ntables: {}\n", nil},
		{"yaml aliases", "tables:\n  public.a: &t {columns: {e: email}}\n  public.b: *t\n", func(c *Catalog) bool {
			cat, _ := c.Category("public.b", "e")
			return cat == "email"
		}},
		{"go duration and units", "tables:\n  public.t:\n    timestamp: ts\n    columns: {a: phone}\n    retention:\n      - {after: 36h, redact: {a: partial:2}}\n      - {after: 2w, redact: {a: null}}\n      - {after: 6m, redact: {a: hash}}\n", func(c *Catalog) bool {
			tb, _ := c.Table("public.t")
			r := tb.Retention()
			return len(r) == 3 && r[0].After.Duration == 36*time.Hour && r[1].After.Days == 14 && r[2].After.Months == 6 && r[0].Redact[0].Mask.Keep == 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCatalog([]byte(tt.in))
			if tt.check == nil {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatal("check failed")
			}
		})
	}
}

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   string
		want Age
		str  string
	}{
		{"180d", Age{Days: 180}, "180d"},
		{"2w", Age{Days: 14}, "14d"},
		{"6m", Age{Months: 6}, "6m"},
		{"7y", Age{Years: 7}, "7y"},
		{"36h", Age{Duration: 36 * time.Hour}, "36h0m0s"},
		{"90m30s", Age{Duration: 90*time.Minute + 30*time.Second}, "1h30m30s"},
	}
	for _, tt := range tests {
		got, err := ParseAge(tt.in)
		if err != nil || got != tt.want || got.String() != tt.str {
			t.Errorf("ParseAge(%q) = %+v (%s), %v", tt.in, got, got, err)
		}
	}
	for _, in := range []string{"", "d", "0d", "-1d", "1.5d", "1x", "soon", "-3h", "0s", "100001d", "+3d"} {
		if a, err := ParseAge(in); err == nil {
			t.Errorf("ParseAge(%q) = %+v", in, a)
		}
	}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	if got := (Age{Months: 6}).Cutoff(now); !got.Equal(time.Date(2026, 5, 23, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("Cutoff = %v", got)
	}
	if got := (Age{Days: 180, Duration: time.Hour}).Cutoff(now); !got.Equal(now.AddDate(0, 0, -180).Add(-time.Hour)) {
		t.Errorf("Cutoff = %v", got)
	}
}

func TestLoadCatalog(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(good, []byte(designRules), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCatalog(good)
	if err != nil || c.NumTables() != 3 {
		t.Fatalf("LoadCatalog: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("tables:\n  customers: {}\n"), 0o600)
	if _, err := LoadCatalog(bad); err == nil || !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("LoadCatalog(bad) = %v", err)
	}
	if _, err := LoadCatalog(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadCatalog(missing) = %v", err)
	}
}

func TestNilCatalog(t *testing.T) {
	var c *Catalog
	if c.NumTables() != 0 || c.Unclassified() != UnclassifiedAllow || c.Revision() == "" {
		t.Fatal("nil catalog")
	}
	if _, ok := c.Table("public.t"); ok {
		t.Fatal("nil catalog has a table")
	}
	if _, ok := c.Classify(ColumnRef{Table: "public.t", Column: "c"}); ok {
		t.Fatal("nil catalog classifies")
	}
	for range c.Columns() {
		t.Fatal("nil catalog has columns")
	}
}

func TestCatalogConcurrentUse(t *testing.T) {
	c, err := ParseCatalog([]byte(designRules))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				for ref, cat := range c.Columns() {
					if got, _ := c.Category(ref.Table, ref.Column); got != cat {
						t.Error("inconsistent")
					}
				}
				_ = c.Revision()
			}
		})
	}
	wg.Wait()
}
