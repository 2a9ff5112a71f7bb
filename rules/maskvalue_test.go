package rules

import (
	"fmt"
	"testing"
)

func TestMaskText(t *testing.T) {
	tests := []struct {
		mask, in, want string
		ok             bool
	}{
		{"last4", "+1 555 123 4567", "***********4567", true},
		{"last4", "+4915112345678", "**********5678", true},
		{"last4", "123", "***", true},
		{"last4", "", "*", true},
		{"last4", "***********4567", "***********4567", true},
		{"partial:2", "Jürgen", "****en", true},
		{"erase", "hello", "[redacted]", true},
		{"null", "hello", "", false},
		{"email", "john.doe@example.com", "j***@example.com", true},
		{"email", "not an address", "", false},
		{"ip_prefix", "192.168.10.77", "192.168.10.0/24", true},
		{"scrub", "mail john@example.com now", "mail [email] now", true},
		{"hash", "x", "", false},
	}
	for _, tt := range tests {
		m, err := ParseMask(tt.mask)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := MaskText(m, tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("MaskText(%s, %q) = %q, %v; want %q, %v", tt.mask, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValueMask(t *testing.T) {
	redact, _ := ParseMask("redact")
	vm, err := CompileValueMask(redact, oidVarchar, 4+4, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := vm.Constant(); !ok || string(k) != "****" {
		t.Errorf("Constant() = %q, %v; want ****", k, ok)
	}
	if vm.AlwaysNull() {
		t.Error("AlwaysNull() = true for redact of varchar")
	}
	year, _ := ParseMask("year")
	vm, err = CompileValueMask(year, oidDate, -1, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := vm.AppendText(nil, []byte("1985-07-14")); !ok || string(got) != "1985-01-01" {
		t.Errorf("year(date) = %q, %v", got, ok)
	}
	if _, ok := vm.Constant(); ok {
		t.Error("Constant() ok for year")
	}
	vm, err = CompileValueMask(year, oidBool, -1, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !vm.AlwaysNull() {
		t.Error("year of bool should always be NULL")
	}
	hash, _ := ParseMask("hash")
	if _, err := CompileValueMask(hash, oidText, -1, PlanOptions{}); err == nil {
		t.Error("hash without key compiled")
	}
}

func TestFindIdentifiers(t *testing.T) {
	text := "Call +49 151 23456789 or mail anna.m@example.com; IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789, ip 10.1.2.3"
	type hit struct{ Kind, Text string }
	var got []hit
	FindIdentifiers([]byte(text), func(kind string, s, e int) bool {
		got = append(got, hit{kind, text[s:e]})
		return true
	})
	want := []hit{
		{IdentPhone, "+49 151 23456789"},
		{IdentEmail, "anna.m@example.com"},
		{IdentIBAN, "DE89 3704 0044 0532 0130 00"},
		{IdentNationalID, "123-45-6789"},
		{IdentIP, "10.1.2.3"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FindIdentifiers = %v\nwant %v", got, want)
	}
	n := 0
	FindIdentifiers([]byte(text), func(string, int, int) bool { n++; return false })
	if n != 1 {
		t.Errorf("yield false did not stop: %d calls", n)
	}
}
