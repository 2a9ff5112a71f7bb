package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/demo"
	"github.com/pgveil/pgveil/rules/demo/leakcheck"
)

// The leak oracle (DESIGN.md, Tests): load a fixture whose every
// personal-data value is known, run a corpus of hostile statements as a
// masked identity over the simple and the extended protocol, in text and
// binary format, and assert that no such value, nor a telltale fragment of
// one, appears in any byte the client received.

// corpusEntry is one entry of proxy/analyze/testdata/*.sql.
type corpusEntry struct {
	name, vector, sql string
}

func loadCorpus(t *testing.T, path string) []corpusEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusEntry
	var cur *corpusEntry
	inSQL := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "-- name: "); ok {
			out = append(out, corpusEntry{name: strings.TrimSpace(name)})
			cur, inSQL = &out[len(out)-1], false
			continue
		}
		if cur == nil {
			continue
		}
		if !inSQL {
			if v, ok := strings.CutPrefix(line, "-- vector: "); ok {
				cur.vector = v
				continue
			}
			if strings.HasPrefix(line, "-- ") || strings.TrimSpace(line) == "" || line == "--" {
				continue
			}
			inSQL = true
		}
		cur.sql += line + "\n"
	}
	for i := range out {
		out[i].sql = strings.TrimSpace(out[i].sql)
	}
	return out
}

// dataFields splits a stream of backend messages into the fields that can
// carry data values: DataRow values, CopyData rows, error and notice fields,
// notification payloads. RowDescription (names the client or the schema
// chose), command tags and parameter status carry none.
func dataFields(stream []byte) (fields [][]byte, kinds []string) {
	for len(stream) >= 5 {
		typ := stream[0]
		l := int(uint32(stream[1])<<24 | uint32(stream[2])<<16 | uint32(stream[3])<<8 | uint32(stream[4]))
		if l < 4 || len(stream) < 1+l {
			fields = append(fields, stream)
			kinds = append(kinds, "truncated")
			return
		}
		body := stream[5 : 1+l]
		stream = stream[1+l:]
		switch typ {
		case 'D':
			if len(body) < 2 {
				continue
			}
			n := int(body[0])<<8 | int(body[1])
			b := body[2:]
			for range n {
				if len(b) < 4 {
					break
				}
				vl := int32(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
				b = b[4:]
				if vl > 0 && int(vl) <= len(b) {
					fields = append(fields, b[:vl])
					kinds = append(kinds, "DataRow")
					b = b[vl:]
				}
			}
		case 'd':
			fields = append(fields, body)
			kinds = append(kinds, "CopyData")
		case 'E', 'N':
			for len(body) > 1 && body[0] != 0 {
				i := bytes.IndexByte(body[1:], 0)
				if i < 0 {
					break
				}
				fields = append(fields, body[1:1+i])
				kinds = append(kinds, fmt.Sprintf("%c field %c", typ, body[0]))
				body = body[2+i:]
			}
		case 'A':
			fields = append(fields, body)
			kinds = append(kinds, "Notification")
		}
	}
	return
}

// findLeak returns a description of the first personal value found in the
// data-bearing fields of stream, or "".
func findLeak(ix *leakcheck.Index, stream []byte) string {
	fields, kinds := dataFields(stream)
	for i, f := range fields {
		if v, frag := ix.Find(f); v != "" {
			return fmt.Sprintf("personal value %q (fragment %q) in %s %.200q", v, frag, kinds[i], f)
		}
	}
	return ""
}

// benignText is text that proves nothing when it reaches the client: the
// SQL the client itself sent, the schema's names, pgveil's own messages.
func benignText(t *testing.T, corpora ...[]corpusEntry) []byte {
	var b bytes.Buffer
	for _, c := range corpora {
		for _, e := range c {
			b.WriteString(e.sql)
			b.WriteByte('\n')
		}
	}
	b.Write(demo.RulesYAML)
	for _, tbl := range demo.Tables() {
		b.WriteString(tbl + "\n")
	}
	for _, dir := range []string{".", "analyze", "../rules"} {
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			if strings.HasSuffix(f.Name(), ".go") && !strings.HasSuffix(f.Name(), "_test.go") {
				src, err := os.ReadFile(dir + "/" + f.Name())
				if err != nil {
					t.Fatal(err)
				}
				b.Write(src)
			}
		}
	}
	return b.Bytes()
}

// recorder keeps every byte a client connection reads.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

type recConn struct {
	net.Conn
	rec *recorder
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rec.mu.Lock()
	c.rec.buf.Write(p[:n])
	c.rec.mu.Unlock()
	return n, err
}

func (r *recorder) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := bytes.Clone(r.buf.Bytes())
	r.buf.Reset()
	return b
}

// recordingConn connects and records everything the client receives.
func recordingConn(ctx context.Context, t *testing.T, cs string) (*pgconn.PgConn, *recorder) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(cs)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	var d net.Dialer
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recConn{Conn: c, rec: rec}, nil
	}
	cfg.OnNotice = func(*pgconn.PgConn, *pgconn.Notice) {}
	c, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	rec.take() // startup
	return c, rec
}

// runEntry runs one corpus entry in one protocol variant and returns how
// many of its statements were refused by pgveil.
func runEntry(ctx context.Context, c *pgconn.PgConn, e corpusEntry, variant string) (refused int) {
	countRefusal := func(err error) {
		if pe, ok := err.(*pgconn.PgError); ok && strings.HasPrefix(pe.Message, "pgveil") {
			refused++
		}
	}
	isCopyOut := func(q string) bool {
		u := strings.ToUpper(q)
		return strings.HasPrefix(strings.TrimSpace(u), "COPY") && strings.Contains(u, "STDOUT")
	}
	switch variant {
	case "simple":
		if isCopyOut(e.sql) {
			stmts, err := pg_query.SplitWithParser(e.sql, true)
			if err != nil {
				stmts = []string{e.sql}
			}
			for _, q := range stmts {
				var err error
				if isCopyOut(q) {
					_, err = c.CopyTo(ctx, io.Discard, q)
				} else {
					_, err = c.Exec(ctx, q).ReadAll()
				}
				countRefusal(err)
			}
			break
		}
		results, err := c.Exec(ctx, e.sql).ReadAll()
		for _, r := range results {
			countRefusal(r.Err)
		}
		if err != nil {
			countRefusal(err)
		}
	default:
		stmts, err := pg_query.SplitWithParser(e.sql, true)
		if err != nil {
			stmts = []string{e.sql}
		}
		var formats []int16
		if variant == "binary" {
			formats = []int16{1}
		}
		for _, s := range stmts {
			if isCopyOut(s) {
				_, err := c.CopyTo(ctx, io.Discard, s)
				countRefusal(err)
				continue
			}
			// Prepare + Describe, then Exec by name with a cached
			// description, as pgx does.
			sd, err := c.Prepare(ctx, "", s, nil)
			if err != nil {
				countRefusal(err)
				continue
			}
			args := make([][]byte, len(sd.ParamOIDs))
			rr := c.ExecPrepared(ctx, "", args, nil, formats).Read()
			countRefusal(rr.Err)
		}
	}
	// Leave no transaction open for the next entry.
	c.Exec(ctx, "ROLLBACK").ReadAll()
	return refused
}

// runRaw runs an entry on a hijacked connection, message by message:
// "nodescribe" sends Parse, Bind (binary results) and Execute with no
// Describe at all, each statement with its own Sync; "pipeline" sends every
// statement's Parse/Bind/Execute back to back and one Sync at the end.
func runRaw(t *testing.T, conn net.Conn, fe *pgproto3.Frontend, e corpusEntry, variant string) (refused int) {
	stmts, err := pg_query.SplitWithParser(e.sql, true)
	if err != nil {
		stmts = []string{e.sql}
	}
	readUntilReady := func(n int) {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		defer conn.SetReadDeadline(time.Time{})
		for n > 0 {
			m, err := fe.Receive()
			if err != nil {
				t.Fatalf("%s: receive: %v", e.name, err)
			}
			switch m := m.(type) {
			case *pgproto3.ReadyForQuery:
				n--
			case *pgproto3.ErrorResponse:
				if strings.HasPrefix(m.Message, "pgveil") {
					refused++
				}
			}
		}
	}
	for _, s := range stmts {
		fe.Send(&pgproto3.Parse{Query: s})
		fe.Send(&pgproto3.Bind{ResultFormatCodes: []int16{1}})
		fe.Send(&pgproto3.Execute{})
		if variant == "nodescribe" {
			fe.Send(&pgproto3.Sync{})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
			readUntilReady(1)
		}
	}
	if variant == "pipeline" {
		fe.Send(&pgproto3.Sync{})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		readUntilReady(1)
	}
	fe.Send(&pgproto3.Query{String: "ROLLBACK"})
	fe.Flush()
	readUntilReady(1)
	return refused
}

// hijackedRecording connects with a recorder and hands the raw connection
// over for message-level scripts.
func hijackedRecording(ctx context.Context, t *testing.T, cs string) (net.Conn, *pgproto3.Frontend, *recorder) {
	c, rec := recordingConn(ctx, t, cs)
	h, err := c.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Conn.Close() })
	return h.Conn, h.Frontend, rec
}

// strictDecision masks every category with a mask that keeps no fragment of
// the value, so that any fragment the client receives is a leak.
var strictDecision = rules.Decision{Allow: true, Revision: "test-strict",
	Masks: map[string]string{
		"name": "redact", "email": "redact", "phone": "null", "birth_date": "redact", "address": "redact",
		"message_body": "null", "free_text": "redact", "ip_address": "null", "user_agent": "redact",
	}}

func TestLeakOracle(t *testing.T) {
	pg, ds := requireDemo(t)
	corpus := loadCorpus(t, "analyze/testdata/hostile.sql")
	ix := leakcheck.New(ds, benignText(t, corpus))
	if len(corpus) < 150 {
		t.Fatalf("hostile corpus has %d entries, want at least 150", len(corpus))
	}
	p := maskingProxy(t, pg, fixedDecider{"analyst": strictDecision})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	refusedEntries := map[string]bool{}
	leaks := 0
	for _, variant := range []string{"simple", "text", "binary", "nodescribe", "pipeline"} {
		var c *pgconn.PgConn
		var conn net.Conn
		var fe *pgproto3.Frontend
		var rec *recorder
		if variant == "nodescribe" || variant == "pipeline" {
			conn, fe, rec = hijackedRecording(ctx, t, demoDSN(p.addr, "analyst"))
		} else {
			c, rec = recordingConn(ctx, t, demoDSN(p.addr, "analyst"))
		}
		for _, e := range corpus {
			var n int
			if c != nil {
				n = runEntry(ctx, c, e, variant)
			} else {
				n = runRaw(t, conn, fe, e, variant)
			}
			if n > 0 {
				refusedEntries[e.name] = true
			}
			if leak := findLeak(ix, rec.take()); leak != "" {
				leaks++
				t.Errorf("LEAK [%s] %s (%s): %s", variant, e.name, e.vector, leak)
			}
			if c != nil && c.IsClosed() {
				t.Fatalf("[%s] %s: the session was closed", variant, e.name)
			}
		}
	}
	// pgveil's own log output (at debug level) carries no personal data
	// either, whatever the statements did.
	logs := p.logs.String()
	if v, frag := ix.Find([]byte(logs)); v != "" {
		t.Errorf("LEAK in pgveil's log: personal value %q (fragment %q)", v, frag)
	}
	t.Logf("pgveil logged %d lines, no personal value in them", strings.Count(logs, "\n"))
	names := make([]string, 0, len(refusedEntries))
	for n := range refusedEntries {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d entries x 5 variants, %d leaks, %d entries with a refused statement: %v", len(corpus), leaks, len(refusedEntries), names)
}

// TestLeakOracleDetects proves the oracle can fail: the same corpus run by
// an identity that sees everything must be flagged, in every kind of field.
func TestLeakOracleDetects(t *testing.T) {
	pg, ds := requireDemo(t)
	corpus := loadCorpus(t, "analyze/testdata/hostile.sql")
	ix := leakcheck.New(ds, benignText(t, corpus))
	p := maskingProxy(t, pg, fixedDecider{"analyst": revealAllDecision})
	ctx := testCtx(t)
	c, rec := recordingConn(ctx, t, demoDSN(p.addr, "analyst"))
	flagged := map[string]bool{}
	for _, e := range corpus {
		runEntry(ctx, c, e, "simple")
		if findLeak(ix, rec.take()) != "" {
			flagged[e.name] = true
		}
	}
	for _, must := range []string{"plain_column", "expr_lower", "whole_row_to_json", "copy_table_stdout", "copy_query_stdout_csv", "expr_cast_error_echo"} {
		e, known := findEntry(corpus, must)
		if !known {
			t.Errorf("corpus has no entry %s", must)
			continue
		}
		// A fresh session: earlier entries may have shadowed tables with
		// temporary ones (an unmasked identity may create them).
		fresh, frec := recordingConn(ctx, t, demoDSN(p.addr, "analyst"))
		runEntry(ctx, fresh, e, "simple")
		if findLeak(ix, frec.take()) == "" {
			t.Errorf("unmasked %s was not flagged as a leak", must)
		}
	}
	if len(flagged) < len(corpus)/3 {
		t.Errorf("only %d of %d entries flagged without masking", len(flagged), len(corpus))
	}
	t.Logf("without masking, %d of %d entries leak", len(flagged), len(corpus))
}

func findEntry(corpus []corpusEntry, name string) (corpusEntry, bool) {
	for _, e := range corpus {
		if e.name == name {
			return e, true
		}
	}
	return corpusEntry{}, false
}

// TestPassThroughIdentical runs the corpus as an identity that sees
// everything, through pgveil and directly, and requires byte-identical
// results.
func TestPassThroughIdentical(t *testing.T) {
	pg, _ := requireDemo(t)
	corpus := loadCorpus(t, "analyze/testdata/hostile.sql")
	p := maskingProxy(t, pg, fixedDecider{"dpo": revealAllDecision})
	ctx := testCtx(t)
	for _, variant := range []string{"simple", "text", "binary"} {
		viaProxy, recP := recordingConn(ctx, t, demoDSN(p.addr, "dpo"))
		direct, recD := recordingConn(ctx, t, demoDSN(pg.Addr(), "dpo"))
		for _, e := range corpus {
			runEntry(ctx, viaProxy, e, variant)
			runEntry(ctx, direct, e, variant)
			got, want := recP.take(), recD.take()
			if !bytes.Equal(got, want) && !nondeterministic[e.name] {
				t.Errorf("[%s] %s: through pgveil %d bytes, direct %d bytes\n%s", variant, e.name, len(got), len(want), firstDiff(got, want))
			}
		}
	}
}

// nondeterministic entries return values that differ between any two
// sessions (backend PIDs, other sessions' activity, timings).
var nondeterministic = map[string]bool{
	"star_only":                 true, // TABLESAMPLE picks random blocks
	"catalog_pg_stat_activity":  true, // other sessions' activity
	"catalog_stat_get_activity": true, // other sessions' activity
	"system_columns":            true, // tableoid of a temp table an earlier entry created in each session
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-40)
	return fmt.Sprintf("at %d:\n  pgveil: %q\n  direct: %q", i, a[lo:min(len(a), i+80)], b[lo:min(len(b), i+80)])
}

// TestScrubErrorsAndNotices covers the echo vectors that need writes or a
// second session: a unique violation's DETAIL, a trigger's RAISE NOTICE, a
// NOTIFY payload, and a data exception's message.
func TestScrubErrorsAndNotices(t *testing.T) {
	pg, ds := requireDemo(t)
	ctx := testCtx(t)
	corpus := loadCorpus(t, "analyze/testdata/hostile.sql")
	ix := leakcheck.New(ds, benignText(t, corpus))
	var email, name string
	for _, p := range ds.Personal() {
		if p.Table == "public.customers" && p.Column == "email" && email == "" {
			email = p.Value
		}
		if p.Table == "public.customers" && p.Column == "full_name" && name == "" {
			name = p.Value
		}
	}
	super, err := pgconn.Connect(ctx, pg.SuperDSN(demoDB))
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	if _, err := super.Exec(ctx, `
		CREATE TABLE IF NOT EXISTS public.scrub_audit(note text);
		GRANT INSERT, SELECT ON public.scrub_audit TO app_service;
		CREATE OR REPLACE FUNCTION public.scrub_notice() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE NOTICE 'new row for %', (SELECT full_name FROM customers ORDER BY id LIMIT 1); RETURN NEW; END $$;
		DROP TRIGGER IF EXISTS scrub_notice ON public.scrub_audit;
		CREATE TRIGGER scrub_notice BEFORE INSERT ON public.scrub_audit FOR EACH ROW EXECUTE FUNCTION public.scrub_notice();`).ReadAll(); err != nil {
		t.Fatal(err)
	}
	p := maskingProxy(t, pg, fixedDecider{"app_service": strictDecision, "analyst": strictDecision})
	c, rec := recordingConn(ctx, t, demoDSN(p.addr, "app_service"))
	// Unique violation: Postgres puts the duplicate value in DETAIL.
	_, err = c.Exec(ctx, "BEGIN; INSERT INTO customers (id, full_name, email, country, marketing_opt_in, created_at) "+
		"SELECT 999999, 'x', email, 'DE', false, now() FROM customers ORDER BY id LIMIT 1; ROLLBACK").ReadAll()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		t.Fatalf("want a unique violation (23505), got %v", err)
	}
	if strings.Contains(pe.Detail, "@") || strings.Contains(pe.Message, "@") {
		t.Errorf("unique violation echoes the value: %q / %q", pe.Message, pe.Detail)
	}
	c.Exec(ctx, "ROLLBACK").ReadAll()
	// A trigger with RAISE NOTICE: the write runs user code, so pgveil
	// refuses it for an identity with masks.
	_, err = c.Exec(ctx, "INSERT INTO scrub_audit VALUES ('hello')").ReadAll()
	if !errors.As(err, &pe) || pe.Code != codeInsufficientPriv {
		t.Errorf("write to a table with a trigger: want refusal 42501, got %v", err)
	}
	// A data exception that would echo a value.
	_, err = c.Exec(ctx, "SELECT full_name::int FROM customers").ReadAll()
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Code, "22") {
		t.Errorf("want a data exception, got %v", err)
	}
	if leak := findLeak(ix, rec.take()); leak != "" {
		t.Errorf("LEAK: %s", leak)
	}
	// NOTIFY: a masked listener gets the notification without its payload.
	l, lrec := recordingConn(ctx, t, demoDSN(p.addr, "analyst"))
	if _, err := l.Exec(ctx, "LISTEN pii").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := super.Exec(ctx, "SELECT pg_notify('pii', '"+strings.ReplaceAll(email, "'", "''")+" "+strings.ReplaceAll(name, "'", "''")+"')").ReadAll(); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := l.WaitForNotification(wctx); err != nil {
		t.Fatalf("no notification: %v", err)
	}
	if leak := findLeak(ix, lrec.take()); leak != "" {
		t.Errorf("LEAK in notification: %s", leak)
	}
	// The same notification reaches a reveal-all identity intact.
	p2 := maskingProxy(t, pg, fixedDecider{"dpo": revealAllDecision})
	var got string
	cfg, _ := pgconn.ParseConfig(demoDSN(p2.addr, "dpo"))
	cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) { got = n.Payload }
	d, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	d.Exec(ctx, "LISTEN pii").ReadAll()
	super.Exec(ctx, "NOTIFY pii, 'plain payload'").ReadAll()
	if err := d.WaitForNotification(wctx); err != nil || got != "plain payload" {
		t.Errorf("reveal-all listener: payload %q, err %v", got, err)
	}
}

// TestAnalyticRefusals runs the realistic analytic query set as an analyst
// and counts refusals: pgveil masks derived values instead of refusing, so
// fewer than 5% may be refused. Every query must also leak nothing.
func TestAnalyticRefusals(t *testing.T) {
	pg, ds := requireDemo(t)
	corpus := loadCorpus(t, "analyze/testdata/analytic.sql")
	if len(corpus) < 50 {
		t.Fatalf("analytic set has %d queries, want at least 50", len(corpus))
	}
	ix := leakcheck.New(ds, benignText(t, corpus, loadCorpus(t, "analyze/testdata/hostile.sql")))
	p := maskingProxy(t, pg, fixedDecider{"analyst": strictDecision})
	ctx := testCtx(t)
	c, rec := recordingConn(ctx, t, demoDSN(p.addr, "analyst"))
	var refused []string
	for _, e := range corpus {
		if runEntry(ctx, c, e, "text") > 0 {
			refused = append(refused, e.name)
		}
		if leak := findLeak(ix, rec.take()); leak != "" {
			t.Errorf("LEAK %s: %s", e.name, leak)
		}
	}
	rate := float64(len(refused)) / float64(len(corpus))
	t.Logf("%d of %d analytic queries refused (%.1f%%): %v", len(refused), len(corpus), 100*rate, refused)
	if rate >= 0.05 {
		t.Errorf("refusal rate %.1f%%, want < 5%%", 100*rate)
	}
}

// TestStorageChannels covers builtins that keep a value where a later
// statement reads it back with no lineage: a sequence (setval, read back
// with currval), the random generator's seed (setseed, then random()) and
// advisory lock keys (pg_locks). Each channel writes a value computed from one customer's
// e-mail address and reads it back. Run directly (as dpo, who sees
// everything) the read-back value is the encoded address; through pgveil,
// for an identity that sees e-mail addresses masked, the write must be
// refused before it reaches Postgres, and the read-back must then differ.
func TestStorageChannels(t *testing.T) {
	pg, _ := requireDemo(t)
	p := maskingProxy(t, pg, fixedDecider{"analyst": strictDecision})
	ctx := testCtx(t)
	const row = "FROM customers WHERE id = 7"
	channels := []struct {
		name, setup, write, read string
	}{
		{"setval", "CREATE TEMP SEQUENCE leak_seq",
			"SELECT setval('leak_seq', ('x' || encode(substr(convert_to(email, 'UTF8'), 1, 7), 'hex'))::bit(56)::bigint) " + row,
			"SELECT currval('leak_seq')::text"},
		{"setseed", "",
			"SELECT setseed(ascii(email) / 256.0) " + row,
			"SELECT random()::text"},
		{"advisory_lock", "",
			"SELECT pg_advisory_lock(('x' || encode(substr(convert_to(email, 'UTF8'), 1, 4), 'hex'))::bit(32)::int) " + row,
			"SELECT coalesce(string_agg(objid::text, ','), '') FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"},
	}
	run := func(c *pgconn.PgConn, ch int) (read string, writeErr error) {
		x := channels[ch]
		if x.setup != "" {
			if _, err := c.Exec(ctx, x.setup).ReadAll(); err != nil {
				t.Fatalf("%s: setup: %v", x.name, err)
			}
		}
		_, writeErr = c.Exec(ctx, x.write).ReadAll()
		res, err := c.Exec(ctx, x.read).ReadAll()
		if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
			// currval before any setval: nothing was stored.
			return fmt.Sprintf("(no value: %v)", err), writeErr
		}
		return string(res[0].Rows[0][0]), writeErr
	}
	for i, x := range channels {
		direct, _ := recordingConn(ctx, t, pg.DSN("dpo", "dpo-demo", demoDB))
		leaked, err := run(direct, i)
		if err != nil || strings.HasPrefix(leaked, "(no value") {
			t.Fatalf("%s directly: %v %s", x.name, err, leaked)
		}
		direct.Close(ctx) // releases its advisory lock
		analyst, _ := recordingConn(ctx, t, demoDSN(p.addr, "analyst"))
		got, err := run(analyst, i)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" || !strings.HasPrefix(pe.Message, "pgveil") {
			t.Errorf("%s: the write was not refused by pgveil: %v", x.name, err)
		}
		if got == leaked {
			t.Errorf("LEAK %s: reads back %q, the value the write stored from the e-mail address", x.name, got)
		}
	}

	// pg_notify: pgveil empties a masked listener's payloads but keeps
	// channel names, so a channel named from the value carries it. The
	// listener here knows which channel to LISTEN on; an attacker would
	// LISTEN on every candidate.
	super := connect(ctx, t, pg.SuperDSN(demoDB))
	var channel string
	if err := super.QueryRow(ctx, "SELECT 'c_' || ascii(email) "+row).Scan(&channel); err != nil {
		t.Fatal(err)
	}
	for _, via := range []string{"direct", "pgveil"} {
		cs := demoDSN(p.addr, "analyst")
		if via == "direct" {
			cs = pg.DSN("dpo", "dpo-demo", demoDB)
		}
		cfg, err := pgconn.ParseConfig(cs)
		if err != nil {
			t.Fatal(err)
		}
		var heard []string
		cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) { heard = append(heard, n.Channel) }
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Exec(ctx, "LISTEN "+channel).ReadAll()
		_, werr := c.Exec(ctx, "SELECT pg_notify('c_' || ascii(email), '') "+row).ReadAll()
		c.Exec(ctx, "SELECT 1").ReadAll()
		c.Close(ctx)
		switch {
		case via == "direct" && !slices.Contains(heard, channel):
			t.Fatalf("directly, the listener did not hear %s: %v %v", channel, heard, werr)
		case via == "pgveil" && slices.Contains(heard, channel):
			t.Errorf("LEAK pg_notify: the listener heard channel %s, named from the e-mail address", channel)
		case via == "pgveil" && werr == nil:
			t.Errorf("pg_notify: the write was not refused by pgveil")
		}
	}
}

// TestNoPseudonymOfChosenValues: a hash mask must never pseudonymise a
// value the client chose. Otherwise a client that sees e-mail addresses as
// keyed pseudonyms could pass a guess through the same mask (a UNION ALL
// branch, a CASE branch, coalesce) and compare: an equal pseudonym confirms
// the guess, for any number of guesses per query. Nor may it pseudonymise a
// comparison with a guess (email = 'guess' per row). Such outputs are
// probes (rules.Output.Probe) and get redact.
func TestNoPseudonymOfChosenValues(t *testing.T) {
	pg, ds := requireDemo(t)
	p := maskingProxy(t, pg, fixedDecider{"analyst": analystDecision})
	ctx := testCtx(t)
	c0 := ds.Customers[0]
	lit := "'" + strings.ReplaceAll(c0.Email, "'", "''") + "'"
	where := fmt.Sprintf(" FROM customers WHERE id = %d", c0.ID)
	analyst, _ := recordingConn(ctx, t, demoDSN(p.addr, "analyst"))
	value := func(q string) []string {
		res, err := analyst.Exec(ctx, q).ReadAll()
		if err != nil || len(res) != 1 || res[0].Err != nil {
			t.Fatalf("%s: %v %v", q, err, res)
		}
		var vals []string
		for _, r := range res[0].Rows {
			vals = append(vals, string(r[0]))
		}
		return vals
	}
	real := value("SELECT email" + where)
	if len(real) != 1 || !strings.HasPrefix(real[0], "h_") {
		t.Fatalf("the e-mail address is not pseudonymised: %q", real)
	}
	// A relation named like the address puts the guess in pg_class.
	if _, err := analyst.Exec(ctx, `CREATE TEMP TABLE "`+strings.ReplaceAll(c0.Email, `"`, `""`)+`" ()`).ReadAll(); err != nil {
		t.Fatal(err)
	}
	same := value("SELECT email" + where + " UNION ALL SELECT email" + where)
	if len(same) != 2 || same[0] != real[0] || same[1] != real[0] {
		t.Fatalf("a UNION ALL of classified values only should keep the pseudonym: %q", same)
	}
	for _, q := range []string{
		"SELECT email" + where + " UNION ALL SELECT " + lit,
		"SELECT CASE WHEN id < 0 THEN email ELSE " + lit + " END" + where,
		"SELECT coalesce(NULL, email, " + lit + ")" + where + " UNION ALL SELECT coalesce(NULL::text, " + lit + ")",
		"SELECT (email = " + lit + ")::text" + where,
		"SELECT left(email, 1)" + where,
		// Guesses from unclassified columns: a catalog name the client
		// created, a character code from an unclassified column.
		"SELECT email" + where + " UNION ALL SELECT relname::text FROM pg_class WHERE relname = " + lit,
		fmt.Sprintf("SELECT (substr(c.email, 1, 1) = chr(k.id::int))::text FROM customers c, customers k WHERE c.id = %d AND k.id = 97", c0.ID),
	} {
		for _, v := range value(q) {
			if v == real[0] {
				t.Errorf("LEAK %s: a chosen value came back as the customer's pseudonym %q", q, v)
			}
			if strings.HasPrefix(v, "h_") { // the text hash mask's pseudonyms
				t.Errorf("%s: a probe came back pseudonymised: %q", q, v)
			}
		}
	}
}

// TestSessionCodeRefused: an identity with masks may not install code that
// later statements run before pgveil's schema snapshot knows it. Without
// this, a temporary function behind a temporary operator returned e-mail
// addresses in clear: the operator is unknown to the snapshot until its
// next refresh, so 'a' OPERATOR(pg_temp.@@@) 'b' looked like two constants.
// So did a temporary domain whose CHECK stores the value it checks
// (set_config), named d1 or even text (pg_temp comes first for types).
func TestSessionCodeRefused(t *testing.T) {
	pg, ds := requireDemo(t)
	p := maskingProxy(t, pg, fixedDecider{"analyst": strictDecision})
	ctx := testCtx(t)
	ix := leakcheck.New(ds, nil)
	analyst, rec := recordingConn(ctx, t, demoDSN(p.addr, "analyst"))
	for _, q := range []string{
		"CREATE FUNCTION pg_temp.leakf(text, text) RETURNS text LANGUAGE sql AS $$ SELECT email FROM customers ORDER BY id LIMIT 1 $$",
		"CREATE OPERATOR pg_temp.@@@ (function = pg_temp.leakf, leftarg = text, rightarg = text)",
		"CREATE TEMP TABLE leak_t (x text)",
		"CREATE TRIGGER leak_trg BEFORE INSERT ON leak_t FOR EACH ROW EXECUTE FUNCTION pg_temp.leakf()",
		"CREATE DOMAIN pg_temp.d1 AS text CHECK (set_config('my.x', VALUE, false) IS NOT NULL)",
		"CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (set_config('my.y', VALUE, false) IS NOT NULL)",
	} {
		_, err := analyst.Exec(ctx, q).ReadAll()
		var pe *pgconn.PgError
		refused := errors.As(err, &pe) && pe.Code == "42501" && strings.HasPrefix(pe.Message, "pgveil")
		if strings.HasPrefix(q, "CREATE TEMP TABLE") {
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		} else if !refused {
			t.Errorf("%s: not refused by pgveil: %v", q, err)
		}
	}
	analyst.Exec(ctx, "SELECT 'a' OPERATOR(pg_temp.@@@) 'b'").ReadAll()
	analyst.Exec(ctx, "SELECT email::d1 FROM customers ORDER BY id LIMIT 1").ReadAll()
	analyst.Exec(ctx, "SELECT email::text FROM customers ORDER BY id LIMIT 1").ReadAll()
	analyst.Exec(ctx, "SELECT current_setting('my.x', true), current_setting('my.y', true)").ReadAll()
	if leak := findLeak(ix, rec.take()); leak != "" {
		t.Errorf("LEAK: %s", leak)
	}
}

// TestCopyNullGuess: in text COPY, Postgres writes a value equal to the
// NULL string as it writes a NULL, so with the guess as the NULL string the
// masker could not tell the stored value from a NULL and passed it: each
// COPY confirmed a guess per row. pgveil refuses a chosen NULL string in
// text format when a masked column is copied out.
func TestCopyNullGuess(t *testing.T) {
	pg, ds := requireDemo(t)
	p := maskingProxy(t, pg, fixedDecider{"analyst": strictDecision})
	ctx := testCtx(t)
	c0 := ds.Customers[0]
	analyst, rec := recordingConn(ctx, t, demoDSN(p.addr, "analyst"))
	q := fmt.Sprintf("COPY (SELECT id, email FROM customers WHERE id = %d) TO STDOUT WITH (NULL '%s')", c0.ID, strings.ReplaceAll(c0.Email, "'", "''"))
	var out bytes.Buffer
	_, err := analyst.CopyTo(ctx, &out, q)
	got := string(rec.take())
	if strings.Contains(out.String(), c0.Email) || strings.Contains(strings.ReplaceAll(got, q, ""), c0.Email) {
		t.Fatalf("LEAK: the guessed e-mail address came back from %s: %q", q, out.String())
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Fatalf("want a refusal (42501), got %v", err)
	}
	// The default NULL and CSV (which quotes a value equal to its NULL
	// string) still work.
	for _, ok := range []string{
		fmt.Sprintf("COPY (SELECT id, email FROM customers WHERE id = %d) TO STDOUT", c0.ID),
		fmt.Sprintf("COPY (SELECT id, email FROM customers WHERE id = %d) TO STDOUT WITH (FORMAT csv, NULL '%s')", c0.ID, strings.ReplaceAll(c0.Email, "'", "''")),
	} {
		out.Reset()
		if _, err := analyst.CopyTo(ctx, &out, ok); err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
		if strings.Contains(out.String(), c0.Email) {
			t.Fatalf("LEAK %s: %q", ok, out.String())
		}
	}
}
