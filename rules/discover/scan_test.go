package discover_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/pgveil/pgveil/proxy/pgtest"
	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/demo"
	"github.com/pgveil/pgveil/rules/discover"
)

// demoPersonal are the demo's personal-data columns: every column the demo
// rules classify.
func demoPersonal(t *testing.T) []string {
	t.Helper()
	cat, err := rules.ParseCatalog(demo.RulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for ref := range cat.Columns() {
		out = append(out, ref.String())
	}
	return out
}

// TestScanDemo: the scan finds every personal-data column of the demo,
// including the JSON custom fields and the free-text ticket bodies, and
// flags none of the others.
func TestScanDemo(t *testing.T) {
	srv := pgtest.Require(t)
	conn := connect(t, srv.DSN(demo.ControlRole, demo.ControlRole+"-demo", demoTemplate))
	res, err := discover.Scan(testCtx(t), conn, discover.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := demoPersonal(t)
	var got []string
	for _, tr := range res.Tables {
		if tr.SampleError != "" {
			t.Errorf("%s: %s", tr.Table, tr.SampleError)
		}
		for _, f := range tr.Columns {
			ref := f.Table + "." + f.Column
			personal := res.Personal(f)
			t.Logf("%-34s %-6v %-13s %.2f %s", ref, personal, f.Category, f.Confidence, f.Reason)
			if personal {
				got = append(got, ref)
			}
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missed personal data: %s", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("flagged a column without personal data: %s", g)
		}
	}
	var buf bytes.Buffer
	if err := res.WriteRules(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("proposal:\n%s", buf.String())
	if _, err := rules.ParseCatalog(buf.Bytes()); err != nil {
		t.Errorf("the proposal is not a valid rules file: %v", err)
	}
	if !strings.Contains(buf.String(), "NEW") {
		t.Error("without current rules, every column should be NEW")
	}
}

// TestCheck is the CI gate: with the demo rules nothing is missing; a column
// and a table added later with personal data are reported, and the
// proposal adds them to the current rules.
func TestCheck(t *testing.T) {
	srv := pgtest.Require(t)
	ctx := testCtx(t)
	cat, err := rules.ParseCatalog(demo.RulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, srv.DSN(demo.ControlRole, demo.ControlRole+"-demo", demoTemplate))
	res, err := discover.Scan(ctx, conn, discover.Config{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Missing(); len(m) != 0 {
		t.Errorf("the demo rules miss:\n%s", discover.FormatMissing(m))
	}
	conn.Close(ctx) // the template must have no sessions to be copied

	db := srv.TempDatabase(t, demoTemplate)
	if err := srv.Exec(ctx, db, `
		ALTER TABLE public.customers ADD COLUMN tax_number text;
		UPDATE public.customers SET tax_number = lpad((id * 7 % 899 + 1)::text, 3, '0') || '-' || lpad((id % 87 + 13)::text, 2, '0')
			|| '-' || lpad((id * 31 % 9999 + 1)::text, 4, '0');
		CREATE TABLE public.leads (id serial PRIMARY KEY, customer_id bigint REFERENCES public.customers (id), contact text, source text, score int);
		INSERT INTO public.leads (customer_id, contact, source, score)
			SELECT g, 'lead' || g || '@example.net', 'web', g % 100 FROM generate_series(1, 500) g;
		ANALYZE public.customers, public.leads;`); err != nil {
		t.Fatal(err)
	}
	conn = connect(t, srv.DSN(demo.ControlRole, demo.ControlRole+"-demo", db))
	res, err = discover.Scan(ctx, conn, discover.Config{Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, f := range res.Missing() {
		missing = append(missing, f.Table+"."+f.Column+":"+f.Category)
	}
	if strings.Join(missing, " ") != "public.customers.tax_number:national_id public.leads.contact:email" {
		t.Errorf("missing: %q\n%s", missing, discover.FormatMissing(res.Missing()))
	}
	var buf bytes.Buffer
	if err := res.WriteRules(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("proposal:\n%s", buf.String())
	prop, err := rules.ParseCatalog(buf.Bytes())
	if err != nil {
		t.Fatalf("the proposal is not a valid rules file: %v", err)
	}
	// The proposal is the current rules plus the new columns.
	for ref, c := range cat.Columns() {
		if got, ok := prop.Category(ref.Table, ref.Column); !ok || got != c {
			t.Errorf("proposal changed %s: %q", ref, got)
		}
	}
	for _, want := range []string{"public.customers.tax_number", "public.leads.contact"} {
		tbl, col, _ := strings.Cut(strings.TrimPrefix(want, "public."), ".")
		if _, ok := prop.Category("public."+tbl, col); !ok {
			t.Errorf("proposal lacks %s", want)
		}
	}
	leads, _ := prop.Table("public.leads")
	if leads.SubjectKey() != "customer_id" {
		t.Errorf("leads subject key %q", leads.SubjectKey())
	}
	msgs, _ := prop.Table("public.messages")
	if len(msgs.Retention()) != 1 || msgs.Timestamp() != "created_at" {
		t.Error("proposal lost the retention clause")
	}
	inv, _ := prop.Table("public.invoices")
	if inv.LegalHold() != "statutory tax records" {
		t.Error("proposal lost the legal hold")
	}
}
