package rules

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// copyData unwraps one CopyData message.
func copyData(t testing.TB, msg []byte) string {
	t.Helper()
	if len(msg) < 5 || msg[0] != 'd' || int(binary.BigEndian.Uint32(msg[1:])) != len(msg)-1 {
		t.Fatalf("not a CopyData message: %q", msg)
	}
	return string(msg[5:])
}

var copyCols = []Column{
	{Name: "id", TypeOID: oidInt4, Mask: Pass()},
	{Name: "email", TypeOID: oidText, Mask: Mask{Action: ActionEmail}},
	{Name: "phone", TypeOID: oidText, Mask: Mask{Action: ActionLast4}},
	{Name: "note", TypeOID: oidText, Mask: Mask{Action: ActionScrub}},
	{Name: "born", TypeOID: oidDate, Format: 1, Mask: Mask{Action: ActionYear}}, // Format is ignored by COPY
}

func TestCopyText(t *testing.T) {
	f := NewCopyFormat(CopyText)
	f.Header = true
	p, err := CompileCopy(copyCols, f, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Passthrough() || p.NumColumns() != 5 {
		t.Fatal("plan shape")
	}
	rows := []struct{ in, want string }{
		{"id\temail\tphone\tnote\tborn\n", "id\temail\tphone\tnote\tborn\n"}, // header
		{"7\tjohn@example.com\t5551234567\tcall me\\tat 555-123-4567\\\\x\t1985-07-14\n",
			"7\tj***@example.com\t******4567\tcall me\\tat [phone]\\\\x\t1985-01-01\n"},
		{"8\t\\N\t\\N\t\\N\t\\N\n", "8\t\\N\t\\N\t\\N\t\\N\n"},
		{"9\tnot an address\t12\t\\101\\x42C\tinfinity\n", "9\t\\N\t**\tABC\t\\N\n"},
		{"10\ta@example.com\t\\\\\\\\\\t\\n\tline\\nbreak a@b.example\t2000-02-29\n", "10\ta***@example.com\t****\tline\\nbreak [email]\t2000-01-01\n"},
	}
	for i, r := range rows {
		out, err := p.AppendRow(nil, []byte(r.in))
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if got := copyData(t, out); got != r.want {
			t.Errorf("row %d:\n got %q\nwant %q", i, got, r.want)
		}
	}
	// Reset expects the header again.
	p.Reset()
	out, err := p.AppendRow(nil, []byte("a\tb\tc\td\te\n"))
	if err != nil || copyData(t, out) != "a\tb\tc\td\te\n" {
		t.Fatalf("header after Reset: %q, %v", out, err)
	}
}

func TestCopyTextOptions(t *testing.T) {
	f := CopyFormat{Kind: CopyText, Delimiter: '|', Null: "NULL"}
	p, err := CompileCopy(copyCols[:3], f, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.AppendRow(nil, []byte("1|NULL|+1 5\\|5 5\\|5 1234\n"))
	if err != nil {
		t.Fatal(err)
	}
	// The masked phone "+1 5|5 5|5 1234" keeps "1234" and its stars; a
	// delimiter in a masked value is escaped.
	if got := copyData(t, out); got != "1|NULL|***********1234\n" {
		t.Errorf("got %q", got)
	}
	p2, _ := CompileCopy([]Column{{TypeOID: oidText, Mask: Mask{Action: ActionScrub}}}, f, PlanOptions{})
	out, err = p2.AppendRow(nil, []byte("a\\|b x@example.com\n"))
	if err != nil || copyData(t, out) != "a\\|b [email]\n" {
		t.Errorf("got %q, %v", out, err)
	}
	// A masked value that becomes NULL is written as the NULL string.
	p3, _ := CompileCopy([]Column{{TypeOID: oidText, Mask: Mask{Action: ActionNull}}}, f, PlanOptions{})
	out, _ = p3.AppendRow(nil, []byte("secret\n"))
	if got := copyData(t, out); got != "NULL\n" {
		t.Errorf("got %q", got)
	}
}

func TestCopyCSV(t *testing.T) {
	f := NewCopyFormat(CopyCSV)
	f.Header = true
	p, err := CompileCopy(copyCols, f, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := []struct{ in, want string }{
		{"id,email,\"phone, mobile\",note,born\n", "id,email,\"phone, mobile\",note,born\n"},
		{"7,john@example.com,5551234567,\"call, \"\"me\"\"\nat 555-123-4567\",1985-07-14\n",
			"7,j***@example.com,******4567,\"call, \"\"me\"\"\nat [phone]\",1985-01-01\n"},
		{"8,,,,\n", "8,,,,\n"},                          // NULLs
		{"9,\"\",\"\",\"\",\"\"\n", "9,,\"*\",\"\",\n"}, // empty strings: email and year NULL, partial stars, scrub keeps "" quoted
		{"10,\"a@example.com\",12,\"x,y\",2000-02-29\n", "10,\"a***@example.com\",**,\"x,y\",2000-01-01\n"},
	}
	for i, r := range rows {
		out, err := p.AppendRow(nil, []byte(r.in))
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if got := copyData(t, out); got != r.want {
			t.Errorf("row %d:\n got %q\nwant %q", i, got, r.want)
		}
	}
}

func TestCopyCSVOptions(t *testing.T) {
	f := CopyFormat{Kind: CopyCSV, Delimiter: ';', Null: "\\N", Quote: '\'', Escape: '\\'}
	p, err := CompileCopy([]Column{
		{TypeOID: oidText, Mask: Mask{Action: ActionScrub}},
		{TypeOID: oidText, Mask: Pass()},
		{TypeOID: oidText, Mask: Mask{Action: ActionRedact}},
	}, f, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.AppendRow(nil, []byte("'it\\'s a@example.com; \\\\ok';'x;y';\\N\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := copyData(t, out); got != "'it\\'s [email]; \\\\ok';'x;y';\\N\n" {
		t.Errorf("got %q", got)
	}
	// A redacted value that contains no special character is unquoted; a
	// NULL string value that is quoted is a value, not NULL.
	out, _ = p.AppendRow(nil, []byte("a;b;'\\N'\n"))
	if got := copyData(t, out); got != "a;b;'[redacted]'\n" {
		t.Errorf("got %q", got)
	}
}

func TestCopyBinary(t *testing.T) {
	if _, err := CompileCopy(copyCols, NewCopyFormat(CopyBinary), PlanOptions{}); !errors.Is(err, ErrBinaryCopyMasked) {
		t.Fatalf("err = %v, want ErrBinaryCopyMasked", err)
	}
	p, err := CompileCopy([]Column{{TypeOID: oidText, Mask: Pass()}}, NewCopyFormat(CopyBinary), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	row := []byte("PGCOPY\n\xff\r\n\x00 anything")
	out, err := p.AppendRow(nil, row)
	if err != nil || copyData(t, out) != string(row) {
		t.Fatalf("binary passthrough: %q, %v", out, err)
	}
}

func TestCopyErrors(t *testing.T) {
	text, _ := CompileCopy(copyCols[:2], NewCopyFormat(CopyText), PlanOptions{})
	csv, _ := CompileCopy(copyCols[:2], NewCopyFormat(CopyCSV), PlanOptions{})
	tests := []struct {
		name string
		p    *CopyPlan
		row  string
		want error
	}{
		{"text no newline", text, "1\ta@example.com", ErrMalformedRow},
		{"text empty", text, "", ErrMalformedRow},
		{"text too few", text, "1\n", ErrColumnCount},
		{"text too many", text, "1\ta@example.com\t3\n", ErrColumnCount},
		{"text trailing backslash", text, "1\ta@example.com\\\n", ErrMalformedRow},
		{"csv unterminated quote", csv, "1,\"a@example.com\n", ErrMalformedRow},
		{"csv too many", csv, "1,2,3\n", ErrColumnCount},
		{"csv too few", csv, "1\n", ErrColumnCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.p.AppendRow([]byte("prefix"), []byte(tt.row))
			if !errors.Is(err, tt.want) || string(out) != "prefix" {
				t.Fatalf("AppendRow = %q, %v; want prefix, %v", out, err, tt.want)
			}
		})
	}
	formats := []CopyFormat{
		{},
		{Kind: CopyText},
		{Kind: CopyText, Delimiter: '\n'},
		{Kind: CopyText, Delimiter: 'a', Null: `\N`},
		{Kind: CopyText, Delimiter: '\t', Null: "a\tb"},
		{Kind: CopyCSV, Delimiter: ',', Quote: ',', Escape: '"'},
		{Kind: CopyCSV, Delimiter: ',', Escape: '"'},
		{Kind: CopyCSV, Delimiter: ',', Quote: '"', Escape: '"', Null: `"`},
		{Kind: 9, Delimiter: ','},
	}
	for _, f := range formats {
		if _, err := CompileCopy(copyCols[:1], f, PlanOptions{}); err == nil {
			t.Errorf("CompileCopy(%+v) accepted", f)
		}
	}
	if _, err := CompileCopy([]Column{{TypeOID: oidText}}, NewCopyFormat(CopyText), PlanOptions{}); err == nil {
		t.Error("CompileCopy accepted an unspecified mask")
	}
}

func TestCopyZeroColumns(t *testing.T) {
	p, err := CompileCopy(nil, NewCopyFormat(CopyText), PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := p.AppendRow(nil, []byte("\n")); err != nil || copyData(t, out) != "\n" {
		t.Fatalf("%q, %v", out, err)
	}
	if _, err := p.AppendRow(nil, []byte("x\n")); !errors.Is(err, ErrColumnCount) {
		t.Fatalf("err = %v", err)
	}
}

func TestCopyAllocs(t *testing.T) {
	cols := append([]Column{}, copyCols...)
	cols = append(cols, Column{TypeOID: oidText, Mask: Mask{Action: ActionHash}})
	for _, kind := range []CopyKind{CopyText, CopyCSV} {
		p, err := CompileCopy(cols, NewCopyFormat(kind), PlanOptions{HashKey: testKey})
		if err != nil {
			t.Fatal(err)
		}
		row := "7\tjohn@example.com\t5551234567\tcall me\\tat 555-123-4567\t1985-07-14\tjohn\n"
		if kind == CopyCSV {
			row = "7,john@example.com,5551234567,\"call me, at 555-123-4567\",1985-07-14,john\n"
		}
		dst := make([]byte, 0, 1024)
		n := testing.AllocsPerRun(100, func() {
			dst, err = p.AppendRow(dst[:0], []byte(row))
		})
		if err != nil || n != 0 {
			t.Errorf("%v: allocs = %v, err %v", kind, n, err)
		}
		if kind.String() != []string{"", "text", "csv"}[kind] || strings.Contains(copyData(t, dst), "john@") {
			t.Errorf("%v: %q", kind, dst)
		}
	}
}
