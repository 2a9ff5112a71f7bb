package rules

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScrub(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// E-mail addresses.
		{"mail john.doe@example.com now", "mail [email] now"},
		{"<john+tag@mail.example.co.uk>", "<[email]>"},
		{"write to a@b.example.", "write to [email]."},
		{"mailto:john@example.com", "mailto:[email]"},
		{".john@example.com", "[email]"},
		{strings.Repeat("a", 80) + "@example.com", "[email]"},
		{"user@localhost is not an address", "user@localhost is not an address"},
		{"a@b.c1 no", "a@b.c1 no"},
		// Phone numbers.
		{"call +1 (555) 123-4567 today", "call [phone] today"},
		{"call 555-123-4567", "call [phone]"},
		{"call 555.123.4567", "call [phone]"},
		{"+44 20 7946 0958", "[phone]"},
		{"+4915112345678", "[phone]"},
		{"(555) 123-4567", "[phone]"},
		{"tel:5551234567", "tel:[phone]"},
		{"short 555-1234", "short 555-1234"},
		{"555 123 4567 1234 5678 99", "[phone] 5678 99"}, // at most 15 digits
		// Not phones: dates, decimals, version strings, times, ordinary numbers.
		{"on 2024-01-15 10:30", "on 2024-01-15 10:30"},
		{"on 15.01.2024 10:30", "on 15.01.2024 10:30"},
		{"total 12345678.90", "total 12345678.90"},
		{"v1.2.3.4.5", "v1.2.3.4.5"},
		{"order 12345", "order 12345"},
		{"x5551234567", "x5551234567"},
		// IP addresses.
		{"from 192.168.1.77.", "from [ip]."},
		{"from 192.168.1.77:8080", "from [ip]:8080"},
		{"2001:db8::1 and fe80::1:2", "[ip] and [ip]"},
		{"::1", "[ip]"},
		{"version 1.2.3.4.5", "version 1.2.3.4.5"},
		{"std::vector and 12:30:45", "std::vector and 12:30:45"},
		{"999.1.1.1", "999.1.1.1"},
		// IBANs.
		{"IBAN DE89 3704 0044 0532 0130 00, thanks", "IBAN [iban], thanks"},
		{"GB82WEST12345698765432", "[iban]"},
		{"gb82west12345698765432", "[iban]"},
		{"DE89 3704 0044 0532 0130 01 (bad check)", "DE89 [card] (bad check)"}, // not an IBAN, but its digits pass Luhn
		// Payment cards.
		{"card 4111 1111 1111 1111 exp", "card [card] exp"},
		{"card 4111-1111-1111-1111", "card [card]"},
		{"4111111111111111", "[card]"},
		{"378282246310005", "[card]"},
		{"4111 1111 1111 1111 2 items", "[card] 2 items"},
		{"4111111111111112 bad luhn", "4111111111111112 bad luhn"},
		{"1234567812345670 (starts with 1)", "1234567812345670 (starts with 1)"},
		// National and tax identifiers.
		{"SSN 123-45-6789.", "SSN [national_id]."},
		{"Steuer-ID 12345678901", "Steuer-ID [national_id]"},
		{"123-45-67890", "[phone]"}, // not an SSN, but ten digits
		// Several in a row, UTF-8 around them.
		{"Grüße an jürgen@example.de, Tel. +49 30 1234567, IP 10.0.0.1 — danke",
			"Grüße an [email], Tel. [phone], IP [ip] — danke"},
		{"an a@b.de—dann", "an [email]—dann"},
		{"an élise@example.fr", "an [email]"},
		{"--john@example.com", "[email]"},
		{"", ""},
	}
	for _, tt := range tests {
		got := string(AppendScrub(nil, []byte(tt.in)))
		if got != tt.want {
			t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// Scrubbing is idempotent: tags do not look like identifiers.
		if again := string(AppendScrub(nil, []byte(got))); again != got {
			t.Errorf("scrub(scrub(%q)) = %q", tt.in, again)
		}
	}
}

func TestScrubJSON(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"email":"john@example.com"}`, `{"email":"[email]"}`},
		{`{"a\u0040b.example":"x"}`, `{"[email]":"x"}`}, // keys are scrubbed too
		{`{"k":"mail a\u0040example.org now"}`, `{"k":"mail [email] now"}`},
		{`{"k":"line\nmail a@example.org\t\"quoted\" \\ \u0001 done"}`, `{"k":"line\nmail [email]\t\"quoted\" \\ \u0001 done"}`},
		{`{"k":"\ud83d\ude00 call +1 555 123 4567"}`, `{"k":"😀 call [phone]"}`},
		{`{"k":"\ud800 lone a@example.org"}`, `{"k":"� lone [email]"}`},
		{`{"pan":4111111111111111,"n":-12345678901,"x":1.5e10,"y":5551234567}`, `{"pan":"[card]","n":"[national_id]","x":1.5e10,"y":"[phone]"}`},
		{`[1, 2, 3, true, null, "plain"]`, `[1, 2, 3, true, null, "plain"]`},
		{`"4111 1111 1111 1111"`, `"[card]"`},
		{`  {"a" : [ "x@example.com" , {"b": "10.1.2.3"} ] }  `, `  {"a" : [ "[email]" , {"b": "[ip]"} ] }  `},
		{``, ``},
	}
	for _, tt := range tests {
		got, ok := AppendScrubJSON(nil, []byte(tt.in))
		if !ok || string(got) != tt.want {
			t.Errorf("scrubJSON(%s) = %s, %v; want %s", tt.in, got, ok, tt.want)
		}
		if tt.in != "" && json.Valid([]byte(tt.in)) && !json.Valid(got) {
			t.Errorf("scrubJSON(%s) = %s is not valid JSON", tt.in, got)
		}
	}
	dst := []byte("keep")
	if out, ok := AppendScrubJSON(dst, []byte(`{"a":"unterminated`)); ok || string(out) != "keep" {
		t.Errorf("unterminated string: %q, %v", out, ok)
	}
}

func TestScrubAllocs(t *testing.T) {
	text := []byte(strings.Repeat("Mail john@example.com or +1 555 123 4567, card 4111 1111 1111 1111, IP 10.0.0.1. ", 10))
	doc := []byte(`{"a":"mail a\u0040example.org","b":[4111111111111111,"x"],"c":"plain text"}`)
	dst := make([]byte, 0, 8192)
	if n := testing.AllocsPerRun(100, func() { dst = AppendScrub(dst[:0], text) }); n != 0 {
		t.Errorf("AppendScrub allocs = %v", n)
	}
	if n := testing.AllocsPerRun(100, func() { dst, _ = AppendScrubJSON(dst[:0], doc) }); n != 0 {
		t.Errorf("AppendScrubJSON allocs = %v", n)
	}
}

func TestIBANAndLuhn(t *testing.T) {
	for _, s := range []string{"DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "NL91ABNA0417164300"} {
		if !ibanValid([]byte(s)) {
			t.Errorf("ibanValid(%s) = false", s)
		}
	}
	if ibanValid([]byte("DE89370400440532013001")) {
		t.Error("bad IBAN accepted")
	}
	digits := func(s string) []byte {
		b := []byte(s)
		for i := range b {
			b[i] -= '0'
		}
		return b
	}
	for _, s := range []string{"4111111111111111", "5500005555555559", "378282246310005", "6011111111111117"} {
		if !luhn(digits(s)) {
			t.Errorf("luhn(%s) = false", s)
		}
	}
	if luhn(digits("4111111111111112")) {
		t.Error("bad Luhn accepted")
	}
}
