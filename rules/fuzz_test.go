package rules

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// fuzzTypes are the column types the fuzzers draw from.
var fuzzTypes = []struct {
	oid    uint32
	typmod int32
}{
	{oidText, -1}, {oidVarchar, 12}, {oidBPChar, 14}, {oidJSON, -1}, {oidJSONB, -1},
	{oidInt2, -1}, {oidInt4, -1}, {oidInt8, -1}, {oidNumeric, -1}, {oidFloat8, -1},
	{oidBool, -1}, {oidDate, -1}, {oidTimestamp, -1}, {oidTimestamptz, -1}, {oidTime, -1},
	{oidUUID, -1}, {oidInet, -1}, {oidCIDR, -1}, {oidBytea, -1}, {1009, -1}, {1007, -1}, {16385, -1},
}

// fuzzColumns decodes a column spec: two bytes per column (type; format bit
// 0x80, keep bits 0x70, action in the low nibble), at most 8 columns.
func fuzzColumns(spec []byte, text bool) []Column {
	var cols []Column
	for i := 0; i+1 < len(spec) && len(cols) < 8; i += 2 {
		ty := fuzzTypes[int(spec[i])%len(fuzzTypes)]
		b := spec[i+1]
		c := Column{
			TypeOID: ty.oid,
			TypeMod: ty.typmod,
			Mask:    Mask{Action: allActions[int(b&0x0f)%len(allActions)], Keep: int(b>>4) & 7},
		}
		if b&0x80 != 0 && !text {
			c.Format = 1
		}
		cols = append(cols, c)
	}
	return cols
}

func fuzzSpec(cols ...[2]byte) []byte {
	var b []byte
	for _, c := range cols {
		b = append(b, c[0], c[1])
	}
	return b
}

// typeIndex returns the index of oid in fuzzTypes.
func typeIndex(oid uint32) byte {
	for i, t := range fuzzTypes {
		if t.oid == oid {
			return byte(i)
		}
	}
	panic("no such type")
}

func actionIndex(a Action) byte {
	for i, x := range allActions {
		if x == a {
			return byte(i)
		}
	}
	panic("no such action")
}

// parseBody parses a DataRow body; ok is false when it is malformed.
func parseBody(body []byte) (vals [][]byte, ok bool) {
	if len(body) < 2 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(body))
	rp := 2
	for range n {
		if len(body)-rp < 4 {
			return nil, false
		}
		l := int32(binary.BigEndian.Uint32(body[rp:]))
		rp += 4
		if l == -1 {
			vals = append(vals, nil)
			continue
		}
		if l < -1 || int(l) > len(body)-rp {
			return nil, false
		}
		vals = append(vals, body[rp:rp+int(l)])
		rp += int(l)
	}
	return vals, rp == len(body)
}

func FuzzAppendDataRow(f *testing.F) {
	spec := fuzzSpec(
		[2]byte{typeIndex(oidInt4), actionIndex(ActionPass)},
		[2]byte{typeIndex(oidText), actionIndex(ActionEmail)},
		[2]byte{typeIndex(oidText), actionIndex(ActionLast4)},
		[2]byte{typeIndex(oidJSONB), 0x80 | actionIndex(ActionScrub)},
		[2]byte{typeIndex(oidDate), 0x80 | actionIndex(ActionYear)},
		[2]byte{typeIndex(oidInt8), 0x80 | actionIndex(ActionHash)},
	)
	f.Add(spec, dataRowBody([]byte("7"), []byte("john@example.com"), []byte("5551234567"), []byte("\x01{\"a\":\"x@example.com\"}"), be32(-5000), be64(42)))
	f.Add(spec, dataRowBody(nil, nil, nil, nil, nil, nil))
	f.Add(spec, dataRowBody([]byte("7")))
	f.Add(spec, []byte{0, 6, 0xff, 0xff, 0xff, 0xfe})
	f.Add(spec, []byte{0, 6, 0, 0, 0, 9, 'a'})
	f.Add(spec, append(dataRowBody([]byte("1"), nil, nil, nil, nil, nil), 0))
	f.Add(fuzzSpec([2]byte{typeIndex(oidInet), 0x80 | actionIndex(ActionIPPrefix)}, [2]byte{typeIndex(oidUUID), actionIndex(ActionHash)}),
		dataRowBody([]byte{2, 32, 0, 4, 10, 1, 2, 3}, []byte("9f1c2a44-510e-4b8d-a133-77102e5c9001")))
	f.Add(fuzzSpec([2]byte{typeIndex(oidTimestamptz), actionIndex(ActionYear)}, [2]byte{typeIndex(oidBytea), actionIndex(ActionHash)}),
		dataRowBody([]byte("2021-06-15 13:45:07+02"), []byte(`\x0102`)))
	decoders := map[uint32]func(*pgtype.Map, int16, []byte) error{}
	for _, s := range samples(f) {
		if s.decode != nil {
			decoders[s.oid] = s.decode
		}
	}
	m := pgtype.NewMap()
	f.Fuzz(func(t *testing.T, spec, body []byte) {
		cols := fuzzColumns(spec, false)
		p, err := Compile(cols, PlanOptions{HashKey: testKey})
		if err != nil {
			t.Skip()
		}
		in, parsed := parseBody(body)
		prefix := []byte("prefix")
		out, err := p.AppendDataRow(append([]byte{}, prefix...), body)
		if err != nil {
			if !bytes.Equal(out, prefix) {
				t.Fatalf("on error dst = %q, want it unchanged", out)
			}
			if parsed && len(in) == len(cols) {
				t.Fatalf("valid body rejected: %v", err)
			}
			return
		}
		if !parsed || len(in) != len(cols) {
			t.Fatal("malformed body accepted")
		}
		if !bytes.HasPrefix(out, prefix) {
			t.Fatal("dst prefix changed")
		}
		got, err := parseDataRow(out[len(prefix):])
		if err != nil || len(got) != len(cols) {
			t.Fatalf("output does not parse: %v (%d columns)", err, len(got))
		}
		for i, v := range in {
			switch {
			case v == nil:
				if got[i] != nil {
					t.Fatalf("column %d: NULL became %q", i, got[i])
				}
			case cols[i].Mask.Action == ActionPass:
				if !bytes.Equal(got[i], v) {
					t.Fatalf("column %d: unmasked value changed", i)
				}
			default:
				want, ok := p.maskValue(i, nil, v)
				if !ok && got[i] != nil || ok && !bytes.Equal(got[i], want) {
					t.Fatalf("column %d: got %q, want mask(v) = %q (%v)", i, got[i], want, ok)
				}
				// A valid value of the type masks to a valid value.
				if dec := decoders[cols[i].TypeOID]; dec != nil && got[i] != nil && dec(m, cols[i].Format, v) == nil {
					if err := dec(m, cols[i].Format, got[i]); err != nil {
						t.Fatalf("column %d (oid %d, format %d, %v): %q masks to %q, which does not decode: %v",
							i, cols[i].TypeOID, cols[i].Format, cols[i].Mask, v, got[i], err)
					}
				}
			}
		}
	})
}

// copyFields splits a COPY row into decoded fields (nil: NULL), as a client
// would read it. It is a reference implementation independent of CopyPlan's
// rewriting.
func copyFields(f CopyFormat, row []byte) ([][]byte, bool) {
	if len(row) == 0 || row[len(row)-1] != '\n' {
		return nil, false
	}
	line := row[:len(row)-1]
	var out [][]byte
	if f.Kind == CopyText {
		for _, raw := range splitTextFields(line, f.Delimiter) {
			if raw == nil {
				return nil, false
			}
			if string(raw) == f.Null {
				out = append(out, nil)
				continue
			}
			out = append(out, copyTextUnescape([]byte{}, raw))
		}
		return out, true
	}
	i := 0
	for {
		var v []byte
		quoted, in := false, false
		start := i
		for i < len(line) {
			c := line[i]
			if in {
				if c == f.Escape && f.Escape != f.Quote && i+1 < len(line) && (line[i+1] == f.Quote || line[i+1] == f.Escape) {
					v = append(v, line[i+1])
					i += 2
				} else if c == f.Quote && i+1 < len(line) && line[i+1] == f.Quote && f.Escape == f.Quote {
					v = append(v, c)
					i += 2
				} else if c == f.Quote {
					in = false
					i++
				} else {
					v = append(v, c)
					i++
				}
				continue
			}
			if c == f.Delimiter {
				break
			}
			if c == f.Quote {
				in, quoted = true, true
			} else {
				v = append(v, c)
			}
			i++
		}
		if in {
			return nil, false
		}
		if !quoted && string(line[start:i]) == f.Null {
			out = append(out, nil)
		} else {
			out = append(out, append([]byte{}, v...))
		}
		if i == len(line) {
			return out, true
		}
		i++
	}
}

// splitTextFields splits a text-format line at unescaped delimiters; a nil
// field means a dangling backslash.
func splitTextFields(line []byte, d byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
			if i == len(line) {
				return [][]byte{nil}
			}
		case d:
			out = append(out, line[start:i])
			start = i + 1
		}
	}
	return append(out, line[start:])
}

func fuzzCopyFormat(kind byte) CopyFormat {
	switch kind % 4 {
	case 0:
		return NewCopyFormat(CopyText)
	case 1:
		return CopyFormat{Kind: CopyText, Delimiter: '|', Null: "NULL"}
	case 2:
		return NewCopyFormat(CopyCSV)
	default:
		return CopyFormat{Kind: CopyCSV, Delimiter: ';', Null: `\N`, Quote: '\'', Escape: '\\'}
	}
}

func FuzzCopyRow(f *testing.F) {
	spec := fuzzSpec(
		[2]byte{typeIndex(oidInt4), actionIndex(ActionPass)},
		[2]byte{typeIndex(oidText), actionIndex(ActionEmail)},
		[2]byte{typeIndex(oidText), actionIndex(ActionScrub)},
		[2]byte{typeIndex(oidJSON), actionIndex(ActionScrub)},
		[2]byte{typeIndex(oidText), actionIndex(ActionHash)},
	)
	f.Add(byte(0), spec, []byte("7\tjohn@example.com\tcall 555-123-4567\\tnow\t{\"a\": \"x@example.com\"}\tjohn\n"))
	f.Add(byte(0), spec, []byte("7\t\\N\t\\N\t\\N\t\\N\n"))
	f.Add(byte(1), spec, []byte("7|NULL|a\\|b|{}|x\n"))
	f.Add(byte(2), spec, []byte("7,john@example.com,\"call, \"\"me\"\"\n555-123-4567\",\"{\"\"a\"\": 1}\",\n"))
	f.Add(byte(3), spec, []byte("7;'it\\'s';\\N;'{}';x\n"))
	f.Add(byte(2), spec, []byte("7,\"unterminated\n"))
	f.Add(byte(0), spec, []byte("no newline"))
	f.Fuzz(func(t *testing.T, kind byte, spec, row []byte) {
		cf := fuzzCopyFormat(kind)
		cols := fuzzColumns(spec, true)
		p, err := CompileCopy(cols, cf, PlanOptions{HashKey: testKey})
		if err != nil {
			t.Skip()
		}
		in, parsed := copyFields(cf, row)
		prefix := []byte("prefix")
		out, err := p.AppendRow(append([]byte{}, prefix...), row)
		if err != nil {
			if !bytes.Equal(out, prefix) {
				t.Fatalf("on error dst = %q, want it unchanged", out)
			}
			if parsed && len(in) == len(cols) && len(cols) > 0 {
				t.Fatalf("valid row rejected: %v", err)
			}
			return
		}
		if len(cols) == 0 {
			return
		}
		if !parsed || len(in) != len(cols) {
			t.Fatalf("malformed row accepted: %q", row)
		}
		if len(out) < len(prefix)+5 || out[len(prefix)] != 'd' || int(binary.BigEndian.Uint32(out[len(prefix)+1:])) != len(out)-len(prefix)-1 {
			t.Fatalf("bad CopyData framing: %q", out)
		}
		got, ok := copyFields(cf, out[len(prefix)+5:])
		if !ok || len(got) != len(cols) {
			t.Fatalf("output %q does not parse (%d fields)", out, len(got))
		}
		for i, v := range in {
			switch {
			case v == nil:
				if got[i] != nil {
					t.Fatalf("field %d: NULL became %q", i, got[i])
				}
			case cols[i].Mask.Action == ActionPass:
				if !bytes.Equal(got[i], v) {
					t.Fatalf("field %d: unmasked value changed: %q -> %q", i, v, got[i])
				}
			default:
				want, ok := p.plan.maskValue(i, nil, v)
				if !ok {
					if got[i] != nil {
						t.Fatalf("field %d: got %q, want NULL", i, got[i])
					}
					continue
				}
				// A masked value equal to the NULL string reads as NULL in
				// text format (as in PostgreSQL itself).
				if got[i] == nil && cf.Kind == CopyText && string(want) == cf.Null {
					continue
				}
				if !bytes.Equal(got[i], want) {
					t.Fatalf("field %d: got %q, want mask(v) = %q", i, got[i], want)
				}
			}
		}
	})
}

func FuzzScrub(f *testing.F) {
	for _, s := range []string{
		"mail john.doe@example.com or call +1 (555) 123-4567",
		"card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789",
		"from 192.168.1.77 and 2001:db8::1, tax 12345678901",
		`{"to":"a\u0040example.org","pan":4111111111111111,"n":[1,2.5e3,null,true],"s":"\ud83d\ude00"}`,
		`["x@example.com", {"k": "555 123 4567"}]`,
		"on 2024-01-15 10:30, total 12345678.90, v1.2.3.4.5",
		"Grüße an jürgen@example.de",
		`"unterminated`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out := AppendScrub([]byte("p"), data)
		if out[0] != 'p' {
			t.Fatal("dst prefix changed")
		}
		out = out[1:]
		if utf8.Valid(data) && !utf8.Valid(out) {
			t.Fatalf("scrub broke UTF-8: %q", out)
		}
		// Scrubbing the output again finds no e-mail address, card number or
		// IBAN that the first pass left. (Full idempotence does not hold for
		// the phone and IP heuristics: a tag can change the context that made
		// a neighbouring digit run not look like a phone number.)
		if again := AppendScrub(nil, out); strongTags(again) != strongTags(out) {
			t.Fatalf("scrub left an identifier:\n in %q\nout %q\nout2 %q", data, out, again)
		}
		jout, ok := AppendScrubJSON([]byte("p"), data)
		if !ok {
			if string(jout) != "p" {
				t.Fatal("dst changed on failure")
			}
			if json.Valid(data) {
				t.Fatalf("valid JSON rejected: %q", data)
			}
			return
		}
		jout = jout[1:]
		if json.Valid(data) {
			if !json.Valid(jout) {
				t.Fatalf("scrubbed JSON is invalid:\n in %s\nout %s", data, jout)
			}
			if again, _ := AppendScrubJSON(nil, jout); strongTags(again) != strongTags(jout) {
				t.Fatalf("JSON scrub left an identifier:\n in %s\nout %s\nout2 %s", data, jout, again)
			}
		}
	})
}

// strongTags counts the tags of the identifiers with an unambiguous shape.
func strongTags(b []byte) int {
	return bytes.Count(b, []byte(tagEmail)) + bytes.Count(b, []byte(tagCard)) + bytes.Count(b, []byte(tagIBAN))
}

func FuzzParseCatalog(f *testing.F) {
	f.Add([]byte(designRules))
	f.Add([]byte("unclassified: mask\ntables:\n  public.t:\n    timestamp: ts\n    columns: {a: phone}\n    retention:\n      - {after: 36h, redact: {a: partial:2}}\n"))
	f.Add([]byte("tables:\n  public.a: &t {columns: {e: email}}\n  public.b: *t\n"))
	f.Add([]byte("tables:\n  customers: {colums: {}}\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCatalog(data)
		if err != nil {
			if c != nil {
				t.Fatal("catalog and error")
			}
			var issue *CatalogIssue
			if errors.As(err, &issue) && issue.Msg == "" {
				t.Fatal("empty issue")
			}
			return
		}
		again, err := ParseCatalog(data)
		if err != nil || again.Revision() != c.Revision() {
			t.Fatal("revision not stable")
		}
		for tb := range c.Tables() {
			if !strings.Contains(tb.Name(), ".") {
				t.Fatalf("unqualified table %q", tb.Name())
			}
			for col, cat := range tb.Columns() {
				if !ValidCategoryName(cat) || !validIdent(col) {
					t.Fatalf("invalid column %q or category %q", col, cat)
				}
			}
			for _, r := range tb.Retention() {
				if tb.Timestamp() == "" || len(r.Redact) == 0 {
					t.Fatal("retention without timestamp or redactions")
				}
				for _, rd := range r.Redact {
					if _, ok := tb.Category(rd.Column); !ok || rd.Column == tb.Timestamp() || rd.Mask.Validate() != nil || rd.Mask.IsPass() {
						t.Fatalf("bad redaction %+v", rd)
					}
				}
			}
		}
	})
}
