package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/proxy/pgtest"
)

// A scenario drives one pgx feature and describes everything it observed as
// text, so that the same scenario run directly and through the proxy can be
// compared byte for byte.
type scenario func(ctx context.Context, t *testing.T, connString string) string

var pgxScenarios = map[string]scenario{
	"simple protocol, multi-statement": func(ctx context.Context, t *testing.T, cs string) string {
		conn := connect(ctx, t, cs)
		results, err := conn.PgConn().Exec(ctx, `select 1 as a, 'x' as b; create temp table t(id int primary key, v text);
			insert into t values (1,'one'),(2,'two'); select * from t order by id; select; update t set v = v || '!' returning *`).ReadAll()
		return describeResults(results, err)
	},
	"simple protocol mode with parameters": func(ctx context.Context, t *testing.T, cs string) string {
		conn := connect(ctx, t, cs)
		var out strings.Builder
		rows, err := conn.Query(ctx, "select $1::int + 1, $2::text, $3::date", pgx.QueryExecModeSimpleProtocol, 41, "it's", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
		out.WriteString(describeRows(rows, err))
		return out.String()
	},
	"extended protocol, cached statements, binary formats": func(ctx context.Context, t *testing.T, cs string) string {
		conn := connect(ctx, t, cs)
		var out strings.Builder
		// The second and third runs reuse the cached statement: pgx skips
		// Describe and relies on the first RowDescription.
		for i := range 3 {
			rows, err := conn.Query(ctx, `select $1::int8 + g, g::numeric / 7, now() > '2000-01-01', '2026-11-23 10:00:00+00'::timestamptz,
				'\xdeadbeef'::bytea, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"k": [1, 2]}'::jsonb, array[1,2,3], '10.1.2.3/24'::inet,
				3.25::float8, null::text from generate_series(1, 3) g`, i)
			out.WriteString(describeRows(rows, err))
		}
		return out.String()
	},
	"query exec modes": func(ctx context.Context, t *testing.T, cs string) string {
		conn := connect(ctx, t, cs)
		var out strings.Builder
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
			pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
			rows, err := conn.Query(ctx, "select $1::text || 'x', $2::int * 2", mode, "a", 21)
			out.WriteString(describeRows(rows, err))
		}
		return out.String()
	},
	"batch": func(ctx context.Context, t *testing.T, cs string) string {
		conn := connect(ctx, t, cs)
		b := &pgx.Batch{}
		b.Queue("create temp table bt(id int primary key)")
		b.Queue("insert into bt values (1), (2)")
		b.Queue("select count(*) from bt")
		b.Queue("insert into bt values (1)") // unique violation
		b.Queue("select 'not reached'")
		br := conn.SendBatch(ctx, b)
		var out strings.Builder
		for range 5 {
			rows, err := br.Query()
			out.WriteString(describeRows(rows, err))
		}
		fmt.Fprintf(&out, "close: %v\n", errSummary(br.Close()))
		var n int
		err := conn.QueryRow(ctx, "select 1").Scan(&n)
		fmt.Fprintf(&out, "after batch: %d %v\n", n, errSummary(err))
		return out.String()
	},
	"pipeline": func(ctx context.Context, t *testing.T, cs string) string {
		conn := connect(ctx, t, cs)
		pc := conn.PgConn()
		p := pc.StartPipeline(ctx)
		p.SendPrepare("ps1", "select $1::int * 3 as x", nil)
		p.SendDeallocate("ps1")
		p.SendQueryParams("select $1::text as t", [][]byte{[]byte("hello")}, nil, nil, nil)
		p.SendQueryParams("select generate_series(1, $1::int)", [][]byte{[]byte("5")}, nil, nil, []int16{1})
		p.SendPipelineSync()
		p.SendQueryParams("select 1/0", nil, nil, nil, nil)
		p.SendPipelineSync()
		p.SendQueryParams("select 'after error'", nil, nil, nil, nil)
		p.SendPipelineSync()
		var out strings.Builder
		for i := 0; i < 50; i++ {
			res, err := p.GetResults()
			if err != nil {
				fmt.Fprintf(&out, "err: %v\n", errSummary(err))
				continue
			}
			if res == nil {
				break
			}
			switch r := res.(type) {
			case *pgconn.StatementDescription:
				fmt.Fprintf(&out, "prepared %s params=%v fields=%d\n", r.Name, r.ParamOIDs, len(r.Fields))
			case *pgconn.ResultReader:
				rr := r.Read()
				fmt.Fprintf(&out, "result %s rows=%q err=%v\n", rr.CommandTag, rr.Rows, errSummary(rr.Err))
			case *pgconn.PipelineSync:
				out.WriteString("sync\n")
			case *pgconn.CloseComplete:
				out.WriteString("close complete\n")
			default:
				fmt.Fprintf(&out, "%T\n", r)
			}
		}
		fmt.Fprintf(&out, "close: %v\n", errSummary(p.Close()))
		return out.String()
	},
	"copy from and to": func(ctx context.Context, t *testing.T, cs string) string {
		conn := connect(ctx, t, cs)
		var out strings.Builder
		if _, err := conn.Exec(ctx, "create temp table cp(id int, name text, at timestamptz)"); err != nil {
			t.Fatal(err)
		}
		rows := make([][]any, 5000)
		for i := range rows {
			rows[i] = []any{i, fmt.Sprintf("name-%d\t\\ \"q\"", i), time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)}
		}
		n, err := conn.CopyFrom(ctx, pgx.Identifier{"cp"}, []string{"id", "name", "at"}, pgx.CopyFromRows(rows))
		fmt.Fprintf(&out, "copied in %d %v\n", n, errSummary(err))
		for _, q := range []string{
			"copy cp to stdout",
			"copy (select * from cp where id < 100 order by id) to stdout with (format csv, header)",
			"copy cp to stdout with (format binary)",
		} {
			var buf bytes.Buffer
			tag, err := conn.PgConn().CopyTo(ctx, &buf, q)
			fmt.Fprintf(&out, "%s: %s %d bytes crc %x %v\n", q, tag, buf.Len(), crc(buf.Bytes()), errSummary(err))
		}
		// Text COPY FROM STDIN through the simple protocol.
		tag, err := conn.PgConn().CopyFrom(ctx, strings.NewReader("1\tone\n2\ttwo\n"), "copy cp(id, name) from stdin")
		fmt.Fprintf(&out, "copy from stdin: %s %v\n", tag, errSummary(err))
		// A COPY the server rejects half-way.
		tag, err = conn.PgConn().CopyFrom(ctx, strings.NewReader("3\tthree\nnot-a-number\tx\n"), "copy cp(id, name) from stdin")
		fmt.Fprintf(&out, "bad copy: %s %v\n", tag, errSummary(err))
		var count int
		err = conn.QueryRow(ctx, "select count(*) from cp").Scan(&count)
		fmt.Fprintf(&out, "count %d %v\n", count, errSummary(err))
		return out.String()
	},
	"listen notify": func(ctx context.Context, t *testing.T, cs string) string {
		l := connect(ctx, t, cs)
		n := connect(ctx, t, cs)
		if _, err := l.Exec(ctx, "listen chan_a"); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Exec(ctx, "notify chan_a, 'payload one'"); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Exec(ctx, "select pg_notify('chan_a', 'payload two')"); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		for range 2 {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			nt, err := l.WaitForNotification(wctx)
			cancel()
			if err != nil {
				fmt.Fprintf(&out, "wait: %v\n", errSummary(err))
				continue
			}
			fmt.Fprintf(&out, "%s %s\n", nt.Channel, nt.Payload)
		}
		return out.String()
	},
	"cancel through context": func(ctx context.Context, t *testing.T, cs string) string {
		conn := connect(ctx, t, cs)
		qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := conn.Exec(qctx, "select pg_sleep(20)")
		took := time.Since(start)
		var out strings.Builder
		fmt.Fprintf(&out, "canceled: %v quick=%v\n", errSummary(err), took < 5*time.Second)
		return out.String()
	},
	"errors and notices": func(ctx context.Context, t *testing.T, cs string) string {
		var notices []string
		cfg, err := pgx.ParseConfig(cs)
		if err != nil {
			t.Fatal(err)
		}
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Severity+": "+n.Message) }
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		var out strings.Builder
		for _, q := range []string{
			"selec 1",
			"select 'abc'::int",
			"create temp table u(e text unique); insert into u values ('a'), ('a')",
			"do $$ begin raise notice 'hello %', 42; end $$",
			"drop table if exists no_such_table",
		} {
			_, err := conn.Exec(ctx, q)
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				fmt.Fprintf(&out, "%s: %s %s %q %q pos=%d\n", q, pe.Severity, pe.Code, pe.Message, pe.Detail, pe.Position)
			} else {
				fmt.Fprintf(&out, "%s: %v\n", q, err)
			}
		}
		fmt.Fprintf(&out, "notices: %q\n", notices)
		return out.String()
	},
	"transactions and parameter status": func(ctx context.Context, t *testing.T, cs string) string {
		conn := connect(ctx, t, cs)
		var out strings.Builder
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx.Exec(ctx, "create temp table tx1(x int)")
		_, err = tx.Exec(ctx, "select 1/0")
		fmt.Fprintf(&out, "in tx: %v status=%c\n", errSummary(err), conn.PgConn().TxStatus())
		fmt.Fprintf(&out, "rollback: %v\n", errSummary(tx.Rollback(ctx)))
		conn.Exec(ctx, "set application_name = 'pgveil-test-app'")
		conn.Exec(ctx, "set timezone = 'Europe/Berlin'")
		fmt.Fprintf(&out, "application_name=%s TimeZone=%s status=%c\n",
			conn.PgConn().ParameterStatus("application_name"), conn.PgConn().ParameterStatus("TimeZone"), conn.PgConn().TxStatus())
		return out.String()
	},
	"large result": func(ctx context.Context, t *testing.T, cs string) string {
		conn := connect(ctx, t, cs)
		rows, err := conn.Query(ctx, "select g, repeat(md5(g::text), 20), g * 1.5 from generate_series(1, 20000) g")
		if err != nil {
			t.Fatal(err)
		}
		var sum uint32
		var n int
		for rows.Next() {
			for _, v := range rows.RawValues() {
				sum = sum*31 + crc(v)
			}
			n++
		}
		// One value far larger than the read buffer.
		var big string
		err2 := conn.QueryRow(ctx, "select repeat('x', 3000000)").Scan(&big)
		return fmt.Sprintf("rows=%d sum=%x err=%v big=%d %v\n", n, sum, errSummary(rows.Err()), len(big), errSummary(err2))
	},
}

// TestPgx runs every pgx scenario directly and through the proxy, over
// plaintext and TLS, with SCRAM and MD5 users, and requires the same
// observations.
func TestPgx(t *testing.T) {
	pg := pgtest.Require(t)
	plain := startProxy(t, pg)
	tlsProxy := startProxy(t, pg, withTLS(t, pg, true))
	upTLS := startProxy(t, pg, withUpstreamTLS(t, pg))

	type variant struct {
		name   string
		addr   string
		user   string
		params []string
	}
	variants := []variant{
		{"plaintext/scram", plain.addr, scramUser, nil},
		{"plaintext/md5", plain.addr, md5User, nil},
		{"tls/scram", tlsProxy.addr, scramUser, []string{"sslmode=verify-full", "sslrootcert=" + tlsProxy.caFile}},
		{"tls/md5", tlsProxy.addr, md5User, []string{"sslmode=verify-full", "sslrootcert=" + tlsProxy.caFile}},
		{"upstream-tls/scram", upTLS.addr, scramUser, nil},
	}
	for name, sc := range pgxScenarios {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			want := sc(ctx, t, dsn(pg.Addr(), scramUser, "postgres"))
			for _, v := range variants {
				got := sc(ctx, t, dsn(v.addr, v.user, "postgres", v.params...))
				if got != want {
					t.Errorf("%s: through pgveil:\n%s\ndirect:\n%s", v.name, got, want)
				}
			}
		})
	}
}

func connect(ctx context.Context, t *testing.T, cs string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, cs)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func describeResults(results []*pgconn.Result, err error) string {
	var out strings.Builder
	for _, r := range results {
		names := make([]string, len(r.FieldDescriptions))
		for i, f := range r.FieldDescriptions {
			names[i] = fmt.Sprintf("%s:%d:%d", f.Name, f.DataTypeOID, f.Format)
		}
		fmt.Fprintf(&out, "%s %v %q %v\n", r.CommandTag, names, r.Rows, errSummary(r.Err))
	}
	fmt.Fprintf(&out, "err: %v\n", errSummary(err))
	return out.String()
}

func describeRows(rows pgx.Rows, err error) string {
	if err != nil {
		return fmt.Sprintf("query err: %v\n", errSummary(err))
	}
	defer rows.Close()
	var out strings.Builder
	for _, f := range rows.FieldDescriptions() {
		fmt.Fprintf(&out, "%s:%d:%d ", f.Name, f.DataTypeOID, f.Format)
	}
	out.WriteString("\n")
	for rows.Next() {
		fmt.Fprintf(&out, "%q\n", rows.RawValues())
	}
	fmt.Fprintf(&out, "%s %v\n", rows.CommandTag(), errSummary(rows.Err()))
	return out.String()
}

// errSummary keeps what a client can observe of an error, without the
// connection-specific parts (addresses, timings).
func errSummary(err error) string {
	if err == nil {
		return "<nil>"
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("pg %s %s %q", pe.Severity, pe.Code, pe.Message)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline exceeded"
	}
	return fmt.Sprintf("%T", errors.Unwrap(err))
}

func crc(b []byte) uint32 {
	var h uint32 = 2166136261
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}
