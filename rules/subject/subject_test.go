package subject_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/demo"
	"github.com/pgveil/pgveil/rules/subject"
)

const operator = "dpo-alice"

func newProcessor(t *testing.T, tr proxy.QueryTracer) *subject.Processor {
	t.Helper()
	cat, err := rules.ParseCatalog(demo.RulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	p, err := subject.New(subject.Config{Catalog: cat, Tracer: tr, Operator: operator, Version: "test",
		Now: func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// exportDoc is the export document as a test reads it.
type exportDoc struct {
	Format      string    `json:"format"`
	Subject     string    `json:"subject"`
	GeneratedAt time.Time `json:"generated_at"`
	Generator   struct {
		Name, Version string
	} `json:"generator"`
	Database   string `json:"database"`
	Restricted bool   `json:"restricted"`
	Tables     []struct {
		Table    string `json:"table"`
		Relation struct {
			SubjectKey string `json:"subject_key"`
			Via        []struct {
				Columns    []string `json:"columns"`
				References string   `json:"references"`
			} `json:"via"`
		} `json:"relation"`
		LegalHold string `json:"legal_hold"`
		Columns   []struct {
			Name     string  `json:"name"`
			Type     string  `json:"type"`
			Category *string `json:"category"`
		} `json:"columns"`
		RowCount int64            `json:"row_count"`
		Rows     []map[string]any `json:"rows"`
	} `json:"tables"`
}

func (d *exportDoc) rows(table string) []map[string]any {
	for _, t := range d.Tables {
		if t.Table == table {
			return t.Rows
		}
	}
	return nil
}

func export(t *testing.T, p *subject.Processor, conn *pgx.Conn, id string) (*exportDoc, string) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := p.Export(testCtx(t), conn, id, &buf)
	if err != nil {
		t.Fatal(err)
	}
	var doc exportDoc
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, buf.String())
	}
	var n int64
	for _, tb := range doc.Tables {
		if int64(len(tb.Rows)) != tb.RowCount || sum.Tables[tb.Table] != tb.RowCount {
			t.Errorf("%s: %d rows, row_count %d, summary %d", tb.Table, len(tb.Rows), tb.RowCount, sum.Tables[tb.Table])
		}
		n += tb.RowCount
	}
	if n != sum.Rows {
		t.Errorf("summary says %d rows, the document has %d", sum.Rows, n)
	}
	return &doc, buf.String()
}

// pickCustomer returns a customer with every kind of row: messages, tickets,
// logins and invoices (with lines), and a phone and birth date.
func pickCustomer(t *testing.T, ds *demo.Dataset, withInvoices bool) (c demo.Customer, counts map[string]int) {
	t.Helper()
	for _, c := range ds.Customers {
		counts := map[string]int{"public.customers": 1}
		invoices := map[int64]bool{}
		for _, m := range ds.Messages {
			if m.CustomerID == c.ID {
				counts["public.messages"]++
			}
		}
		for _, x := range ds.Tickets {
			if x.CustomerID == c.ID {
				counts["public.tickets"]++
			}
		}
		for _, x := range ds.LoginEvents {
			if x.CustomerID == c.ID {
				counts["public.login_events"]++
			}
		}
		for _, x := range ds.Invoices {
			if x.CustomerID == c.ID {
				counts["public.invoices"]++
				invoices[x.ID] = true
			}
		}
		for _, l := range ds.InvoiceLines {
			if invoices[l.InvoiceID] {
				counts["public.invoice_lines"]++
			}
		}
		if counts["public.messages"] > 0 && counts["public.tickets"] > 0 && counts["public.login_events"] > 0 &&
			(counts["public.invoices"] > 0) == withInvoices && c.Phone != "" && !c.BirthDate.IsZero() {
			return c, counts
		}
	}
	t.Fatal("no suitable customer in the dataset")
	return demo.Customer{}, nil
}

// TestExportEraseExport is the life of an erasure request: the subject's
// data is exported, erased, and exported again; what is left is the legal
// hold's records, and the audit trail shows all three.
func TestExportEraseExport(t *testing.T) {
	_, _, dsn := demoDB(t)
	conn := connect(t, dsn)
	ds := demo.Generate(demoOptions)
	c, counts := pickCustomer(t, ds, true)
	id := strconv.FormatInt(c.ID, 10)
	tr := &fakeTracer{}
	p := newProcessor(t, tr)

	doc, text := export(t, p, conn, "0"+id) // a non-canonical spelling of the id
	if doc.Format != subject.ExportFormat || doc.Subject != id || doc.Generator.Name != "pgveil" || doc.Generator.Version != "test" ||
		doc.Database == "" || doc.GeneratedAt.IsZero() || doc.Restricted {
		t.Errorf("export metadata: %+v", doc)
	}
	for table, n := range counts {
		if got := len(doc.rows(table)); got != n {
			t.Errorf("export: %s has %d rows, want %d", table, got, n)
		}
	}
	if len(doc.Tables) != len(counts) {
		t.Errorf("export has %d tables, want %d", len(doc.Tables), len(counts))
	}
	cust := doc.rows("public.customers")[0]
	if cust["full_name"] != c.FullName || cust["email"] != c.Email || cust["id"] != json.Number(id) || cust["marketing_opt_in"] != c.MarketingOptIn {
		t.Errorf("customer row: %v", cust)
	}
	if _, ok := doc.rows("public.tickets")[0]["custom_fields"].(map[string]any); !ok {
		t.Errorf("custom_fields is not a JSON object: %T", doc.rows("public.tickets")[0]["custom_fields"])
	}
	for _, tb := range doc.Tables {
		switch tb.Table {
		case "public.invoice_lines":
			if len(tb.Relation.Via) != 1 || tb.Relation.Via[0].References != "public.invoices" || tb.LegalHold == "" {
				t.Errorf("invoice_lines relation %+v, hold %q", tb.Relation, tb.LegalHold)
			}
		case "public.invoices":
			if tb.LegalHold != "statutory tax records" || tb.Relation.SubjectKey != "customer_id" {
				t.Errorf("invoices: %+v", tb)
			}
		case "public.customers":
			cats := map[string]string{}
			for _, col := range tb.Columns {
				if col.Category != nil {
					cats[col.Name] = *col.Category
				}
			}
			if fmt.Sprint(cats) != "map[birth_date:birth_date email:email full_name:name phone:phone]" {
				t.Errorf("customer classification: %v", cats)
			}
		}
	}
	if !strings.Contains(text, c.Phone) {
		t.Error("export lacks the customer's phone")
	}

	rep, err := p.Erase(testCtx(t), conn, id, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("erase: %+v", rep)
	for _, tc := range []struct {
		table, action string
		rows          int
	}{
		{"public.messages", subject.ActionDeleted, counts["public.messages"]},
		{"public.tickets", subject.ActionDeleted, counts["public.tickets"]},
		{"public.login_events", subject.ActionDeleted, counts["public.login_events"]},
		{"public.invoices", subject.ActionKept, counts["public.invoices"]},
		{"public.invoice_lines", subject.ActionKept, counts["public.invoice_lines"]},
		{"public.customers", subject.ActionRedacted, 1},
	} {
		if got := rep.Count(tc.table, tc.action); got != int64(tc.rows) {
			t.Errorf("erase: %s %s %d rows, want %d", tc.table, tc.action, got, tc.rows)
		}
	}
	reasons := map[string]string{}
	for _, a := range rep.Actions {
		reasons[a.Table+" "+a.Action] = a.Reason
	}
	if reasons["public.invoices kept"] != "statutory tax records" ||
		reasons["public.invoice_lines kept"] != "part of public.invoices: statutory tax records" ||
		reasons["public.customers redacted"] != "still referenced by public.invoices (statutory tax records)" {
		t.Errorf("reasons: %q", reasons)
	}

	doc2, text2 := export(t, p, conn, id)
	for _, table := range []string{"public.messages", "public.tickets", "public.login_events"} {
		if n := len(doc2.rows(table)); n != 0 {
			t.Errorf("after erasure %s still has %d rows", table, n)
		}
	}
	cust = doc2.rows("public.customers")[0]
	if cust["full_name"] != "[redacted]" || cust["email"] != "[redacted:"+id+"]" || cust["phone"] != nil || cust["birth_date"] != nil {
		t.Errorf("erased customer: %v", cust)
	}
	if len(doc2.rows("public.invoices")) != counts["public.invoices"] || len(doc2.rows("public.invoice_lines")) != counts["public.invoice_lines"] {
		t.Error("held records were not kept")
	}
	// Outside the held invoices, none of the subject's personal values is
	// left.
	var rest strings.Builder
	for _, tb := range doc2.Tables {
		if tb.Table != "public.invoices" {
			b, _ := json.Marshal(tb.Rows)
			rest.Write(b)
		}
	}
	for _, v := range []string{c.FullName, c.Email, c.Phone, c.BirthDate.Format(time.DateOnly)} {
		if strings.Contains(rest.String(), v) {
			t.Errorf("an erased value is still stored outside the legal hold (%d bytes)", len(v))
		}
	}
	if text2 == text {
		t.Error("the second export equals the first")
	}

	// The audit trail: export, one event per erase action, export; each
	// with the operator and the subject, and no personal value.
	evs := tr.Events()
	var summaries []string
	for _, ev := range evs {
		summaries = append(summaries, ev.Statement.Summary)
		if ev.Identity.User != operator || fmt.Sprint(ev.SubjectKeys) != "["+id+"]" || ev.Outcome != proxy.OutcomeOK {
			t.Errorf("event %q: identity %q subjects %v outcome %s", ev.Statement.Summary, ev.Identity.User, ev.SubjectKeys, ev.Outcome)
		}
	}
	if len(evs) != 2+len(rep.Actions) || summaries[0] != "SUBJECT EXPORT" || summaries[len(summaries)-1] != "SUBJECT EXPORT" ||
		!strings.HasPrefix(summaries[1], "SUBJECT ERASE public.") {
		t.Errorf("audit trail: %q", summaries)
	}
	if evs[0].RowsReturned != int64(sumCounts(counts)) {
		t.Errorf("export event: %d rows returned", evs[0].RowsReturned)
	}
	for _, ev := range evs[1 : len(evs)-1] {
		if ev.Statement.Summary == "SUBJECT ERASE public.messages" && (ev.RowsAffected != int64(counts["public.messages"]) || ev.Statement.Kind != rules.KindDelete) {
			t.Errorf("erase event: %+v", ev)
		}
		if ev.Statement.Summary == "SUBJECT ERASE public.invoices" && ev.Reason != "statutory tax records" {
			t.Errorf("kept event reason %q", ev.Reason)
		}
	}
	assertNoPersonalValues(t, []string{c.FullName, c.Email, c.Phone}, evs)

	// Erasing again changes nothing more.
	rep, err = p.Erase(testCtx(t), conn, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count("public.customers", subject.ActionRedacted) != 1 || rep.Count("public.messages", subject.ActionDeleted) != 0 {
		t.Errorf("second erase: %+v", rep)
	}
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func assertNoPersonalValues(t *testing.T, values []string, evs []*proxy.StatementEvent) {
	t.Helper()
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%+v %+v %+v\n", *ev, *ev.Statement, ev.Columns)
	}
	for _, v := range values {
		if v != "" && strings.Contains(b.String(), v) {
			t.Errorf("audit events contain a personal value (%d bytes)", len(v))
		}
	}
}

// TestEraseWithoutHold: a subject without held records is deleted
// entirely; afterwards it is not found.
func TestEraseWithoutHold(t *testing.T) {
	_, _, dsn := demoDB(t)
	conn := connect(t, dsn)
	ds := demo.Generate(demoOptions)
	c, counts := pickCustomer(t, ds, false)
	id := strconv.FormatInt(c.ID, 10)
	p := newProcessor(t, &fakeTracer{})

	dry, err := p.Erase(testCtx(t), conn, id, true)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.Count("public.customers", subject.ActionDeleted) != 1 {
		t.Errorf("dry run: %+v", dry)
	}
	doc, _ := export(t, p, conn, id)
	if len(doc.rows("public.messages")) != counts["public.messages"] {
		t.Fatal("the dry run deleted rows")
	}
	rep, err := p.Erase(testCtx(t), conn, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rep.Actions) != fmt.Sprint(dry.Actions) {
		t.Errorf("the dry run reported %+v, the erasure %+v", dry.Actions, rep.Actions)
	}
	for table, n := range counts {
		if got := rep.Count(table, subject.ActionDeleted); got != int64(n) {
			t.Errorf("%s: %d deleted, want %d", table, got, n)
		}
	}
	if _, err := p.Export(testCtx(t), conn, id, &bytes.Buffer{}); !errors.Is(err, subject.ErrNotFound) {
		t.Errorf("export after erasure: %v", err)
	}
}

// TestEraseReferencedFromOutside: a customer row that another customer's
// row references (a referral) cannot be deleted: its personal columns are
// erased and the report names the referencing table.
func TestEraseReferencedFromOutside(t *testing.T) {
	srv, db, dsn := demoDB(t)
	ds := demo.Generate(demoOptions)
	c, _ := pickCustomer(t, ds, false)
	other := ds.Customers[0].ID
	if other == c.ID {
		other = ds.Customers[1].ID
	}
	if err := srv.Exec(testCtx(t), db, fmt.Sprintf(`
		ALTER TABLE public.customers ADD COLUMN referred_by bigint REFERENCES public.customers (id);
		UPDATE public.customers SET referred_by = %d WHERE id = %d;`, c.ID, other)); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, dsn)
	p := newProcessor(t, &fakeTracer{})
	rep, err := p.Erase(testCtx(t), conn, strconv.FormatInt(c.ID, 10), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count("public.customers", subject.ActionRedacted) != 1 || rep.Count("public.messages", subject.ActionDeleted) == 0 {
		t.Errorf("erase: %+v", rep)
	}
	for _, a := range rep.Actions {
		if a.Table == "public.customers" && a.Reason != "still referenced by public.customers" {
			t.Errorf("reason %q", a.Reason)
		}
	}
}

func TestRectify(t *testing.T) {
	_, _, dsn := demoDB(t)
	conn := connect(t, dsn)
	ds := demo.Generate(demoOptions)
	c := ds.Customers[3]
	id := strconv.FormatInt(c.ID, 10)
	tr := &fakeTracer{}
	p := newProcessor(t, tr)
	ctx := testCtx(t)
	newEmail, newPhone := "corrected.address@example.org", "+4915199887766"
	rep, err := p.Rectify(ctx, conn, id, "", []subject.Assignment{{"email", newEmail}, {"phone", newPhone}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Table != "public.customers" || rep.Rows != 1 || fmt.Sprint(rep.Columns) != "[email phone]" {
		t.Errorf("rectify: %+v", rep)
	}
	var email, phone string
	if err := conn.QueryRow(ctx, "SELECT email, phone FROM public.customers WHERE id = $1", c.ID).Scan(&email, &phone); err != nil {
		t.Fatal(err)
	}
	if email != newEmail || phone != newPhone {
		t.Errorf("after rectify: %q %q", email, phone)
	}
	evs := tr.Events()
	if len(evs) != 1 || evs[0].Statement.Summary != "SUBJECT RECTIFY public.customers" || evs[0].RowsAffected != 1 ||
		len(evs[0].Columns) != 2 || evs[0].Columns[0].Column != "email" || evs[0].Columns[0].Uses != rules.UseWrite {
		t.Errorf("rectify event: %+v", evs)
	}
	assertNoPersonalValues(t, []string{newEmail, newPhone, c.Email, c.Phone}, evs)

	for _, tc := range []struct {
		table string
		set   []subject.Assignment
		want  error
	}{
		{"", []subject.Assignment{{"nope", "x"}}, subject.ErrUnknownColumn},
		{"public.customers", []subject.Assignment{{"nope", "x"}}, subject.ErrUnknownColumn},
		{"public.customers", []subject.Assignment{{"country", "FR"}}, subject.ErrUnknownColumn},
		{"public.invoices", []subject.Assignment{{"billing_name", "X"}}, subject.ErrLegalHold},
		{"public.nope", []subject.Assignment{{"email", "x"}}, subject.ErrSchema},
	} {
		if _, err := p.Rectify(ctx, conn, id, tc.table, tc.set); !errors.Is(err, tc.want) {
			t.Errorf("rectify %s %v: err %v, want %v", tc.table, tc.set, err, tc.want)
		}
	}
	// A value that is not valid for the column is refused without being
	// echoed.
	_, err = p.Rectify(ctx, conn, id, "", []subject.Assignment{{"birth_date", "1990-13-45x"}})
	if err == nil || strings.Contains(err.Error(), "1990-13-45x") {
		t.Errorf("bad date: %v", err)
	}
	if _, err := p.Rectify(ctx, conn, "999999", "", []subject.Assignment{{"email", "a@b.example"}}); !errors.Is(err, subject.ErrNotFound) {
		t.Errorf("unknown subject: %v", err)
	}
	if _, err := p.Rectify(ctx, conn, "abc", "", []subject.Assignment{{"email", "a@b.example"}}); !errors.Is(err, subject.ErrInvalidID) {
		t.Errorf("invalid id: %v", err)
	}
}

func TestBadRequests(t *testing.T) {
	_, _, dsn := demoDB(t)
	conn := connect(t, dsn)
	p := newProcessor(t, &fakeTracer{})
	ctx := testCtx(t)
	if _, err := p.Export(ctx, conn, "999999", &bytes.Buffer{}); !errors.Is(err, subject.ErrNotFound) {
		t.Errorf("unknown subject: %v", err)
	}
	if _, err := p.Erase(ctx, conn, "12abc", false); !errors.Is(err, subject.ErrInvalidID) {
		t.Errorf("invalid id: %v", err)
	}
	if _, err := p.Restrict(ctx, conn, "999999", ""); !errors.Is(err, subject.ErrNotFound) {
		t.Errorf("restrict unknown subject: %v", err)
	}
	down := newProcessor(t, &fakeTracer{ReadyErr: errors.New("collector down")})
	if _, err := down.Erase(ctx, conn, "1", false); err == nil {
		t.Error("erase without an audit trail succeeded")
	}
	if _, err := subject.New(subject.Config{}); err == nil {
		t.Error("New without a catalog succeeded")
	}
}

func TestRestrict(t *testing.T) {
	srv, db, dsn := demoDB(t)
	ctx := testCtx(t)
	if err := srv.Exec(ctx, db, "GRANT CREATE ON DATABASE "+pgx.Identifier{db}.Sanitize()+" TO pgveil"); err != nil {
		t.Fatal(err)
	}
	conns := []*pgx.Conn{connect(t, dsn), connect(t, dsn)}
	tr := &fakeTracer{}
	p := newProcessor(t, tr)

	// Two instances restrict at once: one creates the list, both succeed,
	// exactly one changes it.
	reps := make([]*subject.RestrictReport, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { reps[i], errs[i] = p.Restrict(testCtx(t), c, "07", "Art. 18(1)(a): accuracy contested") })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if reps[0].Changed == reps[1].Changed || !reps[0].Restricted || reps[0].Subject != "7" || reps[0].Since.IsZero() {
		t.Errorf("concurrent restrict: %+v %+v", reps[0], reps[1])
	}
	conn := conns[0]
	var n int
	var op, reason string
	if err := conn.QueryRow(ctx, "SELECT count(*), min(operator), min(reason) FROM pgveil.restricted_subjects WHERE subject_id = '7'").Scan(&n, &op, &reason); err != nil {
		t.Fatal(err)
	}
	if n != 1 || op != operator || reason != "Art. 18(1)(a): accuracy contested" {
		t.Errorf("restricted_subjects: %d rows, operator %q, reason %q", n, op, reason)
	}
	// Every role can read the list (the proxy's row filter runs as the
	// client).
	analyst := connect(t, srv.DSN("analyst", "analyst-demo", db))
	if err := analyst.QueryRow(ctx, "SELECT count(*) FROM pgveil.restricted_subjects").Scan(&n); err != nil || n != 1 {
		t.Errorf("analyst reads the list: %d, %v", n, err)
	}
	var doc bytes.Buffer
	if _, err := p.Export(ctx, conn, "7", &doc); err != nil || !strings.Contains(doc.String(), `"restricted": true`) {
		t.Errorf("export of a restricted subject: %v", err)
	}

	rep, err := p.Unrestrict(ctx, conn, "7")
	if err != nil || !rep.Changed || rep.Restricted {
		t.Errorf("unrestrict: %+v, %v", rep, err)
	}
	rep, err = p.Unrestrict(ctx, conn, "7")
	if err != nil || rep.Changed {
		t.Errorf("unrestrict again: %+v, %v", rep, err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pgveil.restricted_subjects").Scan(&n); err != nil || n != 0 {
		t.Errorf("after unrestrict: %d rows, %v", n, err)
	}
	var summaries []string
	for _, ev := range tr.Events() {
		summaries = append(summaries, ev.Statement.Summary+" "+strconv.FormatInt(ev.RowsAffected, 10))
	}
	if fmt.Sprint(summaries) != "[SUBJECT RESTRICT 1 SUBJECT RESTRICT 0 SUBJECT EXPORT 0 SUBJECT UNRESTRICT 1 SUBJECT UNRESTRICT 0]" &&
		fmt.Sprint(summaries) != "[SUBJECT RESTRICT 0 SUBJECT RESTRICT 1 SUBJECT EXPORT 0 SUBJECT UNRESTRICT 1 SUBJECT UNRESTRICT 0]" {
		t.Errorf("audit trail: %q", summaries)
	}
}

// TestRestrictionFilters: the restriction's row filters cover every table
// the subject's rows are in, tables reached through foreign keys too
// (invoice lines of the subject's invoices), and hide exactly the
// restricted subject's rows there.
func TestRestrictionFilters(t *testing.T) {
	srv, db, dsn := demoDB(t)
	ctx := testCtx(t)
	if err := srv.Exec(ctx, db, "GRANT CREATE ON DATABASE "+pgx.Identifier{db}.Sanitize()+" TO pgveil"); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, dsn)
	p := newProcessor(t, &fakeTracer{})
	cat, err := rules.ParseCatalog(demo.RulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := conn.QueryRow(ctx, "SELECT i.customer_id FROM public.invoices i JOIN public.invoice_lines l ON l.invoice_id = i.id LIMIT 1").Scan(&id); err != nil {
		t.Fatal(err)
	}
	sid := strconv.FormatInt(id, 10)
	if _, err := p.Restrict(ctx, conn, sid, "test"); err != nil {
		t.Fatal(err)
	}
	filters, err := subject.RestrictionFilters(ctx, conn, cat)
	if err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]string{
		"public.customers":     "SELECT count(*) FROM public.customers WHERE id = $1",
		"public.messages":      "SELECT count(*) FROM public.messages WHERE customer_id = $1",
		"public.invoices":      "SELECT count(*) FROM public.invoices WHERE customer_id = $1",
		"public.invoice_lines": "SELECT count(*) FROM public.invoice_lines WHERE invoice_id IN (SELECT id FROM public.invoices WHERE customer_id = $1)",
	} {
		pred, ok := filters[table]
		if !ok {
			t.Errorf("no restriction filter for %s: %v", table, filters)
			continue
		}
		var all, visible, subjects int
		if err := conn.QueryRow(ctx, want, id).Scan(&subjects); err != nil || subjects == 0 {
			t.Fatalf("%s: the subject has %d rows (%v)", table, subjects, err)
		}
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&all); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM (SELECT * FROM "+table+" WHERE "+pred+") x").Scan(&visible); err != nil {
			t.Fatalf("%s: %s: %v", table, pred, err)
		}
		if visible != all-subjects {
			t.Errorf("%s: %d of %d rows visible, want %d (the subject has %d)", table, visible, all, all-subjects, subjects)
		}
	}
}
