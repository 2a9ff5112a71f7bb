package rules

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/big"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// sample is one value of one type, in both wire formats, as PostgreSQL sends
// it.
type sample struct {
	name   string
	oid    uint32
	typmod int32
	text   string
	bin    []byte // nil: encode text with pgx in binary
	decode func(m *pgtype.Map, format int16, v []byte) error
}

func scanInto[T any](oid uint32) func(*pgtype.Map, int16, []byte) error {
	return func(m *pgtype.Map, format int16, v []byte) error {
		var dst T
		return m.Scan(oid, format, v, &dst)
	}
}

func decodeJSON(jsonb bool) func(*pgtype.Map, int16, []byte) error {
	return func(_ *pgtype.Map, format int16, v []byte) error {
		if jsonb && format == 1 {
			if len(v) == 0 || v[0] != 1 {
				return errors.New("jsonb: bad version byte")
			}
			v = v[1:]
		}
		if !json.Valid(v) {
			return errors.New("invalid JSON")
		}
		return nil
	}
}

var reTimetz = regexp.MustCompile(`^\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d(:\d\d){0,2}$`)

func decodeTimetz(_ *pgtype.Map, format int16, v []byte) error {
	if format == 1 {
		if len(v) != 12 {
			return errors.New("binary timetz is 12 bytes")
		}
		return nil
	}
	if !reTimetz.Match(v) {
		return errors.New("bad timetz text")
	}
	return nil
}

func samples(t testing.TB) []sample {
	m := pgtype.NewMap()
	enc := func(oid uint32, v any) []byte {
		b, err := m.Encode(oid, 1, v, nil)
		if err != nil {
			t.Fatalf("encode %d: %v", oid, err)
		}
		return b
	}
	u := [16]byte{0x9f, 0x1c, 0x2a, 0x44, 0x51, 0x0e, 0x4b, 0x8d, 0xa1, 0x33, 0x77, 0x10, 0x2e, 0x5c, 0x90, 0x01}
	ts := time.Date(2021, 6, 15, 13, 45, 7, 123000000, time.UTC)
	return []sample{
		{name: "text", oid: oidText, typmod: -1, text: "John Doe <john.doe@example.com>, +1 555 123 4567", decode: scanInto[string](oidText)},
		{name: "text_email", oid: oidText, typmod: -1, text: "john.doe@example.com", decode: scanInto[string](oidText)},
		{name: "varchar", oid: oidVarchar, typmod: 64 + 4, text: "+1 (555) 123-4567", decode: scanInto[string](oidVarchar)},
		{name: "varchar5", oid: oidVarchar, typmod: 5 + 4, text: "Smith", decode: scanInto[string](oidVarchar)},
		{name: "bpchar", oid: oidBPChar, typmod: 12 + 4, text: "1985-07-14  ", decode: scanInto[string](oidBPChar)},
		{name: "name", oid: oidName, typmod: -1, text: "192.168.10.77", decode: scanInto[string](oidName)},
		{name: "unknown", oid: oidUnknown, typmod: -1, text: "2001:db8:1234:5678::1", decode: scanInto[string](oidUnknown)},
		{name: "json", oid: oidJSON, typmod: -1, text: `{"email": "john@example.com", "card": 4111111111111111, "n": [1, 2.5, "x"]}`, decode: decodeJSON(false)},
		{name: "jsonb", oid: oidJSONB, typmod: -1, text: `{"note": "call +49 151 1234 5678", "ok": true}`, bin: []byte("\x01" + `{"note": "call +49 151 1234 5678", "ok": true}`), decode: decodeJSON(true)},
		{name: "int2", oid: oidInt2, typmod: -1, text: "1234", bin: enc(oidInt2, int16(1234)), decode: scanInto[int16](oidInt2)},
		{name: "int4", oid: oidInt4, typmod: -1, text: "-123456", bin: enc(oidInt4, int32(-123456)), decode: scanInto[int32](oidInt4)},
		{name: "int8", oid: oidInt8, typmod: -1, text: "5551234567", bin: enc(oidInt8, int64(5551234567)), decode: scanInto[int64](oidInt8)},
		{name: "numeric", oid: oidNumeric, typmod: -1, text: "1234.50", bin: enc(oidNumeric, pgtype.Numeric{Int: big.NewInt(123450), Exp: -2, Valid: true}), decode: scanInto[pgtype.Numeric](oidNumeric)},
		{name: "float4", oid: oidFloat4, typmod: -1, text: "1.5", bin: enc(oidFloat4, float32(1.5)), decode: scanInto[float32](oidFloat4)},
		{name: "float8", oid: oidFloat8, typmod: -1, text: "52.5200066", bin: enc(oidFloat8, 52.5200066), decode: scanInto[float64](oidFloat8)},
		{name: "bool", oid: oidBool, typmod: -1, text: "t", bin: []byte{1}, decode: scanInto[bool](oidBool)},
		{name: "date", oid: oidDate, typmod: -1, text: "1985-07-14", bin: enc(oidDate, time.Date(1985, 7, 14, 0, 0, 0, 0, time.UTC)), decode: scanInto[pgtype.Date](oidDate)},
		{name: "date_bc", oid: oidDate, typmod: -1, text: "0044-03-15 BC", bin: enc(oidDate, time.Date(-43, 3, 15, 0, 0, 0, 0, time.UTC)), decode: scanInto[pgtype.Date](oidDate)},
		{name: "time", oid: oidTime, typmod: -1, text: "13:45:07", bin: enc(oidTime, pgtype.Time{Microseconds: 49507000000, Valid: true}), decode: scanInto[pgtype.Time](oidTime)},
		{name: "timetz", oid: oidTimetz, typmod: -1, text: "13:45:07+02", bin: append(be64(49507000000), be32(-7200)...), decode: decodeTimetz},
		{name: "timestamp", oid: oidTimestamp, typmod: -1, text: "2021-06-15 13:45:07.123", bin: enc(oidTimestamp, ts), decode: scanInto[pgtype.Timestamp](oidTimestamp)},
		{name: "timestamptz", oid: oidTimestamptz, typmod: -1, text: "2021-06-15 15:45:07.123+02", bin: enc(oidTimestamptz, ts), decode: scanInto[pgtype.Timestamptz](oidTimestamptz)},
		{name: "uuid", oid: oidUUID, typmod: -1, text: "9f1c2a44-510e-4b8d-a133-77102e5c9001", bin: u[:], decode: scanInto[pgtype.UUID](oidUUID)},
		{name: "inet", oid: oidInet, typmod: -1, text: "192.168.10.77", bin: enc(oidInet, netip.MustParsePrefix("192.168.10.77/32")), decode: scanInto[netip.Prefix](oidInet)},
		{name: "inet6", oid: oidInet, typmod: -1, text: "2001:db8:1234:5678::1/64", bin: enc(oidInet, netip.MustParsePrefix("2001:db8:1234:5678::1/64")), decode: scanInto[netip.Prefix](oidInet)},
		{name: "cidr", oid: oidCIDR, typmod: -1, text: "10.20.30.0/28", bin: []byte{2, 28, 1, 4, 10, 20, 30, 0}, decode: scanInto[netip.Prefix](oidCIDR)},
		{name: "bytea", oid: oidBytea, typmod: -1, text: `\x4a6f686e`, bin: []byte("John"), decode: scanInto[[]byte](oidBytea)},
		{name: "text[]", oid: 1009, typmod: -1, text: `{"john@example.com","call 555-123-4567",plain}`, bin: enc(1009, []string{"john@example.com", "call 555-123-4567", "plain"}), decode: scanInto[[]string](1009)},
		{name: "int4[]", oid: 1007, typmod: -1, text: `{1,2,3}`, bin: enc(1007, []int32{1, 2, 3}), decode: scanInto[[]int32](1007)},
		{name: "citext(unmodelled)", oid: 16385, typmod: -1, text: "john@example.com", bin: []byte("john@example.com")},
	}
}

func (s sample) value(format int16) []byte {
	if format == 1 && s.bin != nil {
		return s.bin
	}
	return []byte(s.text)
}

// TestMaskMatrix runs every mask on every sample type in both formats and
// checks the invariants: type-correct (pgx decodes it), deterministic, never
// the input unchanged, NULL exactly where the plan compiled NULL, and never
// pass through unless the mask is pass.
func TestMaskMatrix(t *testing.T) {
	m := pgtype.NewMap()
	for _, s := range samples(t) {
		for _, format := range []int16{0, 1} {
			for _, a := range allActions {
				name := s.name + "/" + []string{"text", "binary"}[format] + "/" + a.String()
				t.Run(name, func(t *testing.T) {
					col := Column{Name: "c", TypeOID: s.oid, TypeMod: s.typmod, Format: format, Mask: Mask{Action: a}}
					in := s.value(format)
					out, ok := maskOne(t, col, in)
					again, _ := maskOne(t, col, in)
					if !bytes.Equal(out, again) {
						t.Fatalf("not deterministic: %q then %q", out, again)
					}
					op := compileColumn(col.Mask, lookupType(s.oid, s.typmod, nil), format == 1).op
					if a == ActionPass {
						if !bytes.Equal(out, in) {
							t.Fatalf("pass changed the value: %q", out)
						}
						return
					}
					if op == opNull || !ok {
						if ok || op != opNull && !acceptsRowNull(s, a) {
							t.Fatalf("op %d, ok %v, out %q: NULL must be decided at compile time", op, ok, out)
						}
						return
					}
					// Scrub is the one mask that keeps a value without
					// identifiers as it is: that is its purpose.
					if bytes.Equal(out, in) && a != ActionScrub {
						t.Fatalf("mask returned the value unchanged: %q", out)
					}
					if s.decode != nil {
						if err := s.decode(m, format, out); err != nil {
							t.Fatalf("output %q does not decode as %s/%d: %v", out, s.name, format, err)
						}
					}
				})
			}
		}
	}
}

// acceptsRowNull lists the samples whose value a mask cannot interpret, so
// the row (not the plan) becomes NULL.
func acceptsRowNull(s sample, a Action) bool {
	switch {
	case a == ActionYear && (s.name == "text" || s.name == "text_email" || s.name == "varchar" || s.name == "varchar5" || s.name == "name" || s.name == "unknown"):
		return true
	case a == ActionIPPrefix && (s.name == "text" || s.name == "text_email" || s.name == "varchar" || s.name == "varchar5" || s.name == "bpchar"):
		return true
	case a == ActionEmail && s.name != "text_email":
		return true
	}
	return false
}

func TestMaskGolden(t *testing.T) {
	text := func(oid uint32, typmod int32, a Action, keep int) Column {
		return Column{TypeOID: oid, TypeMod: typmod, Mask: Mask{Action: a, Keep: keep}}
	}
	bin := func(c Column) Column { c.Format = 1; return c }
	tests := []struct {
		name string
		col  Column
		in   string
		want string // "NULL" for SQL NULL
	}{
		{"redact text", text(oidText, -1, ActionRedact, 0), "John", "[redacted]"},
		{"redact varchar(5)", text(oidVarchar, 9, ActionRedact, 0), "Smith", "*****"},
		{"redact char(3)", text(oidBPChar, 7, ActionRedact, 0), "abc", "***"},
		{"redact char(12)", text(oidBPChar, 16, ActionRedact, 0), "abc         ", "[redacted]  "},
		{"redact json", text(oidJSON, -1, ActionRedact, 0), `{"a":1}`, `"[redacted]"`},
		{"redact jsonb binary", bin(text(oidJSONB, -1, ActionRedact, 0)), "\x01{}", "\x01\"[redacted]\""},
		{"redact int4", text(oidInt4, -1, ActionRedact, 0), "42", "0"},
		{"redact int4 binary", bin(text(oidInt4, -1, ActionRedact, 0)), "\x00\x00\x00\x2a", "\x00\x00\x00\x00"},
		{"redact numeric binary", bin(text(oidNumeric, -1, ActionRedact, 0)), "\x00\x01\x00\x00\x00\x00\x00\x00\x00\x2a", "\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"redact bool", text(oidBool, -1, ActionRedact, 0), "t", "f"},
		{"redact date", text(oidDate, -1, ActionRedact, 0), "1985-07-14", "1900-01-01"},
		{"redact timestamptz", text(oidTimestamptz, -1, ActionRedact, 0), "2021-06-15 13:45:07+02", "1900-01-01 00:00:00+00"},
		{"redact uuid", text(oidUUID, -1, ActionRedact, 0), "9f1c2a44-510e-4b8d-a133-77102e5c9001", "00000000-0000-0000-0000-000000000000"},
		{"redact inet", text(oidInet, -1, ActionRedact, 0), "10.1.2.3", "0.0.0.0"},
		{"redact cidr", text(oidCIDR, -1, ActionRedact, 0), "10.1.2.0/24", "0.0.0.0/0"},
		{"redact bytea", text(oidBytea, -1, ActionRedact, 0), `\x01`, `\x`},
		{"redact text[]", text(1009, -1, ActionRedact, 0), `{a,b}`, `{}`},
		{"redact int4[] binary", bin(text(1007, -1, ActionRedact, 0)), "x", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17"},
		{"redact unmodelled", text(16385, -1, ActionRedact, 0), "x", "NULL"},
		{"null", text(oidText, -1, ActionNull, 0), "x", "NULL"},

		{"last4 phone", text(oidText, -1, ActionLast4, 0), "+1 555 123 4567", "***********4567"},
		{"partial:2", text(oidText, -1, ActionPartial, 2), "abcdef", "****ef"},
		{"partial default", text(oidText, -1, ActionPartial, 0), "abcdef", "**cdef"},
		{"last4 short value is fully starred", text(oidText, -1, ActionLast4, 0), "abc", "***"},
		{"last4 exactly 4", text(oidText, -1, ActionLast4, 0), "abcd", "****"},
		{"last4 empty", text(oidText, -1, ActionLast4, 0), "", "*"},
		{"last4 runes", text(oidText, -1, ActionLast4, 0), "Müller-Lüdenscheidt", "***************eidt"},
		{"last4 multibyte kept", text(oidText, -1, ActionLast4, 0), "日本語のテキスト", "****テキスト"},
		{"last4 bpchar keeps padding", text(oidBPChar, 14, ActionLast4, 0), "5551234567", "******4567"},
		{"last4 bpchar padded", text(oidBPChar, 14, ActionLast4, 0), "12345678  ", "****5678  "},
		{"last4 int is NULL", text(oidInt8, -1, ActionLast4, 0), "5551234567", "NULL"},

		{"email", text(oidText, -1, ActionEmail, 0), "john.doe@example.com", "j***@example.com"},
		{"email utf8", text(oidText, -1, ActionEmail, 0), "émile@exemple.fr", "é***@exemple.fr"},
		{"email no at", text(oidText, -1, ActionEmail, 0), "john", "NULL"},
		{"email display name", text(oidText, -1, ActionEmail, 0), "John <john@example.com>", "NULL"},
		{"email empty local", text(oidText, -1, ActionEmail, 0), "@example.com", "NULL"},

		{"year date", text(oidDate, -1, ActionYear, 0), "1985-07-14", "1985-01-01"},
		{"year date bc", text(oidDate, -1, ActionYear, 0), "0044-03-15 BC", "0044-01-01 BC"},
		{"year date 5 digits", text(oidDate, -1, ActionYear, 0), "12345-06-07", "12345-01-01"},
		{"year date infinity", text(oidDate, -1, ActionYear, 0), "infinity", "NULL"},
		{"year date non-ISO", text(oidDate, -1, ActionYear, 0), "07/14/1985", "NULL"},
		{"year timestamp", text(oidTimestamp, -1, ActionYear, 0), "2021-06-15 13:45:07.123456", "2021-01-01 00:00:00"},
		{"year timestamptz", text(oidTimestamptz, -1, ActionYear, 0), "2021-06-15 13:45:07+05:30", "2021-01-01 00:00:00+05:30"},
		{"year timestamptz bc", text(oidTimestamptz, -1, ActionYear, 0), "0100-06-15 13:45:07+00:53:28 BC", "0100-01-01 00:00:00+00:53:28 BC"},
		{"year text iso", text(oidText, -1, ActionYear, 0), "1985-07-14", "1985"},
		{"year text dmy", text(oidText, -1, ActionYear, 0), "14.07.1985", "1985"},
		{"year text compact", text(oidText, -1, ActionYear, 0), "19850714", "1985"},
		{"year text junk", text(oidText, -1, ActionYear, 0), "last summer", "NULL"},
		{"year int", text(oidInt4, -1, ActionYear, 0), "1985", "NULL"},

		{"ip v4", text(oidInet, -1, ActionIPPrefix, 0), "192.168.10.77", "192.168.10.0/24"},
		{"ip v4 short prefix", text(oidInet, -1, ActionIPPrefix, 0), "10.1.2.3/8", "10.0.0.0/8"},
		{"ip v6", text(oidInet, -1, ActionIPPrefix, 0), "2001:db8:1234:5678::1", "2001:db8:1234::/48"},
		{"ip cidr", text(oidCIDR, -1, ActionIPPrefix, 0), "10.20.30.0/28", "10.20.30.0/24"},
		{"ip text", text(oidText, -1, ActionIPPrefix, 0), "203.0.113.9", "203.0.113.0/24"},
		{"ip text junk", text(oidText, -1, ActionIPPrefix, 0), "localhost", "NULL"},
		{"ip v4 binary", bin(text(oidInet, -1, ActionIPPrefix, 0)), "\x02\x20\x00\x04\xc0\xa8\x0a\x4d", "\x02\x18\x00\x04\xc0\xa8\x0a\x00"},

		{"scrub text", text(oidText, -1, ActionScrub, 0), "Mail john@example.com or call +44 20 7946 0958.", "Mail [email] or call [phone]."},
		{"scrub json", text(oidJSON, -1, ActionScrub, 0), `{"to":"john@example.com","pan":4111111111111111}`, `{"to":"[email]","pan":"[card]"}`},
		{"scrub jsonb binary", bin(text(oidJSONB, -1, ActionScrub, 0)), "\x01" + `["ip 10.0.0.1"]`, "\x01" + `["ip [ip]"]`},
		{"scrub text[]", text(1009, -1, ActionScrub, 0), `{"mail john@example.com",x@example.org}`, `{"mail [email]",[email]}`},
		{"scrub text[] binary is NULL", bin(text(1009, -1, ActionScrub, 0)), "x", "NULL"},
		{"scrub int is NULL", text(oidInt8, -1, ActionScrub, 0), "5551234567", "NULL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := maskOne(t, tt.col, []byte(tt.in))
			got := string(out)
			if !ok {
				got = "NULL"
			}
			if got != tt.want {
				t.Fatalf("mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

var reTextPseudonym = regexp.MustCompile(`^h_[0-9a-f]{16}$`)

func TestHash(t *testing.T) {
	col := func(oid uint32, format int16) Column {
		return Column{TypeOID: oid, Format: format, Mask: Mask{Action: ActionHash}, TypeMod: -1}
	}
	a, _ := maskOne(t, col(oidText, 0), []byte("john@example.com"))
	if !reTextPseudonym.Match(a) {
		t.Fatalf("text pseudonym %q", a)
	}
	// Joinable: the same value in another type of the text family, in
	// binary, in char(n) with padding, in another plan.
	for _, c := range []struct {
		col Column
		in  string
	}{
		{col(oidVarchar, 0), "john@example.com"},
		{col(oidText, 1), "john@example.com"},
		{Column{TypeOID: oidBPChar, TypeMod: 24, Mask: Mask{Action: ActionHash}}, "john@example.com    "},
	} {
		if b, _ := maskOne(t, c.col, []byte(c.in)); !bytes.Equal(a, b) {
			t.Errorf("%+v: pseudonym %q, want %q", c.col, b, a)
		}
	}
	if b, _ := maskOne(t, col(oidText, 0), []byte("jane@example.com")); bytes.Equal(a, b) {
		t.Error("different values, same pseudonym")
	}
	// Another key, another pseudonym.
	p, err := Compile([]Column{col(oidText, 0)}, PlanOptions{HashKey: []byte("another key of 16+ bytes")})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := p.AppendDataRow(nil, dataRowBody([]byte("john@example.com")))
	if vals, _ := parseDataRow(out); bytes.Equal(vals[0], a) {
		t.Error("different keys, same pseudonym")
	}

	// Integers: text and binary agree; ranges hold.
	ti, _ := maskOne(t, col(oidInt8, 0), []byte("5551234567"))
	bi, _ := maskOne(t, col(oidInt8, 1), be64(5551234567))
	if be := be64(0); len(bi) != 8 || string(ti) == "" || be == nil {
		t.Fatal("bad int8 pseudonym")
	}
	var got int64
	if err := pgtype.NewMap().Scan(oidInt8, 1, bi, &got); err != nil || got < 0 {
		t.Fatalf("int8 pseudonym %d: %v", got, err)
	}
	if string(ti) != itoa(got) {
		t.Errorf("int8 text pseudonym %s, binary %d", ti, got)
	}
	i2, _ := maskOne(t, col(oidInt2, 1), []byte{0x04, 0xd2})
	if v := int16(binary.BigEndian.Uint16(i2)); v < 0 {
		t.Errorf("int2 pseudonym %d out of range", v)
	}
	i4t, _ := maskOne(t, col(oidInt4, 0), []byte("-123456"))
	i4b, _ := maskOne(t, col(oidInt4, 1), be32(-123456))
	if string(i4t) != itoa(int64(int32(binary.BigEndian.Uint32(i4b)))) {
		t.Errorf("int4 text %s vs binary %x", i4t, i4b)
	}

	// UUID: text and binary agree, version 8.
	ut, _ := maskOne(t, col(oidUUID, 0), []byte("9f1c2a44-510e-4b8d-a133-77102e5c9001"))
	ub, _ := maskOne(t, col(oidUUID, 1), []byte{0x9f, 0x1c, 0x2a, 0x44, 0x51, 0x0e, 0x4b, 0x8d, 0xa1, 0x33, 0x77, 0x10, 0x2e, 0x5c, 0x90, 0x01})
	if string(appendUUIDText(nil, ub)) != string(ut) || ut[14] != '8' {
		t.Errorf("uuid pseudonyms %s vs %x", ut, ub)
	}
	// bytea: text (hex) and binary agree.
	bt, _ := maskOne(t, col(oidBytea, 0), []byte(`\x4a6f686e`))
	bb, _ := maskOne(t, col(oidBytea, 1), []byte("John"))
	if string(bt) != `\x`+hexString(bb) {
		t.Errorf("bytea pseudonyms %s vs %x", bt, bb)
	}
	// JSON: a JSON string; jsonb text and binary agree.
	jt, _ := maskOne(t, col(oidJSONB, 0), []byte(`{"a":1}`))
	jb, _ := maskOne(t, col(oidJSONB, 1), []byte("\x01{\"a\":1}"))
	if string(jb) != "\x01"+string(jt) || !json.Valid(jt) {
		t.Errorf("jsonb pseudonyms %s vs %q", jt, jb)
	}
	// Unparseable input becomes NULL, not the input.
	if _, ok := maskOne(t, col(oidInt4, 0), []byte("12a")); ok {
		t.Error("hash of a malformed int4 is not NULL")
	}
	if _, ok := maskOne(t, col(oidBytea, 0), []byte(`Jo\\hn`)); ok {
		t.Error("hash of an escape-format bytea is not NULL")
	}
}

func itoa(v int64) string { return string(appendInt(nil, v)) }

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return appendInt(append(b, '-'), -v)
	}
	if v >= 10 {
		b = appendInt(b, v/10)
	}
	return append(b, byte('0'+v%10))
}

func hexString(b []byte) string {
	const d = "0123456789abcdef"
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(d[c>>4])
		s.WriteByte(d[c&15])
	}
	return s.String()
}

// TestHashIntNeverIdentity finds int2 values whose 15-bit pseudonym would
// equal the input and checks the mask still changes them.
func TestHashIntNeverIdentity(t *testing.T) {
	p := mustCompile(t, Column{TypeOID: oidInt2, Format: 1, Mask: Mask{Action: ActionHash}})
	for v := 0; v < 1<<15; v++ {
		in := []byte{byte(v >> 8), byte(v)}
		out, ok := p.maskValue(0, nil, in)
		if !ok || bytes.Equal(out, in) {
			t.Fatalf("hash(%d) = %x, %v", v, out, ok)
		}
	}
}

func TestYearBinary(t *testing.T) {
	days := func(tm time.Time) int32 {
		return int32(floorDiv(tm.Unix(), 86400) - 10957)
	}
	for _, tm := range []time.Time{
		time.Date(1985, 7, 14, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-43, 3, 15, 0, 0, 0, 0, time.UTC),
		time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(5874897, 12, 31, 0, 0, 0, 0, time.UTC),
	} {
		want := days(time.Date(tm.Year(), 1, 1, 0, 0, 0, 0, time.UTC))
		out, ok := appendYearDateBinary(nil, be32(days(tm)))
		if !ok || int32(binary.BigEndian.Uint32(out)) != want {
			t.Errorf("year(%v) = %x, %v; want %d", tm.Format(time.DateOnly), out, ok, want)
		}
	}
	for _, tm := range []time.Time{
		time.Date(2021, 6, 15, 13, 45, 7, 123000, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(-43, 3, 15, 12, 0, 0, 0, time.UTC),
	} {
		us := func(x time.Time) int64 {
			return x.Unix()*1_000_000 + int64(x.Nanosecond()/1000) - 946684800*1_000_000
		}
		want := us(time.Date(tm.Year(), 1, 1, 0, 0, 0, 0, time.UTC))
		out, ok := appendYearTimestampBinary(nil, be64(us(tm)))
		if !ok || int64(binary.BigEndian.Uint64(out)) != want {
			t.Errorf("year(%v) = %x, %v; want %d", tm, out, ok, want)
		}
	}
	for _, inf := range [][]byte{{0x7f, 0xff, 0xff, 0xff}, {0x80, 0, 0, 0}, {1, 2, 3}} {
		if _, ok := appendYearDateBinary(nil, inf); ok {
			t.Errorf("year(%x) is not NULL", inf)
		}
	}
	for _, inf := range [][]byte{be64(1<<63 - 1), be64(-1 << 63), be64(-1<<63 + 1)} {
		if _, ok := appendYearTimestampBinary(nil, inf); ok {
			t.Errorf("year(%x) is not NULL", inf)
		}
	}
}

func TestParseIP(t *testing.T) {
	good := []string{"::", "::1", "1::", "2001:db8::1", "2001:db8:0:0:0:0:0:1", "::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "fe80::1:2", "1:2:3:4:5:6:7:8"}
	for _, s := range good {
		got, ok := parseIPv6([]byte(s))
		want := netip.MustParseAddr(s).As16()
		if !ok || got != want {
			t.Errorf("parseIPv6(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	bad := []string{"", ":", ":::", "1:2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8", "::1.2.3", "g::1", "1:", ":1", "1.2.3.4"}
	for _, s := range bad {
		if _, ok := parseIPv6([]byte(s)); ok {
			t.Errorf("parseIPv6(%q) ok", s)
		}
	}
	for _, s := range []string{"1.2.3", "1.2.3.256", "1.2.3.4.", "01234.1.1.1", "a.b.c.d", ""} {
		if _, ok := parseIPv4([]byte(s)); ok {
			t.Errorf("parseIPv4(%q) ok", s)
		}
	}
	for _, s := range []string{"10.0.0.1/33", "::1/129", "10.0.0.1/", "10.0.0.1/1234"} {
		if _, _, _, ok := parseIPText([]byte(s)); ok {
			t.Errorf("parseIPText(%q) ok", s)
		}
	}
}

func TestAppendDataRow(t *testing.T) {
	cols := []Column{
		{Name: "id", TypeOID: oidInt4, Mask: Pass()},
		{Name: "email", TypeOID: oidText, Mask: Mask{Action: ActionEmail}},
		{Name: "phone", TypeOID: oidText, Mask: Mask{Action: ActionLast4}},
		{Name: "note", TypeOID: oidText, Mask: Pass()},
		{Name: "ssn", TypeOID: oidText, Mask: Mask{Action: ActionNull}},
	}
	p := mustCompile(t, cols...)
	if p.Passthrough() || p.NumColumns() != 5 {
		t.Fatalf("Passthrough %v, NumColumns %d", p.Passthrough(), p.NumColumns())
	}
	body := dataRowBody([]byte("7"), []byte("john@example.com"), []byte("5551234567"), []byte("hello"), []byte("123-45-6789"))
	prefix := []byte("previous message")
	out, err := p.AppendDataRow(append([]byte{}, prefix...), body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, prefix) {
		t.Fatal("dst prefix changed")
	}
	vals, err := parseDataRow(out[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"7", "j***@example.com", "******4567", "hello", "NULL"}
	for i, v := range vals {
		got := string(v)
		if v == nil {
			got = "NULL"
		}
		if got != want[i] {
			t.Errorf("column %d = %q, want %q", i, got, want[i])
		}
	}

	// NULLs stay NULL in every column.
	out, err = p.AppendDataRow(nil, dataRowBody(nil, nil, nil, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if vals, _ := parseDataRow(out); len(vals) != 5 || vals[1] != nil || vals[2] != nil {
		t.Fatalf("NULLs: %q", vals)
	}
}

func TestAppendDataRowErrors(t *testing.T) {
	p := mustCompile(t, Column{TypeOID: oidText, Mask: Mask{Action: ActionRedact}}, Column{TypeOID: oidText, Mask: Pass()})
	good := dataRowBody([]byte("a"), []byte("b"))
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, ErrMalformedRow},
		{"one byte", []byte{0}, ErrMalformedRow},
		{"too few columns", dataRowBody([]byte("a")), ErrColumnCount},
		{"too many columns", dataRowBody([]byte("a"), []byte("b"), []byte("c")), ErrColumnCount},
		{"zero columns", dataRowBody(), ErrColumnCount},
		{"short length", good[:len(good)-6], ErrMalformedRow},
		{"short value", good[:len(good)-1], ErrMalformedRow},
		{"trailing bytes", append(append([]byte{}, good...), 0), ErrMalformedRow},
		{"length -2", append([]byte{0, 2, 0xff, 0xff, 0xff, 0xfe}, good[7:]...), ErrMalformedRow},
		{"length past end", []byte{0, 2, 0x7f, 0xff, 0xff, 0xff, 'a'}, ErrMalformedRow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("prefix")
			out, err := p.AppendDataRow(dst, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if string(out) != "prefix" {
				t.Fatalf("dst = %q, want it unchanged", out)
			}
		})
	}
}

func TestPassthroughPlan(t *testing.T) {
	p := mustCompile(t, Column{TypeOID: oidText, Mask: Pass()}, Column{TypeOID: oidInt4, Format: 1, Mask: Pass()})
	if !p.Passthrough() {
		t.Fatal("all-pass plan is not Passthrough")
	}
	body := dataRowBody([]byte("a"), nil)
	out, err := p.AppendDataRow(nil, body)
	if err != nil || !bytes.Equal(out[5:], body) || out[0] != 'D' {
		t.Fatalf("passthrough: %q, %v", out, err)
	}
	if p := mustCompile(t); !p.Passthrough() || p.NumColumns() != 0 {
		t.Fatal("empty plan")
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		cols []Column
		opts PlanOptions
		want string
	}{
		{"unspecified mask", []Column{{Name: "email", TypeOID: oidText}}, PlanOptions{}, `column 0 ("email"): mask action unspecified`},
		{"bad action", []Column{{TypeOID: oidText, Mask: Mask{Action: 99}}}, PlanOptions{}, "out of range"},
		{"bad keep", []Column{{TypeOID: oidText, Mask: Mask{Action: ActionPartial, Keep: 100}}}, PlanOptions{}, "keep"},
		{"bad format", []Column{{TypeOID: oidText, Format: 2, Mask: Pass()}}, PlanOptions{}, "format code 2"},
		{"hash without key", []Column{{TypeOID: oidText, Mask: Mask{Action: ActionHash}}}, PlanOptions{}, "key"},
		{"hash with a short key", []Column{{TypeOID: oidDate, Mask: Mask{Action: ActionHash}}}, PlanOptions{HashKey: []byte("short")}, "key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.cols, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := Compile([]Column{{TypeOID: oidText, Mask: Mask{Action: ActionHash}}}, PlanOptions{}); !errors.Is(err, ErrHashKey) {
		t.Fatalf("err = %v, want ErrHashKey", err)
	}
}

func TestTextTypes(t *testing.T) {
	const citext = 16385
	c := Column{TypeOID: citext, Mask: Mask{Action: ActionEmail}}
	p, err := Compile([]Column{c}, PlanOptions{TextTypes: []uint32{citext}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := p.AppendDataRow(nil, dataRowBody([]byte("john@example.com")))
	if vals, _ := parseDataRow(out); string(vals[0]) != "j***@example.com" {
		t.Fatalf("citext email = %q", vals[0])
	}
	if _, ok := maskOne(t, c, []byte("john@example.com")); ok {
		t.Fatal("an unmodelled type without TextTypes must be NULL")
	}
}

// TestAllocs pins zero allocations per row for every action on every sample
// type in both formats.
func TestAllocs(t *testing.T) {
	for _, s := range samples(t) {
		for _, format := range []int16{0, 1} {
			for _, a := range allActions {
				p := mustCompile(t, Column{TypeOID: s.oid, TypeMod: s.typmod, Format: format, Mask: Mask{Action: a}},
					Column{TypeOID: oidText, Mask: Pass()})
				body := dataRowBody(s.value(format), []byte("unmasked"))
				dst := make([]byte, 0, 4096)
				var err error
				n := testing.AllocsPerRun(100, func() {
					dst, err = p.AppendDataRow(dst[:0], body)
				})
				if err != nil {
					t.Fatalf("%s/%d/%v: %v", s.name, format, a, err)
				}
				if n != 0 {
					t.Errorf("%s/%d/%v: allocs = %v, want 0", s.name, format, a, n)
				}
			}
		}
	}
}

// TestASCIIUnsafeText: with PlanOptions.ASCIIUnsafeText the masks that read
// a value's characters redact; the others are unchanged. In SJIS, 0x83 0x41
// is one character whose second byte reads as 'A', which would hide the
// IBAN after it from scrub's word-boundary check.
func TestASCIIUnsafeText(t *testing.T) {
	cols := []Column{
		{Name: "note", TypeOID: oidText, TypeMod: -1, Mask: Mask{Action: ActionScrub}},
		{Name: "phone", TypeOID: oidText, TypeMod: -1, Mask: Mask{Action: ActionLast4}},
		{Name: "email", TypeOID: oidText, TypeMod: -1, Mask: Mask{Action: ActionEmail}},
		{Name: "pseudonym", TypeOID: oidText, TypeMod: -1, Mask: Mask{Action: ActionHash}},
		{Name: "born", TypeOID: oidDate, TypeMod: -1, Mask: Mask{Action: ActionYear}},
	}
	row := dataRowBody([]byte("\x83ADE89370400440532013000"), []byte("+49 30 1234567"), []byte("a@example.com"), []byte("x"), []byte("1990-05-17"))
	mask := func(opts PlanOptions) [][]byte {
		t.Helper()
		opts.HashKey = testKey
		p, err := Compile(cols, opts)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.AppendDataRow(nil, row)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := parseDataRow(out)
		if err != nil {
			t.Fatal(err)
		}
		return vals
	}
	safe, unsafe := mask(PlanOptions{}), mask(PlanOptions{ASCIIUnsafeText: true})
	for i := 0; i < 3; i++ {
		if string(unsafe[i]) != redactText {
			t.Errorf("%s: %q with ASCIIUnsafeText, want %s", cols[i].Name, unsafe[i], redactText)
		}
		if string(safe[i]) == redactText {
			t.Errorf("%s: redacted without ASCIIUnsafeText", cols[i].Name)
		}
	}
	for i := 3; i < 5; i++ {
		if string(unsafe[i]) != string(safe[i]) {
			t.Errorf("%s: %q with ASCIIUnsafeText, %q without", cols[i].Name, unsafe[i], safe[i])
		}
	}
}
