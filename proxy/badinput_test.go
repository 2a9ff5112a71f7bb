package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/pgtest"
)

// readAll reads what the proxy says until it closes the connection.
func readAll(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !isClosed(err) {
		t.Fatalf("read: %v", err)
	}
	return b
}

// errorCode extracts the SQLSTATE of the first ErrorResponse in b.
func errorCode(b []byte) string {
	for len(b) >= 5 {
		typ := b[0]
		l := int(binary.BigEndian.Uint32(b[1:]))
		if l < 4 || len(b) < 1+l {
			return ""
		}
		body := b[5 : 1+l]
		if typ == 'E' {
			for _, f := range strings.Split(string(body), "\x00") {
				if strings.HasPrefix(f, "C") {
					return f[1:]
				}
			}
		}
		b = b[1+l:]
	}
	return ""
}

// TestBadStartup sends broken startup-phase input; each must end with an
// ErrorResponse carrying the right SQLSTATE or a plain close, promptly.
func TestBadStartup(t *testing.T) {
	pg := pgtest.Require(t)
	p := startProxy(t, pg, func(c *Config) { c.StartupTimeout = 500 * time.Millisecond })
	tests := []struct {
		name     string
		input    []byte
		wantCode string // "" means a plain close
	}{
		{"http garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), codeProtocolViolation},
		{"oversized startup", []byte{0, 1, 0, 0, 0, 3, 0, 0}, codeProtocolViolation},
		{"tiny length", []byte{0, 0, 0, 2, 0, 3, 0, 0}, codeProtocolViolation},
		{"protocol 2", startupPkt(2<<16, "user", "x"), codeFeatureNotSupported},
		{"protocol 4", startupPkt(4<<16, "user", "x"), codeFeatureNotSupported},
		{"no user", startupPkt(protocol30, "database", "x"), codeProtocolViolation},
		{"truncated startup", startupPkt(protocol30, "user", "x")[:10], ""},
		{"replication", startupPkt(protocol30, "user", "x", "replication", "database"), codeFeatureNotSupported},
		{"two SSLRequests", append(startupPkt(codeSSLRequest), startupPkt(codeSSLRequest)...), codeProtocolViolation},
		{"stall", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			c.Write(tt.input)
			got := readAll(t, c)
			if strings.HasPrefix(tt.name, "two SSL") && len(got) > 0 && got[0] == 'N' {
				got = got[1:]
			}
			if code := errorCode(got); code != tt.wantCode {
				t.Fatalf("code = %q, want %q (got %q)", code, tt.wantCode, got)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("took %v to close", d)
			}
		})
	}
}

// TestBadFrames sends broken messages after authentication: the client gets
// FATAL 08P01, and the upstream backend goes away rather than staying stuck.
func TestBadFrames(t *testing.T) {
	pg := pgtest.Require(t)
	p := startProxy(t, pg, func(c *Config) { c.MaxMessageBytes = 1 << 20 })
	tests := []struct {
		name     string
		frame    []byte
		wantCode string
	}{
		{"oversized", []byte{'Q', 0x10, 0, 0, 0}, codeProtocolViolation},
		{"bad length", []byte{'Q', 0, 0, 0, 2}, codeProtocolViolation},
		{"unknown type", msg('!', []byte("x")), codeProtocolViolation},
		{"password after auth", msg('p', []byte("pw\x00")), codeProtocolViolation},
		{"truncated then close", msg('Q', []byte("select 1\x00"))[:8], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			app := "badframe-" + strings.ReplaceAll(tt.name, " ", "-")
			c := dialRaw(ctx, t, dsn(p.addr, scramUser, "postgres")+"&application_name="+app)
			c.conn.Write(tt.frame)
			if tt.wantCode == "" {
				c.conn.Close()
			} else if code := errorCode(readAll(t, c.conn)); code != tt.wantCode {
				t.Fatalf("code = %q, want %q", code, tt.wantCode)
			}
			waitNoBackend(ctx, t, pg, app)
		})
	}
}

// waitNoBackend waits until no upstream backend has application_name app.
func waitNoBackend(ctx context.Context, t *testing.T, pg *pgtest.Server, app string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, pg.SuperDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(ctx, "select count(*) from pg_stat_activity where application_name = $1", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d upstream backend(s) of %s still there", n, app)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClientVanishes: a client that disconnects mid-COPY or mid-transaction
// leaves no upstream backend behind and commits nothing.
func TestClientVanishes(t *testing.T) {
	pg := pgtest.Require(t)
	p := startProxy(t, pg)
	ctx := testCtx(t)
	db := pg.TempDatabase(t, "")
	if err := pg.Exec(ctx, db, "create table v(a int); grant all on v to scram_user"); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]pgproto3.FrontendMessage{
		"mid-copy":        {&pgproto3.Query{String: "copy v from stdin"}, &pgproto3.CopyData{Data: []byte("1\n2\n")}},
		"mid-transaction": {&pgproto3.Query{String: "begin; insert into v values (3)"}},
		"mid-result":      {&pgproto3.Query{String: "select g, repeat('x', 1000) from generate_series(1, 200000) g"}},
	}
	for name, msgs := range cases {
		t.Run(name, func(t *testing.T) {
			app := "vanish-" + name
			c := dialRaw(ctx, t, dsn(p.addr, scramUser, db)+"&application_name="+app)
			c.send(msgs...)
			time.Sleep(100 * time.Millisecond)
			c.conn.Close()
			waitNoBackend(ctx, t, pg, app)
		})
	}
	conn, err := pgx.Connect(ctx, pg.SuperDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	conn.QueryRow(ctx, "select count(*) from v").Scan(&n)
	if n != 0 {
		t.Fatalf("%d rows committed by vanished clients", n)
	}
}

// TestUpstreamDown: the upstream refuses connections; the client gets FATAL
// 08001 and a message, not a hang.
func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := startProxy(t, &pgtest.Server{}, func(c *Config) { c.Upstream = dead })
	ctx := testCtx(t)
	_, err = pgconn.Connect(ctx, dsn(p.addr, scramUser, "postgres"))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != codeCannotConnect {
		t.Fatalf("err = %v, want SQLSTATE %s", err, codeCannotConnect)
	}
	if !strings.Contains(p.logs.String(), "upstream unavailable") {
		t.Fatalf("no log line for the failed dial:\n%s", p.logs.String())
	}
}

// fakeUpstream is a one-connection fake Postgres: it accepts, lets the
// proxy start up without authentication, reads one message and calls
// answer, then closes the connection. wait returns when it has closed.
func fakeUpstream(t *testing.T, answer func(be *pgproto3.Backend)) (addr string, wait func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		be := pgproto3.NewBackend(c, c)
		if _, err := be.ReceiveStartupMessage(); err != nil {
			return
		}
		be.Send(&pgproto3.AuthenticationOk{})
		be.Send(&pgproto3.ParameterStatus{Name: "standard_conforming_strings", Value: "on"})
		be.Send(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"})
		be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		be.Flush()
		if _, err := be.Receive(); err != nil {
			return
		}
		answer(be)
	}()
	return ln.Addr().String(), func() { <-done }
}

// throughFakeUpstream connects pgx to a pass-through proxy in front of
// fakeUpstream(answer).
func throughFakeUpstream(t *testing.T, answer func(be *pgproto3.Backend)) (context.Context, *pgx.Conn, func()) {
	t.Helper()
	addr, wait := fakeUpstream(t, answer)
	p := startProxy(t, &pgtest.Server{}, func(c *Config) { c.Upstream = addr })
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, dsn(p.addr, "anyone", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return ctx, conn, wait
}

// textColumnA describes a one-column result: a of type text.
var textColumnA = &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("a"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}}

// TestUpstreamVanishesMidResult: a fake upstream that dies half-way through
// a result. The client must get FATAL 08006 and the session must end.
func TestUpstreamVanishesMidResult(t *testing.T) {
	ctx, conn, wait := throughFakeUpstream(t, func(be *pgproto3.Backend) {
		be.Send(textColumnA)
		for range 10 {
			be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("x")}})
		}
		be.Flush()
	})
	rows, _ := conn.Query(ctx, "select a from t", pgx.QueryExecModeSimpleProtocol)
	for rows.Next() {
	}
	var pe *pgconn.PgError
	if err := rows.Err(); !errors.As(err, &pe) || pe.Code != codeConnectionFailure {
		t.Fatalf("err = %v, want SQLSTATE %s", err, codeConnectionFailure)
	}
	wait()
}

// TestUpstreamVanishesAfterReadyForQuery: Postgres answers a statement and
// closes the connection in the same breath (its FIN arrives with the
// ReadyForQuery). The pass-through relay waits after a ReadyForQuery
// without reading again (frameReader.pump), so it may learn of the close
// only at the next statement; that statement must then fail with 08006,
// promptly, as it would against a direct connection.
func TestUpstreamVanishesAfterReadyForQuery(t *testing.T) {
	ctx, conn, wait := throughFakeUpstream(t, func(be *pgproto3.Backend) {
		be.Send(textColumnA)
		be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("x")}})
		be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		be.Flush()
		// Close at once: the FIN follows the ReadyForQuery closely.
	})
	var a string
	if err := conn.QueryRow(ctx, "select a from t", pgx.QueryExecModeSimpleProtocol).Scan(&a); err != nil || a != "x" {
		t.Fatalf("first statement: %q, %v", a, err)
	}
	wait()
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := conn.Exec(qctx, "select 1", pgx.QueryExecModeSimpleProtocol)
	var pe *pgconn.PgError
	if qctx.Err() != nil {
		t.Fatalf("the statement after the upstream closed hung: %v", err)
	}
	if err == nil || (errors.As(err, &pe) && pe.Code != codeConnectionFailure) {
		t.Fatalf("err = %v, want SQLSTATE %s or a closed connection", err, codeConnectionFailure)
	}
	t.Logf("the next statement failed: %v", err)
}

// TestChannelBinding: SCRAM-SHA-256-PLUS cannot survive a TLS-terminating
// hop. With TLS on both sides, a client that prefers channel binding gets a
// clear error (never a hang); one that disables it connects; one that
// requires it is told by its own driver that the server does not offer it.
func TestChannelBinding(t *testing.T) {
	pg := pgtest.Require(t)
	p := startProxy(t, pg, withTLS(t, pg, true), withUpstreamTLS(t, pg))
	ctx := testCtx(t)
	base := dsn(p.addr, scramUser, "postgres", "sslmode=verify-full", "sslrootcert="+p.caFile)

	start := time.Now()
	_, err := pgconn.Connect(ctx, base+"&channel_binding=prefer")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != codeInvalidAuthSpec || !strings.Contains(pe.Message, "channel binding") {
		t.Fatalf("prefer: err = %v, want a clear 28000 about channel binding", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("prefer: took too long")
	}
	c, err := pgconn.Connect(ctx, base+"&channel_binding=disable")
	if err != nil {
		t.Fatalf("disable: %v", err)
	}
	c.Close(ctx)
	_, err = pgconn.Connect(ctx, base+"&channel_binding=require")
	if err == nil || !strings.Contains(err.Error(), "channel binding") {
		t.Fatalf("require: err = %v, want a channel binding error", err)
	}
	// Plaintext upstream: the "y" flag is fine and prefer works.
	p2 := startProxy(t, pg, withTLS(t, pg, true))
	c, err = pgconn.Connect(ctx, dsn(p2.addr, scramUser, "postgres", "sslmode=verify-full", "sslrootcert="+p2.caFile))
	if err != nil {
		t.Fatalf("TLS client, plaintext upstream: %v", err)
	}
	c.Close(ctx)
}

// TestTLSRequired: with a certificate configured, plaintext is refused
// unless explicitly allowed.
func TestTLSRequired(t *testing.T) {
	pg := pgtest.Require(t)
	ctx := testCtx(t)
	strict := startProxy(t, pg, withTLS(t, pg, true))
	_, err := pgconn.Connect(ctx, dsn(strict.addr, scramUser, "postgres"))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != codeInvalidAuthSpec {
		t.Fatalf("plaintext to a TLS-only proxy: err = %v, want 28000", err)
	}
	lax := startProxy(t, pg, withTLS(t, pg, false))
	c, err := pgconn.Connect(ctx, dsn(lax.addr, scramUser, "postgres"))
	if err != nil {
		t.Fatalf("plaintext allowed: %v", err)
	}
	c.Close(ctx)
	// sslnegotiation=direct is a PostgreSQL 17 libpq feature; pgx speaks
	// the SSLRequest flow, covered everywhere else.
}

// TestLimits: max connections and idle timeout.
func TestLimits(t *testing.T) {
	pg := pgtest.Require(t)
	ctx := testCtx(t)
	p := startProxy(t, pg, func(c *Config) { c.MaxConnections = 2; c.IdleTimeout = 400 * time.Millisecond })
	a, err := pgconn.Connect(ctx, dsn(p.addr, scramUser, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	b, err := pgconn.Connect(ctx, dsn(p.addr, scramUser, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	_, err = pgconn.Connect(ctx, dsn(p.addr, scramUser, "postgres"))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != codeTooManyConnections {
		t.Fatalf("third connection: err = %v, want 53300", err)
	}
	// A statement longer than the idle timeout is not idle.
	if _, err := a.Exec(ctx, "select pg_sleep(0.6)").ReadAll(); err != nil {
		t.Fatalf("long statement: %v", err)
	}
	time.Sleep(700 * time.Millisecond)
	if _, err := a.Exec(ctx, "select 1").ReadAll(); err == nil {
		t.Fatal("idle session survived the idle timeout")
	}
}

// TestDrain: Shutdown refuses new connections, closes idle sessions at
// once, lets a running statement finish and then closes its session.
func TestDrain(t *testing.T) {
	pg := pgtest.Require(t)
	ctx := testCtx(t)
	p := startProxy(t, pg)
	idle, err := pgconn.Connect(ctx, dsn(p.addr, scramUser, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(ctx)
	busy, err := pgconn.Connect(ctx, dsn(p.addr, scramUser, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close(ctx)
	result := make(chan error, 1)
	go func() {
		_, err := busy.Exec(ctx, "select pg_sleep(1)").ReadAll()
		result <- err
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	took := time.Since(start)
	if err := <-result; err != nil {
		t.Fatalf("running statement did not finish: %v", err)
	}
	if took < 500*time.Millisecond || took > 5*time.Second {
		t.Fatalf("Shutdown took %v, want about the statement's remaining time", took)
	}
	if _, err := idle.Exec(ctx, "select 1").ReadAll(); err == nil {
		t.Fatal("idle session still usable after drain")
	}
	if _, err := busy.Exec(ctx, "select 1").ReadAll(); err == nil {
		t.Fatal("busy session still usable after drain")
	}
	if _, err := pgconn.Connect(ctx, dsn(p.addr, scramUser, "postgres")); err == nil {
		t.Fatal("new connection accepted after drain")
	}
}
