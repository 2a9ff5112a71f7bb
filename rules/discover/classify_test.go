package discover

import (
	"fmt"
	"strings"
	"testing"
)

func repeat(v string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name, typeName string
		typeCat        byte
		values         []string
		want           string // category, "" for not personal
	}{
		{"email_verified", "bool", 'B', nil, ""},
		{"email_sent_at", "timestamptz", 'D', nil, ""},
		{"contact", "text", 'S', repeat("jane.roe@example.org", 30), catEmail},
		{"msisdn", "text", 'S', repeat("+44 7700 900123", 30), catPhone},
		{"number", "text", 'S', repeat("(555) 123-4567", 30), catPhone},
		{"kontakt", "text", 'S', repeat("030 12345678", 30), catPhone},
		{"id", "int8", 'N', repeat("1234567890", 30), ""},
		{"phone", "int8", 'N', repeat("4915112345678", 30), catPhone},
		{"pan", "text", 'S', repeat("4111 1111 1111 1111", 30), catCard},
		{"x", "text", 'S', repeat("DE89370400440532013000", 30), catIBAN},
		{"x", "text", 'S', repeat("DE89370400440532013001", 30), ""}, // bad check digits
		{"steuer", "text", 'S', repeat("12345678903", 30), catNationalID},
		{"ref", "int8", 'N', repeat("65929970489", 30), catNationalID}, // valid Steuer-ID check digit
		{"ref", "int8", 'N', repeat("65929970488", 30), ""},            // wrong check digit: just a number
		{"ni", "text", 'S', repeat("AB 12 34 56 C", 30), catNationalID},
		{"ssn", "text", 'S', nil, catNationalID},
		{"name", "text", 'S', repeat("Zephyr SX-100", 30), ""},
		{"name", "text", 'S', repeat("Anna Schmidt", 30), catName},
		{"first_name", "text", 'S', repeat("Anna", 30), catName},
		{"product_name", "text", 'S', repeat("Krypton", 30), ""},
		{"city", "text", 'S', nil, catAddress},
		{"addr", "text", 'S', repeat("Hauptstraße 12, 10115 Berlin", 30), catAddress},
		{"ip_address", "text", 'S', repeat("2001:db8::1", 30), catIP},
		{"src", "inet", 'I', repeat("192.0.2.1/32", 30), catIP},
		{"status", "text", 'S', repeat("open", 300), ""},
		{"country", "text", 'S', repeat("DE", 300), ""},
		{"currency", "text", 'S', repeat("EUR", 300), ""},
		{"sku", "text", 'S', repeat("PRD-00042", 300), ""},
		{"email", "text", 'S', repeat("yes", 50), ""}, // the values contradict the name
		{"dob", "date", 'D', nil, catBirth},
		{"note", "text", 'S', append(repeat("all good", 95), repeat("call Anna Weber tomorrow", 5)...), catFreeText},
		{"body", "text", 'S', append(repeat("see you", 90), repeat("mail me at x@example.com", 10)...), catMessage},
		{"description", "text", 'S', repeat("Meeting room booked. Please bring the slides.", 300), ""},
		{"extra", "jsonb", 'U', repeat(`{"channel": "email", "priority": "high"}`, 100), ""},
		{"extra", "jsonb", 'U', repeat(`{"channel": "web", "tax_id": {"kind": "fr_spi", "value": "0123456789012"}}`, 100), catFreeText},
		{"extra", "jsonb", 'U', repeat(`{"contact": ["someone@example.com"]}`, 100), catFreeText},
		{"ua", "text", 'S', repeat("Mozilla/5.0 (X11; Linux x86_64) Firefox/143.0", 30), catUserAgent},
	}
	for _, tt := range tests {
		table := "public.t"
		if tt.name == "body" {
			table = "public.sms"
		}
		f := classify(column{table: table, name: tt.name, typeName: tt.typeName, typeCat: tt.typeCat}, tt.values)
		got := f.Category
		if f.Confidence < DefaultMinConfidence {
			got = ""
		}
		if got != tt.want {
			t.Errorf("%s %s (%d values): %q %.2f %q, want %q", tt.name, tt.typeName, len(tt.values), f.Category, f.Confidence, f.Reason, tt.want)
		}
		for _, v := range tt.values {
			if len(v) > 5 && strings.Contains(f.Reason, v) {
				t.Errorf("%s: the reason quotes a value", tt.name)
			}
		}
	}
}

func TestSteuerID(t *testing.T) {
	for v, want := range map[string]bool{
		"65929970489": true, "65929970488": false, "05929970489": false, "12345678903": false, "1234567890": false,
	} {
		if got := steuerIDValid(v); got != want {
			t.Errorf("steuerIDValid(%s) = %v", v, got)
		}
	}
}

func TestTokens(t *testing.T) {
	for in, want := range map[string]string{
		"billing_email": "[billing email]", "BillingEmail": "[billing email]", "dateOfBirth": "[date of birth]",
		"user-agent": "[user agent]", "IPAddress": "[ipaddress]",
	} {
		if got := fmt.Sprint(tokens(in)); got != want {
			t.Errorf("tokens(%q) = %s, want %s", in, got, want)
		}
	}
}
