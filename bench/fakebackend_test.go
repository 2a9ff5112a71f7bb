package bench

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// fakeBackend is a scripted Postgres: it accepts any startup without
// authentication and answers the Query "rows=N" with a RowDescription, N
// DataRows of bench_wide's shape, CommandComplete and ReadyForQuery. The
// responses are encoded once up front and written with one Write each, so
// the backend's own cost barely registers next to the relay's.
type fakeBackend struct {
	ln        net.Listener
	responses map[string][]byte // query text → encoded response

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // the accept loop and one goroutine per connection
}

func fakeQuery(rows int) string { return "rows=" + strconv.Itoa(rows) }

// startFakeBackend listens on loopback and stops when the benchmark ends.
func startFakeBackend(b *testing.B, rowCounts []int) *fakeBackend {
	b.Helper()
	fb := &fakeBackend{responses: map[string][]byte{}, conns: map[net.Conn]struct{}{}}
	for _, n := range rowCounts {
		resp, err := encodeResult(n)
		if err != nil {
			b.Fatal(err)
		}
		fb.responses[fakeQuery(n)] = resp
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("fake backend: %v", err)
	}
	fb.ln = ln
	fb.wg.Add(1)
	go fb.accept()
	b.Cleanup(fb.stop)
	return fb
}

func (fb *fakeBackend) addr() string { return fb.ln.Addr().String() }

// stop closes the listener and every open connection, then waits for all
// goroutines.
func (fb *fakeBackend) stop() {
	fb.ln.Close()
	fb.mu.Lock()
	for c := range fb.conns {
		c.Close()
	}
	fb.mu.Unlock()
	fb.wg.Wait()
}

func (fb *fakeBackend) accept() {
	defer fb.wg.Done()
	for {
		c, err := fb.ln.Accept()
		if err != nil {
			return // closed by stop
		}
		fb.mu.Lock()
		fb.conns[c] = struct{}{}
		fb.wg.Add(1)
		fb.mu.Unlock()
		go fb.serve(c)
	}
}

// serve runs one session until the client terminates or the connection
// closes. Errors just end the session: the benchmark's client notices.
func (fb *fakeBackend) serve(c net.Conn) {
	defer func() {
		fb.mu.Lock()
		delete(fb.conns, c)
		fb.mu.Unlock()
		c.Close()
		fb.wg.Done()
	}()
	be := pgproto3.NewBackend(c, c)
	if err := fb.startup(be); err != nil {
		return
	}
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			resp, ok := fb.responses[m.String]
			if !ok {
				be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42601", Message: "fake backend: unknown query"})
				be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
				err = be.Flush()
			} else {
				_, err = c.Write(resp)
			}
			if err != nil {
				return
			}
		case *pgproto3.Terminate:
			return
		default:
			return // nothing else is scripted
		}
	}
}

func (fb *fakeBackend) startup(be *pgproto3.Backend) error {
	msg, err := be.ReceiveStartupMessage()
	if err != nil {
		return err
	}
	if _, ok := msg.(*pgproto3.StartupMessage); !ok {
		return fmt.Errorf("fake backend: unexpected %T", msg)
	}
	be.Send(&pgproto3.AuthenticationOk{})
	for _, p := range [][2]string{
		{"server_version", "15.0"}, {"server_encoding", "UTF8"}, {"client_encoding", "UTF8"},
		{"DateStyle", "ISO, MDY"}, {"integer_datetimes", "on"}, {"standard_conforming_strings", "on"},
		{"TimeZone", "UTC"},
	} {
		be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	return be.Flush()
}

// Type OIDs of bench_wide's columns.
const (
	oidBool        = 16
	oidInt8        = 20
	oidText        = 25
	oidFloat8      = 701
	oidDate        = 1082
	oidTimestamptz = 1184
	oidNumeric     = 1700
)

// wideFields is bench_wide's RowDescription, text format.
func wideFields() []pgproto3.FieldDescription {
	cols := []struct {
		name string
		oid  uint32
		size int16
	}{
		{"id", oidInt8, 8}, {"name", oidText, -1}, {"email", oidText, -1}, {"phone", oidText, -1},
		{"birth_date", oidDate, 4}, {"created_at", oidTimestamptz, 8}, {"amount", oidNumeric, -1},
		{"score", oidFloat8, 8}, {"active", oidBool, 1}, {"note", oidText, -1},
	}
	fields := make([]pgproto3.FieldDescription, len(cols))
	for i, c := range cols {
		fields[i] = pgproto3.FieldDescription{
			Name: []byte(c.name), TableOID: 16384, TableAttributeNumber: uint16(i + 1),
			DataTypeOID: c.oid, DataTypeSize: c.size, TypeModifier: -1,
		}
	}
	return fields
}

// wideRow is row i in text format, with values of the sizes bench_wide.sql
// generates (text of 30 to 100 bytes, a NULL phone every tenth row).
func wideRow(i int) [][]byte {
	hex := fmt.Sprintf("%016x%016x", uint64(i)*0x9e3779b97f4a7c15, uint64(i)*0xbf58476d1ce4e5b9)
	var phone []byte
	if i%10 != 0 {
		phone = fmt.Appendf(nil, "+1 555 01%02d %05d", i%100, i)
	}
	created := time.Date(2024, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Minute)
	return [][]byte{
		strconv.AppendInt(nil, int64(i), 10),
		fmt.Appendf(nil, "Customer %d %s", i, hex[:14]),
		fmt.Appendf(nil, "user%d.%s@example.com", i, hex[14:26]),
		phone,
		time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i*7%20000).AppendFormat(nil, "2006-01-02"),
		created.AppendFormat(nil, "2006-01-02 15:04:05-07"),
		fmt.Appendf(nil, "%.2f", float64(i*7919%1000000)/100),
		strconv.AppendFloat(nil, float64(i%1000)/7, 'g', -1, 64),
		{"ft"[min(1, i%3)]},
		fmt.Appendf(nil, "%s %s", hex, (hex + hex)[:1+i%60]),
	}
}

// encodeResult is the complete answer to "rows=n".
func encodeResult(n int) ([]byte, error) {
	msgs := []pgproto3.BackendMessage{&pgproto3.RowDescription{Fields: wideFields()}}
	for i := 1; i <= n; i++ {
		msgs = append(msgs, &pgproto3.DataRow{Values: wideRow(i)})
	}
	msgs = append(msgs,
		&pgproto3.CommandComplete{CommandTag: fmt.Appendf(nil, "SELECT %d", n)},
		&pgproto3.ReadyForQuery{TxStatus: 'I'})
	var buf []byte
	var errs []error
	for _, m := range msgs {
		var err error
		buf, err = m.Encode(buf)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("encode fake result: %w", err)
	}
	return buf, nil
}
