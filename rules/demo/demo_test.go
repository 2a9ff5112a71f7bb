package demo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pgveil/pgveil/rules"
)

// goldenSHA256 pins the default dataset's SQL. The leak-oracle and demo
// fixtures depend on it staying the same; if you change the generator on
// purpose, update it (the test prints the new sum).
const goldenSHA256 = "d229c578d940527f3f99255dee9db8aa47016198aced12a5e38927543e8fb335"

func sqlBytes(t testing.TB, d *Dataset) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := d.WriteSQL(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDeterministic(t *testing.T) {
	a, b := sqlBytes(t, Generate(Options{})), sqlBytes(t, Generate(Options{Seed: DefaultSeed}))
	if !bytes.Equal(a, b) {
		t.Fatal("two datasets with the same seed differ")
	}
	sum := sha256.Sum256(a)
	if got := hex.EncodeToString(sum[:]); got != goldenSHA256 {
		t.Errorf("default dataset SQL sha256 = %s, want %s (update goldenSHA256 if the change is intended)", got, goldenSHA256)
	}
	if c := sqlBytes(t, Generate(Options{Seed: 2})); bytes.Equal(a, c) {
		t.Error("seeds 1 and 2 give the same dataset")
	}
	t.Logf("default SQL: %d bytes", len(a))
}

func TestShape(t *testing.T) {
	d := Generate(Options{})
	counts := map[string][2]int{
		"customers":    {len(d.Customers), DefaultCustomers},
		"messages":     {len(d.Messages), DefaultMessages},
		"tickets":      {len(d.Tickets), DefaultTickets},
		"login_events": {len(d.LoginEvents), DefaultLoginEvents},
		"invoices":     {len(d.Invoices), DefaultInvoices},
		"products":     {len(d.Products), DefaultProducts},
	}
	for name, c := range counts {
		if c[0] != c[1] {
			t.Errorf("%s: %d rows, want %d", name, c[0], c[1])
		}
	}
	ref := d.Reference
	emails := map[string]bool{}
	nullPhones, nullBirths := 0, 0
	for i, c := range d.Customers {
		if c.ID != int64(i+1) {
			t.Fatalf("customer %d has id %d", i, c.ID)
		}
		if emails[c.Email] {
			t.Errorf("duplicate email %q", c.Email)
		}
		emails[c.Email] = true
		if c.Phone == "" {
			nullPhones++
		}
		if c.BirthDate.IsZero() {
			nullBirths++
		}
		if !c.CreatedAt.Before(ref) || c.CreatedAt.Nanosecond() != 0 {
			t.Errorf("customer %d created_at %v", c.ID, c.CreatedAt)
		}
	}
	if nullPhones == 0 || nullBirths == 0 {
		t.Errorf("NULL phones %d, NULL birth dates %d: want some of each", nullPhones, nullBirths)
	}

	recent := 0
	for i, m := range d.Messages {
		c := d.Customers[m.CustomerID-1]
		if m.ID != int64(i+1) || m.CreatedAt.Before(c.CreatedAt) || !m.CreatedAt.Before(ref) || m.CreatedAt.Before(ref.AddDate(-2, 0, 0)) {
			t.Fatalf("message %+v of customer created %v", m, c.CreatedAt)
		}
		if i > 0 && m.CreatedAt.Before(d.Messages[i-1].CreatedAt) {
			t.Fatalf("message %d is older than message %d", m.ID, m.ID-1)
		}
		if ref.Sub(m.CreatedAt) < 180*24*time.Hour {
			recent++
		}
	}
	// Evenly spread over two years: about a quarter is younger than 180 days.
	if share := float64(recent) / float64(len(d.Messages)); share < 0.23 || share > 0.26 {
		t.Errorf("share of messages younger than 180 days = %.3f, want ~0.246", share)
	}

	lines := map[int64]int64{}
	for _, l := range d.InvoiceLines {
		if l.ProductID < 1 || int(l.ProductID) > len(d.Products) || d.Products[l.ProductID-1].PriceCents != l.UnitPriceCents {
			t.Fatalf("line %+v", l)
		}
		lines[l.InvoiceID] += int64(l.Quantity) * l.UnitPriceCents
	}
	for _, inv := range d.Invoices {
		if lines[inv.ID] != inv.AmountCents || inv.AmountCents >= 100000 {
			t.Errorf("invoice %d: amount %d, lines sum to %d", inv.ID, inv.AmountCents, lines[inv.ID])
		}
	}
	v4, v6 := 0, 0
	for _, e := range d.LoginEvents {
		if e.IP.Is4() {
			v4++
		} else {
			v6++
		}
	}
	if v4 == 0 || v6 == 0 {
		t.Errorf("IPv4 %d, IPv6 %d: want both", v4, v6)
	}
	kinds := map[string]int{}
	ibans := 0
	for _, tk := range d.Tickets {
		if tk.CustomFields.TaxID != nil {
			kinds[tk.CustomFields.TaxID.Kind]++
		}
		if tk.CustomFields.IBAN != "" {
			ibans++
		}
	}
	if len(kinds) != 4 || ibans == 0 {
		t.Errorf("tax id kinds %v, IBANs %d", kinds, ibans)
	}
}

func TestSmallAndScaled(t *testing.T) {
	d := Generate(Options{Customers: 3, Messages: 5, Tickets: 2, LoginEvents: 4, Invoices: 2, Products: 1})
	if len(d.Customers) != 3 || len(d.Messages) != 5 || len(d.Products) != 1 {
		t.Fatalf("counts: %d customers, %d messages, %d products", len(d.Customers), len(d.Messages), len(d.Products))
	}
	sqlBytes(t, d)
}

var (
	e164    = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	ssn     = regexp.MustCompile(`^([0-8][0-9]{2})-([0-9]{2})-([0-9]{4})$`)
	nino    = regexp.MustCompile(`^[A-CEGHJ-PR-TW-Z]{2}[0-9]{6}[A-D]$`)
	frSPI   = regexp.MustCompile(`^[0-3][0-9]{12}$`)
	ibanLen = map[string]int{"DE": 22, "GB": 22, "FR": 27, "NL": 18, "AT": 20, "CH": 21, "ES": 24, "IT": 27, "PL": 28}
)

func validIBAN(s string) bool {
	if len(s) != ibanLen[s[:2]] {
		return false
	}
	var num strings.Builder
	for _, ch := range s[4:] + s[:4] {
		if ch >= 'A' && ch <= 'Z' {
			num.WriteString(big.NewInt(int64(ch - 'A' + 10)).String())
		} else {
			num.WriteRune(ch)
		}
	}
	n, ok := new(big.Int).SetString(num.String(), 10)
	return ok && new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

func validSteuerID(s string) bool {
	if len(s) != 11 || s[0] == '0' {
		return false
	}
	seen := map[byte]int{}
	for i := range 10 {
		seen[s[i]]++
	}
	twice := 0
	for _, n := range seen {
		if n == 2 {
			twice++
		}
	}
	if len(seen) != 9 || twice != 1 {
		return false
	}
	product := 10
	for i := range 10 {
		sum := (int(s[i]-'0') + product) % 10
		if sum == 0 {
			sum = 10
		}
		product = (sum * 2) % 11
	}
	check := (11 - product) % 10
	return int(s[10]-'0') == check
}

func TestIdentifiersAreWellFormed(t *testing.T) {
	d := Generate(Options{})
	for _, c := range d.Customers {
		if c.Phone != "" && !e164.MatchString(c.Phone) {
			t.Errorf("phone %q", c.Phone)
		}
	}
	for _, m := range d.Messages {
		if !e164.MatchString(m.ToPhone) {
			t.Errorf("to_phone %q", m.ToPhone)
		}
	}
	for _, tk := range d.Tickets {
		f := tk.CustomFields
		if f.IBAN != "" && !validIBAN(f.IBAN) {
			t.Errorf("IBAN %q", f.IBAN)
		}
		if f.TaxID == nil {
			continue
		}
		v := f.TaxID.Value
		var ok bool
		switch f.TaxID.Kind {
		case "de_steuer_id":
			ok = validSteuerID(v)
		case "us_ssn":
			m := ssn.FindStringSubmatch(v)
			ok = m != nil && m[1] != "000" && m[1] != "666" && m[2] != "00" && m[3] != "0000"
		case "gb_nino":
			ok = nino.MatchString(v)
		case "fr_spi":
			ok = frSPI.MatchString(v)
		}
		if !ok {
			t.Errorf("%s %q is malformed", f.TaxID.Kind, v)
		}
	}
	for _, known := range []string{"DE89370400440532013000", "GB82WEST12345698765432"} {
		if !validIBAN(known) {
			t.Errorf("validIBAN rejects the standard example %s", known)
		}
	}
	if !validSteuerID("86095742719") {
		t.Error("validSteuerID rejects the BZSt example 86095742719")
	}
}

// nonPersonalText returns the text of every column that rules.yaml leaves
// unclassified, as PostgreSQL prints it.
func nonPersonalText(d *Dataset) []string {
	var out []string
	ts := func(t time.Time) string { return strings.Trim(timestamp(t), "'") }
	b := func(v bool) string {
		if v {
			return "true"
		}
		return "false"
	}
	itoa := func(n int64) string { return big.NewInt(n).String() }
	for _, c := range d.Customers {
		out = append(out, itoa(c.ID), c.Country, b(c.MarketingOptIn), ts(c.CreatedAt))
	}
	for _, m := range d.Messages {
		out = append(out, itoa(m.ID), itoa(m.CustomerID), ts(m.CreatedAt))
	}
	for _, tk := range d.Tickets {
		out = append(out, itoa(tk.ID), itoa(tk.CustomerID), tk.Status, ts(tk.CreatedAt))
	}
	for _, e := range d.LoginEvents {
		out = append(out, itoa(e.ID), itoa(e.CustomerID), b(e.Succeeded), ts(e.CreatedAt))
	}
	for _, v := range d.Invoices {
		out = append(out, itoa(v.ID), itoa(v.CustomerID), itoa(v.AmountCents), v.Currency, formatDate(v.IssuedAt))
	}
	for _, p := range d.Products {
		out = append(out, itoa(p.ID), p.SKU, p.Name, itoa(p.PriceCents), p.Category)
	}
	for _, l := range d.InvoiceLines {
		out = append(out, itoa(l.ID), itoa(l.InvoiceID), itoa(l.ProductID), itoa(int64(l.Quantity)), itoa(l.UnitPriceCents))
	}
	return out
}

const fragment = 6

func TestNoPersonalFragmentInNonPersonalColumns(t *testing.T) {
	d := Generate(Options{})
	windows := map[[fragment]byte]string{}
	for _, s := range nonPersonalText(d) {
		s = strings.ToLower(s)
		for i := 0; i+fragment <= len(s); i++ {
			windows[[fragment]byte([]byte(s[i:i+fragment]))] = s
		}
	}
	hits := 0
	for _, p := range d.Personal() {
		if p.Category == "birth_date" {
			continue // documented: dates share fragments with timestamps
		}
		v := strings.ToLower(p.Value)
		for i := 0; i+fragment <= len(v); i++ {
			if src, ok := windows[[fragment]byte([]byte(v[i:i+fragment]))]; ok {
				if hits++; hits <= 10 {
					t.Errorf("%s.%s row %d: fragment %q of a personal value occurs in non-personal %q", p.Table, p.Column, p.Row, v[i:i+fragment], src)
				}
				break
			}
		}
	}
}

func TestEmbeddedValuesAreInTheirRow(t *testing.T) {
	d := Generate(Options{})
	text := func(p PersonalValue) string {
		switch p.Table + "." + p.Column {
		case "public.messages.body":
			return d.Messages[p.Row-1].Body
		case "public.tickets.body":
			return d.Tickets[p.Row-1].Body
		case "public.tickets.subject":
			return d.Tickets[p.Row-1].Subject
		case "public.tickets.custom_fields":
			return customFieldsJSON(d.Tickets[p.Row-1].CustomFields)
		}
		return ""
	}
	n := 0
	for _, p := range d.Personal() {
		if p.Category == "message_body" || p.Category == "free_text" {
			continue
		}
		if s := text(p); s != "" {
			n++
			if !strings.Contains(s, p.Value) {
				t.Errorf("%s.%s row %d lacks %q", p.Table, p.Column, p.Row, p.Value)
			}
		}
	}
	if n < 1000 {
		t.Errorf("only %d identifiers inside free text", n)
	}
}

// rulesFile is the part of the rules format this test reads.
type rulesFile struct {
	Unclassified string `yaml:"unclassified"`
	Tables       map[string]struct {
		SubjectKey string            `yaml:"subject_key"`
		Timestamp  string            `yaml:"timestamp"`
		LegalHold  string            `yaml:"legal_hold"`
		Columns    map[string]string `yaml:"columns"`
		Retention  []struct {
			After  string            `yaml:"after"`
			Redact map[string]string `yaml:"redact"`
		} `yaml:"retention"`
	} `yaml:"tables"`
}

func TestRulesYAMLClassifiesEveryPersonalColumn(t *testing.T) {
	var rf rulesFile
	dec := yaml.NewDecoder(bytes.NewReader(RulesYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatal(err)
	}
	d := Generate(Options{})
	found := map[string]bool{}
	for _, p := range d.Personal() {
		tbl, ok := rf.Tables[p.Table]
		cat, classified := tbl.Columns[p.Column]
		if !ok || !classified {
			t.Fatalf("%s.%s holds personal data but rules.yaml does not classify it", p.Table, p.Column)
		}
		found[p.Table+"."+p.Column] = true
		if cat != "free_text" && cat != "message_body" && cat != p.Category {
			t.Errorf("%s.%s: rules say %s, data is %s", p.Table, p.Column, cat, p.Category)
		}
	}
	for name, tbl := range rf.Tables {
		if tbl.SubjectKey == "" {
			t.Errorf("%s has no subject_key", name)
		}
		for col := range tbl.Columns {
			if !found[name+"."+col] {
				t.Errorf("rules.yaml classifies %s.%s but the dataset has no personal value there", name, col)
			}
		}
		for _, r := range tbl.Retention {
			for col := range r.Redact {
				if _, ok := tbl.Columns[col]; !ok {
					t.Errorf("%s: retention redacts unclassified column %s", name, col)
				}
			}
		}
	}
	msgs := rf.Tables["public.messages"]
	if len(msgs.Retention) != 1 || msgs.Retention[0].After != "180d" || msgs.Retention[0].Redact["to_phone"] != "last4" || msgs.Retention[0].Redact["body"] != "erase" {
		t.Errorf("messages retention = %+v", msgs.Retention)
	}
	if rf.Tables["public.invoices"].LegalHold == "" {
		t.Error("invoices lack legal_hold")
	}
	for _, tbl := range Tables() {
		if !strings.HasPrefix(tbl, "public.") {
			t.Errorf("table %s", tbl)
		}
	}
}

// TestRulesYAMLParses checks the embedded classification with the real
// rules loader.
func TestRulesYAMLParses(t *testing.T) {
	if _, err := rules.ParseCatalog(RulesYAML); err != nil {
		t.Fatal(err)
	}
}

// TestPersonalValuesAreLongEnough: a leak oracle looks for six-byte
// fragments; a shorter value would either be missed or match everywhere.
func TestPersonalValuesAreLongEnough(t *testing.T) {
	vs := Generate(Options{}).PersonalValues()
	for _, v := range vs {
		if len(v) < fragment {
			t.Errorf("personal value %q is shorter than %d bytes", v, fragment)
		}
	}
	if !slices.IsSorted(vs) || len(slices.Compact(slices.Clone(vs))) != len(vs) {
		t.Error("PersonalValues is not sorted and distinct")
	}
}

func BenchmarkGenerateAndWrite(b *testing.B) {
	for b.Loop() {
		var buf bytes.Buffer
		if err := Generate(Options{}).WriteSQL(&buf); err != nil {
			b.Fatal(err)
		}
	}
}
