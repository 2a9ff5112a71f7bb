package rules

import (
	"testing"
)

// Micro-benchmarks of the row rewriters. ns/op is the time per row; the
// allocs/row metric must stay 0.
//
// Measured on a 2-core AMD EPYC, Go 1.26 (go test -run '^$' -bench . -benchmem
// ./rules), all at 0 allocs/row; re-measure with benchstat around a change:
//
//	AppendDataRow/10cols_3masked      268 ns/row  (email, last4, hash)
//	AppendDataRow/10cols_passthrough   38 ns/row
//	BenchWideRow                       79 ns/row  (redact, email, last4; 90 before
//	                                   the ASCII path of partial)
//	Mask/null 12, redact 17, partial 29, last4 29, email 34, hash_text 182,
//	  hash_int8_binary 238, hash_uuid 253, year_date_text 25,
//	  year_timestamptz_binary 35, ip_prefix_text 79, ip_prefix_binary 25,
//	  scrub_text_120B 487, scrub_jsonb_binary 348 ns/row
//	CopyRow/text 515, CopyRow/csv 532 ns/row (10 fields, 3 masked)

func reportPerRow(b *testing.B, f func()) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f()
	}
	b.StopTimer()
	b.ReportMetric(testing.AllocsPerRun(100, f), "allocs/row")
}

// tenColumns is a 10-column customers row: id, 3 masked columns (email,
// phone, name as hash) and 6 revealed ones.
func tenColumns(masked bool) ([]Column, []byte) {
	m := func(a Action) Mask {
		if !masked {
			return Pass()
		}
		return Mask{Action: a}
	}
	cols := []Column{
		{Name: "id", TypeOID: oidInt8, Format: 1, Mask: Pass()},
		{Name: "email", TypeOID: oidText, Mask: m(ActionEmail)},
		{Name: "phone", TypeOID: oidText, Mask: m(ActionLast4)},
		{Name: "full_name", TypeOID: oidText, Mask: m(ActionHash)},
		{Name: "country", TypeOID: oidText, Mask: Pass()},
		{Name: "created_at", TypeOID: oidTimestamptz, Format: 1, Mask: Pass()},
		{Name: "status", TypeOID: oidText, Mask: Pass()},
		{Name: "score", TypeOID: oidFloat8, Format: 1, Mask: Pass()},
		{Name: "plan", TypeOID: oidText, Mask: Pass()},
		{Name: "active", TypeOID: oidBool, Format: 1, Mask: Pass()},
	}
	body := dataRowBody(be64(123456), []byte("john.doe@example.com"), []byte("+1 555 123 4567"), []byte("John Doe"),
		[]byte("US"), be64(693150307000000), []byte("active"), be64(0x4049000000000000), []byte("enterprise"), []byte{1})
	return cols, body
}

func BenchmarkAppendDataRow(b *testing.B) {
	for _, bc := range []struct {
		name   string
		masked bool
	}{{"10cols_3masked", true}, {"10cols_passthrough", false}} {
		b.Run(bc.name, func(b *testing.B) {
			cols, body := tenColumns(bc.masked)
			benchRow(b, cols, body)
		})
	}
}

// BenchmarkBenchWideRow rewrites one row of bench_wide (bench/cmd/
// pgbench-compare) in text format with the masks of bench/masked: name
// redacted, email partially, phone to its last 4 digits. It is the per-row
// cost of the masked wide10k workload.
func BenchmarkBenchWideRow(b *testing.B) {
	cols := []Column{
		{Name: "id", TypeOID: oidInt8, Mask: Pass()},
		{Name: "name", TypeOID: oidText, Mask: Mask{Action: ActionRedact}},
		{Name: "email", TypeOID: oidText, Mask: Mask{Action: ActionEmail}},
		{Name: "phone", TypeOID: oidText, Mask: Mask{Action: ActionLast4}},
		{Name: "birth_date", TypeOID: oidDate, Mask: Pass()},
		{Name: "created_at", TypeOID: oidTimestamptz, Mask: Pass()},
		{Name: "amount", TypeOID: oidNumeric, Mask: Pass()},
		{Name: "score", TypeOID: oidFloat8, Mask: Pass()},
		{Name: "active", TypeOID: oidBool, Mask: Pass()},
		{Name: "note", TypeOID: oidText, Mask: Pass()},
	}
	body := dataRowBody([]byte("4711"), []byte("Customer 4711 C82561ec215a6e"), []byte("user4711.cd3dc8b6cffb@example.com"),
		[]byte("+1 555 0111 04711"), []byte("1950-01-08"), []byte("2024-11-04 08:47:00+00"), []byte("7919.19"),
		[]byte("0.14285714285714285"), []byte("t"), []byte("8a8bb7cd343aa2ad99b7d762030857a2 ed"))
	benchRow(b, cols, body)
}

// benchRow compiles cols and measures AppendDataRow on body.
func benchRow(b *testing.B, cols []Column, body []byte) {
	p, err := Compile(cols, PlanOptions{HashKey: testKey})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 1024)
	b.SetBytes(int64(len(body)))
	reportPerRow(b, func() { dst, _ = p.AppendDataRow(dst[:0], body) })
}

// BenchmarkMask measures each mask alone on a one-column row.
func BenchmarkMask(b *testing.B) {
	note := []byte("Hi, this is John. Mail me at john.doe@example.com or call +1 (555) 123-4567; my card is 4111 1111 1111 1111. Thanks!")
	cases := []struct {
		name   string
		oid    uint32
		format int16
		mask   Mask
		value  []byte
	}{
		{"null", oidText, 0, Mask{Action: ActionNull}, []byte("john.doe@example.com")},
		{"redact", oidText, 0, Mask{Action: ActionRedact}, []byte("john.doe@example.com")},
		{"partial", oidText, 0, Mask{Action: ActionPartial, Keep: 4}, []byte("+1 555 123 4567")},
		{"last4", oidText, 0, Mask{Action: ActionLast4}, []byte("+1 555 123 4567")},
		{"email", oidText, 0, Mask{Action: ActionEmail}, []byte("john.doe@example.com")},
		{"hash_text", oidText, 0, Mask{Action: ActionHash}, []byte("john.doe@example.com")},
		{"hash_int8_binary", oidInt8, 1, Mask{Action: ActionHash}, be64(5551234567)},
		{"hash_uuid", oidUUID, 0, Mask{Action: ActionHash}, []byte("9f1c2a44-510e-4b8d-a133-77102e5c9001")},
		{"year_date_text", oidDate, 0, Mask{Action: ActionYear}, []byte("1985-07-14")},
		{"year_timestamptz_binary", oidTimestamptz, 1, Mask{Action: ActionYear}, be64(693150307000000)},
		{"ip_prefix_text", oidInet, 0, Mask{Action: ActionIPPrefix}, []byte("192.168.10.77")},
		{"ip_prefix_binary", oidInet, 1, Mask{Action: ActionIPPrefix}, []byte{2, 32, 0, 4, 192, 168, 10, 77}},
		{"scrub_text_120B", oidText, 0, Mask{Action: ActionScrub}, note},
		{"scrub_jsonb_binary", oidJSONB, 1, Mask{Action: ActionScrub}, []byte("\x01" + `{"note": "mail john.doe@example.com", "card": 4111111111111111, "n": [1, 2, 3]}`)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p, err := Compile([]Column{{TypeOID: c.oid, Format: c.format, Mask: c.mask}}, PlanOptions{HashKey: testKey})
			if err != nil {
				b.Fatal(err)
			}
			body := dataRowBody(c.value)
			dst := make([]byte, 0, 1024)
			reportPerRow(b, func() { dst, _ = p.AppendDataRow(dst[:0], body) })
		})
	}
}

func BenchmarkCopyRow(b *testing.B) {
	cols, _ := tenColumns(true)
	for _, kind := range []CopyKind{CopyText, CopyCSV} {
		b.Run(kind.String(), func(b *testing.B) {
			p, err := CompileCopy(cols, NewCopyFormat(kind), PlanOptions{HashKey: testKey})
			if err != nil {
				b.Fatal(err)
			}
			row := []byte("123456\tjohn.doe@example.com\t+1 555 123 4567\tJohn Doe\tUS\t2021-12-18 13:45:07+00\tactive\t50\tenterprise\tt\n")
			if kind == CopyCSV {
				row = []byte("123456,john.doe@example.com,+1 555 123 4567,\"Doe, John\",US,2021-12-18 13:45:07+00,active,50,enterprise,t\n")
			}
			dst := make([]byte, 0, 1024)
			reportPerRow(b, func() { dst, _ = p.AppendRow(dst[:0], row) })
		})
	}
}
