package rules

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// testKey is the hash key of the tests.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// dataRowBody builds a DataRow body; a nil value is NULL.
func dataRowBody(vals ...[]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(vals)))
	for _, v := range vals {
		if v == nil {
			b = binary.BigEndian.AppendUint32(b, 0xffffffff)
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

// parseDataRow parses a complete DataRow message; NULL values are nil.
func parseDataRow(msg []byte) ([][]byte, error) {
	if len(msg) < 7 || msg[0] != 'D' {
		return nil, fmt.Errorf("not a DataRow message")
	}
	if n := binary.BigEndian.Uint32(msg[1:]); int(n) != len(msg)-1 {
		return nil, fmt.Errorf("message length %d, have %d bytes", n, len(msg)-1)
	}
	body := msg[5:]
	n := int(binary.BigEndian.Uint16(body))
	rp := 2
	vals := make([][]byte, 0, n)
	for range n {
		if len(body)-rp < 4 {
			return nil, fmt.Errorf("short")
		}
		l := int32(binary.BigEndian.Uint32(body[rp:]))
		rp += 4
		if l == -1 {
			vals = append(vals, nil)
			continue
		}
		if l < 0 || int(l) > len(body)-rp {
			return nil, fmt.Errorf("bad length")
		}
		vals = append(vals, append([]byte{}, body[rp:rp+int(l)]...))
		rp += int(l)
	}
	if rp != len(body) {
		return nil, fmt.Errorf("trailing bytes")
	}
	return vals, nil
}

// mustCompile compiles one column.
func mustCompile(t testing.TB, cols ...Column) *Plan {
	t.Helper()
	p, err := Compile(cols, PlanOptions{HashKey: testKey})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// maskOne masks one value through a one-column plan: (nil, false) is NULL.
func maskOne(t testing.TB, c Column, v []byte) ([]byte, bool) {
	t.Helper()
	p := mustCompile(t, c)
	out, err := p.AppendDataRow(nil, dataRowBody(v))
	if err != nil {
		t.Fatalf("AppendDataRow: %v", err)
	}
	vals, err := parseDataRow(out)
	if err != nil {
		t.Fatalf("output: %v", err)
	}
	return vals[0], vals[0] != nil
}

var allActions = []Action{ActionPass, ActionNull, ActionRedact, ActionPartial, ActionLast4, ActionEmail, ActionHash, ActionYear, ActionIPPrefix, ActionScrub}
