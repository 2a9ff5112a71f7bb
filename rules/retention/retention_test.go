package retention_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/demo"
	"github.com/pgveil/pgveil/rules/retention"
)

func demoCatalog(t *testing.T) *rules.Catalog {
	t.Helper()
	cat, err := rules.ParseCatalog(demo.RulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func mustMask(t *testing.T, s string) rules.Mask {
	t.Helper()
	m, err := rules.ParseMask(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// message is a row of public.messages as stored.
type message struct {
	phone, body string
}

func readMessages(t *testing.T, conn *pgx.Conn) map[int64]message {
	t.Helper()
	rows, err := conn.Query(testCtx(t), "SELECT id, to_phone, body FROM public.messages")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]message{}
	for rows.Next() {
		var id int64
		var m message
		if err := rows.Scan(&id, &m.phone, &m.body); err != nil {
			t.Fatal(err)
		}
		out[id] = m
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantMessages returns the messages as retention at now must leave them,
// and how many it rewrites.
func wantMessages(t *testing.T, ds *demo.Dataset, now time.Time) (map[int64]message, int) {
	t.Helper()
	last4 := mustMask(t, "last4")
	cutoff := now.AddDate(0, 0, -180)
	out := map[int64]message{}
	old := 0
	for _, m := range ds.Messages {
		w := message{m.ToPhone, m.Body}
		if m.CreatedAt.Before(cutoff) {
			p, ok := rules.MaskText(last4, m.ToPhone)
			if !ok {
				t.Fatalf("last4 of a phone is NULL")
			}
			w = message{p, "[redacted]"}
			old++
		}
		out[m.ID] = w
	}
	return out, old
}

func diffMessages(t *testing.T, got, want map[int64]message) {
	t.Helper()
	bad := 0
	for id, w := range want {
		if g := got[id]; g != w {
			bad++
			if bad <= 5 {
				t.Errorf("message %d: got phone %q body %.20q, want phone %q body %.20q", id, g.phone, g.body, w.phone, w.body)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d messages differ from what retention should leave", bad, len(want))
	}
}

func reference() time.Time {
	ref, _ := time.Parse(time.DateOnly, demo.ReferenceDate)
	return ref
}

func TestRunDemo(t *testing.T) {
	_, _, dsn := demoDB(t)
	conn := connect(t, dsn)
	ctx := testCtx(t)
	ds := demo.Generate(demoOptions)
	now := reference()
	tr := &fakeTracer{}
	cfg := retention.Config{Catalog: demoCatalog(t), Tracer: tr, Operator: "dpo-alice", Now: now, BatchSize: 200}

	// A dry run counts without writing.
	dry := cfg
	dry.DryRun = true
	dryRep, err := retention.Run(ctx, conn, dry)
	if err != nil {
		t.Fatal(err)
	}
	before := readMessages(t, conn)
	wantMsgs, old := wantMessages(t, ds, now)
	if got := tableReport(t, dryRep, "public.messages"); got.Rows != int64(old) {
		t.Errorf("dry run: %d messages, want %d", got.Rows, old)
	}
	for id, m := range ds.Messages {
		if before[m.ID] != (message{m.ToPhone, m.Body}) {
			t.Fatalf("dry run changed message %d", id)
		}
	}
	for _, ev := range tr.Events() {
		if ev.Statement.Kind != rules.KindSelect || !strings.HasPrefix(ev.Statement.Summary, "RETENTION DRY-RUN ") {
			t.Errorf("dry-run span %q kind %s", ev.Statement.Summary, ev.Statement.Kind)
		}
	}
	tr.Reset()

	rep, err := retention.Run(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %+v", rep)
	diffMessages(t, readMessages(t, conn), wantMsgs)
	msgs := tableReport(t, rep, "public.messages")
	if msgs.Method != "sql" || msgs.Rows != int64(old) {
		t.Errorf("messages: method %s rows %d, want sql %d", msgs.Method, msgs.Rows, old)
	}
	for _, c := range msgs.Columns {
		if c.Values != int64(old) {
			t.Errorf("messages.%s: %d values, want %d", c.Column, c.Values, old)
		}
	}
	dryMsgs := tableReport(t, dryRep, "public.messages")
	if fmt.Sprint(dryMsgs.Columns) != fmt.Sprint(msgs.Columns) {
		t.Errorf("dry run counted %v, the run %v", dryMsgs.Columns, msgs.Columns)
	}
	checkLogins(t, conn, ds, now)

	// One span per batch, with the batch's rows, columns and subjects, and
	// no personal value anywhere.
	evs := tr.Events()
	batches := 0
	var rows int64
	for _, tr := range rep.Tables {
		batches += tr.Batches
		rows += tr.Rows
	}
	if len(evs) != batches {
		t.Errorf("%d spans for %d batches", len(evs), batches)
	}
	var spanRows int64
	for _, ev := range evs {
		spanRows += ev.RowsAffected
		st := ev.Statement
		if ev.Identity.User != "dpo-alice" || ev.Outcome != proxy.OutcomeOK || st.Kind != rules.KindUpdate ||
			!strings.HasPrefix(st.Summary, "RETENTION public.") || len(ev.Columns) == 0 || ev.SubjectCount == 0 {
			t.Errorf("span %+v, statement %+v", ev, st)
		}
	}
	if spanRows != rows {
		t.Errorf("spans count %d rows, the report %d", spanRows, rows)
	}
	assertNoPersonalValues(t, ds, evs)

	// A second run changes nothing.
	again, err := retention.Run(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range again.Tables {
		if tr.Rows != 0 || tr.Batches != 0 {
			t.Errorf("second run rewrote %d rows of %s", tr.Rows, tr.Table)
		}
	}
	if n := len(tr.Events()); n != len(evs) {
		t.Errorf("second run recorded %d spans", n-len(evs))
	}
	diffMessages(t, readMessages(t, conn), wantMsgs)
}

// checkLogins checks public.login_events after retention at now: after 365
// days ip becomes its prefix (as the proxy's ip_prefix shows it) and the
// user agent is erased (NULL: the column is nullable).
func checkLogins(t *testing.T, conn *pgx.Conn, ds *demo.Dataset, now time.Time) {
	t.Helper()
	cutoff := now.AddDate(0, 0, -365)
	rows, err := conn.Query(testCtx(t), "SELECT id, ip, user_agent FROM public.login_events")
	if err != nil {
		t.Fatal(err)
	}
	type login struct {
		ip netip.Prefix
		ua *string
	}
	got := map[int64]login{}
	for rows.Next() {
		var id int64
		var l login
		if err := rows.Scan(&id, &l.ip, &l.ua); err != nil {
			t.Fatal(err)
		}
		got[id] = l
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	prefix := mustMask(t, "ip_prefix")
	bad, old := 0, 0
	for _, e := range ds.LoginEvents {
		g := got[e.ID]
		gotIP, wantIP := g.ip.String(), netip.PrefixFrom(e.IP, e.IP.BitLen()).String()
		var wantUA *string
		if e.UserAgent != "" {
			wantUA = &e.UserAgent
		}
		if e.CreatedAt.Before(cutoff) {
			old++
			wantIP, _ = rules.MaskText(prefix, e.IP.String())
			wantUA = nil
		}
		if gotIP != wantIP || (g.ua == nil) != (wantUA == nil) || (g.ua != nil && *g.ua != *wantUA) {
			bad++
			if bad < 5 {
				t.Errorf("login %d (%s): ip %q ua set %v, want ip %q ua set %v", e.ID, e.CreatedAt, gotIP, g.ua != nil, wantIP, wantUA != nil)
			}
		}
	}
	if bad > 0 || old == 0 {
		t.Errorf("%d login events wrong, %d old", bad, old)
	}
}

// assertNoPersonalValues fails if any personal value of the dataset (6
// bytes or longer, so as not to match counts) appears in the events.
func assertNoPersonalValues(t *testing.T, ds *demo.Dataset, evs []*proxy.StatementEvent) {
	t.Helper()
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%+v %+v %+v\n", *ev, *ev.Statement, ev.Columns)
	}
	all := b.String()
	for _, v := range ds.PersonalValues() {
		if len(v) >= 6 && strings.Contains(all, v) {
			t.Errorf("audit events contain a personal value (%d bytes)", len(v))
		}
	}
}

func tableReport(t *testing.T, rep *retention.Report, table string) retention.TableReport {
	t.Helper()
	for _, tr := range rep.Tables {
		if tr.Table == table {
			return tr
		}
	}
	t.Fatalf("no report for %s in %+v", table, rep)
	return retention.TableReport{}
}

// TestSixMonths: with now six months and a day after a message was sent,
// its phone keeps its last four digits and its body is gone, while younger
// messages are untouched.
func TestSixMonths(t *testing.T) {
	_, _, dsn := demoDB(t)
	conn := connect(t, dsn)
	ctx := testCtx(t)
	ds := demo.Generate(demoOptions)
	m := ds.Messages[len(ds.Messages)/2]
	now := m.CreatedAt.AddDate(0, 6, 1)
	rep, err := retention.Run(ctx, conn, retention.Config{
		Catalog: demoCatalog(t), Tracer: &fakeTracer{}, Now: now, Tables: []string{"public.messages"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != 1 {
		t.Errorf("--table public.messages ran %d tables", len(rep.Tables))
	}
	got := readMessages(t, conn)
	if g := got[m.ID]; strings.Trim(g.phone[:len(g.phone)-4], "*") != "" || g.phone[len(g.phone)-4:] != m.ToPhone[len(m.ToPhone)-4:] ||
		len(g.phone) != len(m.ToPhone) || g.body != "[redacted]" {
		t.Errorf("message %d six months later: phone %q body %q", m.ID, g.phone, g.body)
	}
	want, old := wantMessages(t, ds, now)
	if old == 0 || old == len(ds.Messages) {
		t.Fatalf("%d old messages: the test needs both kinds", old)
	}
	diffMessages(t, got, want)
	young := 0
	for _, x := range ds.Messages {
		if !x.CreatedAt.Before(now.AddDate(0, 0, -180)) {
			young++
			if got[x.ID] != (message{x.ToPhone, x.Body}) {
				t.Errorf("younger message %d changed", x.ID)
			}
		}
	}
	if young == 0 {
		t.Error("no younger messages checked")
	}
}

// TestResume kills a run after its first batch: the batch stays, and the
// next run finishes the job.
func TestResume(t *testing.T) {
	_, _, dsn := demoDB(t)
	conn := connect(t, dsn)
	ds := demo.Generate(demoOptions)
	now := reference()
	ctx, cancel := context.WithCancel(testCtx(t))
	tr := &fakeTracer{OnTrace: func(*proxy.StatementEvent) { cancel() }}
	cfg := retention.Config{Catalog: demoCatalog(t), Tracer: tr, Now: now, BatchSize: 50, Tables: []string{"public.messages"}}
	rep, err := retention.Run(ctx, conn, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err %v", err)
	}
	if got := tableReport(t, rep, "public.messages"); got.Rows != 50 || got.Batches != 1 {
		t.Errorf("interrupted run: %d rows in %d batches, want one batch of 50", got.Rows, got.Batches)
	}
	done := 0
	for _, m := range readMessages(t, conn) {
		if m.body == "[redacted]" {
			done++
		}
	}
	if done != 50 {
		t.Errorf("after the interrupted run %d messages are redacted, want 50", done)
	}

	want, old := wantMessages(t, ds, now)
	cfg.Tracer = &fakeTracer{}
	rep, err = retention.Run(testCtx(t), conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tableReport(t, rep, "public.messages"); got.Rows != int64(old-50) {
		t.Errorf("resumed run rewrote %d rows, want %d", got.Rows, old-50)
	}
	diffMessages(t, readMessages(t, conn), want)
}

// TestConcurrent runs two jobs at once on the same tables: they share the
// rows (no row twice, no deadlock) and together finish the job.
func TestConcurrent(t *testing.T) {
	_, _, dsn := demoDB(t)
	ds := demo.Generate(demoOptions)
	now := reference()
	conns := []*pgx.Conn{connect(t, dsn), connect(t, dsn)}
	reps := make([]*retention.Report, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			reps[i], errs[i] = retention.Run(testCtx(t), c, retention.Config{
				Catalog: demoCatalog(t), Tracer: &fakeTracer{}, Now: now, BatchSize: 25,
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want, old := wantMessages(t, ds, now)
	var rows, values int64
	for _, rep := range reps {
		tr := tableReport(t, rep, "public.messages")
		rows += tr.Rows
		values += tr.Columns[0].Values
		t.Logf("one run rewrote %d messages in %d batches", tr.Rows, tr.Batches)
	}
	if rows != int64(old) || values != int64(old) {
		t.Errorf("the two runs rewrote %d messages (%d phones), want %d", rows, values, old)
	}
	diffMessages(t, readMessages(t, connect(t, dsn)), want)
}

// TestGoMethod covers masks that SQL cannot compute (email, scrub): the rows
// are read, masked with the proxy's masks and written back, idempotently.
func TestGoMethod(t *testing.T) {
	srv, db, dsn := demoDB(t)
	ctx := testCtx(t)
	if err := srv.Exec(ctx, db, `
		CREATE TABLE public.notes (
			tenant int NOT NULL, id int NOT NULL, email text NOT NULL, note text, written date NOT NULL,
			PRIMARY KEY (tenant, id));
		INSERT INTO public.notes
			SELECT g % 3, g, 'user' || g || '@example.com', 'call +49 151 2345' || lpad(g::text, 4, '0') || ' today', DATE '2020-01-01' + g
			FROM generate_series(1, 250) g;
		INSERT INTO public.notes VALUES (9, 1, 'not-an-address', NULL, DATE '2020-01-01');
		GRANT SELECT, UPDATE ON public.notes TO pgveil;`); err != nil {
		t.Fatal(err)
	}
	cat, err := rules.ParseCatalog([]byte(`
tables:
  public.notes:
    timestamp: written
    columns: {email: email, note: free_text}
    retention:
      - after: 100d
        redact: {email: email, note: scrub}
`))
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, dsn)
	now := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 100+200) // rows 1..199 and (9, 1) are old
	tr := &fakeTracer{}
	cfg := retention.Config{Catalog: cat, Tracer: tr, Now: now, BatchSize: 30}
	rep, err := retention.Run(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := tableReport(t, rep, "public.notes")
	if got.Method != "go" || got.Rows != 200 {
		t.Errorf("notes: method %s, %d rows; want go, 200", got.Method, got.Rows)
	}
	var email, note string
	if err := conn.QueryRow(ctx, "SELECT email, note FROM public.notes WHERE id = 7").Scan(&email, &note); err != nil {
		t.Fatal(err)
	}
	if email != "u***@example.com" || note != "call [phone] today" {
		t.Errorf("old note: %q %q", email, note)
	}
	// Not an address: the e-mail mask yields NULL, and the NOT NULL column
	// gets the redaction constant.
	if err := conn.QueryRow(ctx, "SELECT email FROM public.notes WHERE tenant = 9").Scan(&email); err != nil {
		t.Fatal(err)
	}
	if email != "[redacted]" {
		t.Errorf("malformed address became %q", email)
	}
	if err := conn.QueryRow(ctx, "SELECT email, note FROM public.notes WHERE id = 240").Scan(&email, &note); err != nil {
		t.Fatal(err)
	}
	if email != "user240@example.com" || !strings.Contains(note, "+49") {
		t.Errorf("young note changed: %q %q", email, note)
	}
	rep, err = retention.Run(ctx, conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tableReport(t, rep, "public.notes"); got.Rows != 0 {
		t.Errorf("second run rewrote %d rows", got.Rows)
	}
}

func TestConfigErrors(t *testing.T) {
	srv, db, dsn := demoDB(t)
	conn := connect(t, dsn)
	ctx := testCtx(t)
	cat := demoCatalog(t)
	if _, err := retention.Run(ctx, conn, retention.Config{Catalog: cat, Tracer: &fakeTracer{}, Tables: []string{"public.customers"}}); !errors.Is(err, retention.ErrNoRetention) {
		t.Errorf("table without retention: %v", err)
	}
	if _, err := retention.Run(ctx, conn, retention.Config{Catalog: cat}); err == nil {
		t.Error("no tracer: no error")
	}
	down := &fakeTracer{ReadyErr: errors.New("collector down")}
	if _, err := retention.Run(ctx, conn, retention.Config{Catalog: cat, Tracer: down, Now: reference()}); err == nil || len(down.Events()) > 0 {
		t.Errorf("audit trail down: err %v, %d events", err, len(down.Events()))
	}
	missing, err := rules.ParseCatalog([]byte(`
tables:
  public.messages:
    timestamp: created_at
    columns: {nope: phone}
    retention: [{after: 1d, redact: {nope: last4}}]
  public.gone:
    timestamp: t
    columns: {c: phone}
    retention: [{after: 1d, redact: {c: last4}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = retention.Run(ctx, conn, retention.Config{Catalog: missing, Tracer: &fakeTracer{}})
	if !errors.Is(err, retention.ErrSchema) || !strings.Contains(err.Error(), "public.gone") || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing table and column: %v", err)
	}
	if err := srv.Exec(ctx, db, "CREATE TABLE public.nokey (t timestamptz, c text)"); err != nil {
		t.Fatal(err)
	}
	nokey, _ := rules.ParseCatalog([]byte("tables:\n  public.nokey:\n    timestamp: t\n    columns: {c: phone}\n    retention: [{after: 1d, redact: {c: last4}}]\n"))
	if _, err := retention.Run(ctx, conn, retention.Config{Catalog: nokey, Tracer: &fakeTracer{}}); !errors.Is(err, retention.ErrSchema) || !strings.Contains(err.Error(), "primary key") {
		t.Errorf("no primary key: %v", err)
	}
}
