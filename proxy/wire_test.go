package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/pgtest"
)

// rawConn authenticates with pgconn, then hijacks the connection to speak
// the protocol message by message.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	fe   *pgproto3.Frontend
}

func dialRaw(ctx context.Context, t *testing.T, cs string) *rawConn {
	t.Helper()
	pc, err := pgconn.Connect(ctx, cs)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	h, err := pc.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Conn.Close() })
	return &rawConn{t: t, conn: h.Conn, fe: h.Frontend}
}

func (c *rawConn) send(msgs ...pgproto3.FrontendMessage) {
	c.t.Helper()
	for _, m := range msgs {
		c.fe.Send(m)
	}
	if err := c.fe.Flush(); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// until receives messages up to and including one of type stop, as JSON
// lines without connection-specific values.
func (c *rawConn) until(stop string) string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.conn.SetReadDeadline(time.Time{})
	var out strings.Builder
	for {
		m, err := c.fe.Receive()
		if err != nil {
			fmt.Fprintf(&out, "receive error: %T\n", err)
			return out.String()
		}
		b, _ := json.Marshal(m)
		typ := fmt.Sprintf("%T", m)
		typ = typ[strings.LastIndex(typ, ".")+1:]
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			b = []byte(fmt.Sprintf(`{"Type":"ErrorResponse","Code":%q,"Message":%q}`, e.Code, e.Message))
		}
		out.Write(b)
		out.WriteByte('\n')
		if typ == stop {
			return out.String()
		}
	}
}

type wireStep struct {
	send  []pgproto3.FrontendMessage
	until string
}

var wireScripts = map[string][]wireStep{
	"function call": {
		{[]pgproto3.FrontendMessage{&pgproto3.FunctionCall{Function: 177, ArgFormatCodes: []uint16{1},
			Arguments: [][]byte{{0, 0, 0, 2}, {0, 0, 0, 3}}, ResultFormatCode: 1}}, "ReadyForQuery"},
		{[]pgproto3.FrontendMessage{&pgproto3.FunctionCall{Function: 177, ArgFormatCodes: []uint16{0},
			Arguments: [][]byte{[]byte("40"), []byte("2")}, ResultFormatCode: 0}}, "ReadyForQuery"},
	},
	"row-limited execute and portal suspended": {
		{[]pgproto3.FrontendMessage{
			&pgproto3.Parse{Query: "select g, 'v' || g from generate_series(1, 5) g"},
			&pgproto3.Bind{ResultFormatCodes: []int16{1, 0}},
			&pgproto3.Describe{ObjectType: 'P'},
			&pgproto3.Execute{MaxRows: 2},
			&pgproto3.Flush{},
		}, "PortalSuspended"},
		{[]pgproto3.FrontendMessage{&pgproto3.Execute{MaxRows: 2}, &pgproto3.Flush{}}, "PortalSuspended"},
		{[]pgproto3.FrontendMessage{&pgproto3.Execute{}, &pgproto3.Sync{}}, "ReadyForQuery"},
	},
	"named statements, describe, close": {
		{[]pgproto3.FrontendMessage{
			&pgproto3.Parse{Name: "s1", Query: "select $1::int + 1 as n, $2::text as t", ParameterOIDs: []uint32{23}},
			&pgproto3.Describe{ObjectType: 'S', Name: "s1"},
			&pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "s1", ParameterFormatCodes: []int16{0}, Parameters: [][]byte{[]byte("41"), []byte("x")}},
			&pgproto3.Describe{ObjectType: 'P', Name: "p1"},
			&pgproto3.Execute{Portal: "p1"},
			&pgproto3.Close{ObjectType: 'P', Name: "p1"},
			&pgproto3.Close{ObjectType: 'S', Name: "s1"},
			&pgproto3.Sync{},
		}, "ReadyForQuery"},
		{[]pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "s1"}, &pgproto3.Execute{}, &pgproto3.Sync{}}, "ReadyForQuery"},
	},
	"pipelined batches with an error": {
		{[]pgproto3.FrontendMessage{
			&pgproto3.Parse{Query: "select 1"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{},
			&pgproto3.Parse{Query: "select 1/0"}, &pgproto3.Bind{}, &pgproto3.Execute{},
			&pgproto3.Parse{Query: "select 2"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{},
			&pgproto3.Query{String: "select 3"},
		}, "ReadyForQuery"},
		{nil, "ReadyForQuery"},
		{nil, "ReadyForQuery"},
	},
	"empty query, cursors, multi-statement": {
		{[]pgproto3.FrontendMessage{&pgproto3.Query{String: ""}}, "ReadyForQuery"},
		{[]pgproto3.FrontendMessage{&pgproto3.Query{String: "begin; declare c cursor for select g from generate_series(1,5) g; fetch 2 from c; fetch all from c; close c; commit"}}, "ReadyForQuery"},
		{[]pgproto3.FrontendMessage{&pgproto3.Query{String: "select 1; select 1/0; select 2"}}, "ReadyForQuery"},
	},
	"copy both directions on the simple protocol": {
		{[]pgproto3.FrontendMessage{&pgproto3.Query{String: "create temp table c(a int, b text)"}}, "ReadyForQuery"},
		{[]pgproto3.FrontendMessage{&pgproto3.Query{String: "copy c from stdin"}}, "CopyInResponse"},
		{[]pgproto3.FrontendMessage{&pgproto3.CopyData{Data: []byte("1\tx\n2\ty\n")}, &pgproto3.CopyDone{}}, "ReadyForQuery"},
		{[]pgproto3.FrontendMessage{&pgproto3.Query{String: "copy c from stdin"}}, "CopyInResponse"},
		{[]pgproto3.FrontendMessage{&pgproto3.CopyData{Data: []byte("3\tz\n")}, &pgproto3.CopyFail{Message: "client gave up"}}, "ReadyForQuery"},
		{[]pgproto3.FrontendMessage{&pgproto3.Query{String: "copy c to stdout with (format csv)"}}, "ReadyForQuery"},
	},
}

// TestWireTranscripts sends the same message sequences directly and through
// the proxy and compares every message that comes back.
func TestWireTranscripts(t *testing.T) {
	pg := pgtest.Require(t)
	p := startProxy(t, pg)
	for name, steps := range wireScripts {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			run := func(addr string) string {
				c := dialRaw(ctx, t, dsn(addr, scramUser, "postgres"))
				var out strings.Builder
				for _, st := range steps {
					if st.send != nil {
						c.send(st.send...)
					}
					out.WriteString(c.until(st.until))
					out.WriteString("--\n")
				}
				return out.String()
			}
			want, got := run(pg.Addr()), run(p.addr)
			if got != want {
				t.Errorf("through pgveil:\n%s\ndirect:\n%s", got, want)
			}
		})
	}
}
