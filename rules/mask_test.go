package rules

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseMask(t *testing.T) {
	tests := []struct {
		in   string
		want Mask
		str  string
	}{
		{"pass", Mask{Action: ActionPass}, "pass"},
		{"null", Mask{Action: ActionNull}, "null"},
		{"redact", Mask{Action: ActionRedact}, "redact"},
		{"erase", Mask{Action: ActionRedact}, "redact"},
		{"partial", Mask{Action: ActionPartial, Keep: 4}, "partial:4"},
		{"partial:1", Mask{Action: ActionPartial, Keep: 1}, "partial:1"},
		{"partial:64", Mask{Action: ActionPartial, Keep: 64}, "partial:64"},
		{"last4", Mask{Action: ActionLast4, Keep: 4}, "last4"},
		{"email", Mask{Action: ActionEmail}, "email"},
		{"hash", Mask{Action: ActionHash}, "hash"},
		{"year", Mask{Action: ActionYear}, "year"},
		{"ip_prefix", Mask{Action: ActionIPPrefix}, "ip_prefix"},
		{"scrub", Mask{Action: ActionScrub}, "scrub"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMask(tt.in)
			if err != nil {
				t.Fatalf("ParseMask(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseMask(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.str {
				t.Fatalf("String() = %q, want %q", got.String(), tt.str)
			}
			again, err := ParseMask(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip %q: %+v, %v", got.String(), again, err)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestParseMaskErrors(t *testing.T) {
	for _, in := range []string{"", "Redact", "hash:3", "partial:0", "partial:65", "partial:x", "partial:+3", "partial:", "mask", "last4:2", " null"} {
		if m, err := ParseMask(in); err == nil {
			t.Errorf("ParseMask(%q) = %+v, want error", in, m)
		}
	}
	_, err := ParseMask("bogus")
	if !errors.Is(err, ErrUnknownMask) {
		t.Errorf("ParseMask(bogus) = %v, want ErrUnknownMask", err)
	}
	long := strings.Repeat("x", 1000)
	if _, err := ParseMask(long); err == nil || len(err.Error()) > 300 {
		t.Errorf("error for a long name is %d bytes, want it shortened", len(err.Error()))
	}
}

func TestMaskValidate(t *testing.T) {
	bad := []Mask{{}, {Action: numActions}, {Action: ActionPartial, Keep: -1}, {Action: ActionPartial, Keep: MaxKeep + 1}}
	for _, m := range bad {
		if err := m.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil, want error", m)
		}
	}
	if got := (Mask{Action: ActionPartial}).keep(); got != DefaultKeep {
		t.Errorf("partial with Keep 0 keeps %d, want %d", got, DefaultKeep)
	}
	if got := (Action(200)).String(); got != "action(200)" {
		t.Errorf("Action(200).String() = %q", got)
	}
}

func TestDerived(t *testing.T) {
	tests := []struct {
		in, want Action
	}{
		{ActionUnspecified, ActionUnspecified},
		{ActionPass, ActionPass},
		{ActionNull, ActionNull},
		{ActionRedact, ActionRedact},
		{ActionPartial, ActionRedact},
		{ActionLast4, ActionRedact},
		{ActionEmail, ActionRedact},
		{ActionHash, ActionHash},
		{ActionYear, ActionRedact},
		{ActionIPPrefix, ActionRedact},
		{ActionScrub, ActionRedact},
	}
	for _, tt := range tests {
		got := Mask{Action: tt.in, Keep: 3}.Derived()
		if got != (Mask{Action: tt.want}) {
			t.Errorf("%v.Derived() = %+v, want %v", tt.in, got, tt.want)
		}
		// A derived value never gets a format-preserving mask.
		switch got.Action {
		case ActionPartial, ActionLast4, ActionEmail, ActionYear, ActionIPPrefix, ActionScrub:
			t.Errorf("%v.Derived() is format-preserving", tt.in)
		}
	}
}

func TestCombine(t *testing.T) {
	m := func(a Action) Mask { return Mask{Action: a} }
	tests := []struct {
		a, b Mask
		want Mask
	}{
		{Pass(), Pass(), Pass()},
		{Pass(), m(ActionHash), m(ActionHash)},
		{m(ActionHash), Pass(), m(ActionHash)},
		{m(ActionHash), m(ActionLast4), m(ActionRedact)},
		{m(ActionEmail), Pass(), m(ActionRedact)},
		{m(ActionRedact), m(ActionNull), m(ActionNull)},
		{m(ActionNull), m(ActionHash), m(ActionNull)},
		{Pass(), Mask{}, Mask{}}, // unspecified stays, and Compile rejects it
	}
	for _, tt := range tests {
		if got := tt.a.Combine(tt.b); got != tt.want {
			t.Errorf("%v.Combine(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestBuiltinCategories(t *testing.T) {
	cats := BuiltinCategories()
	if !slices.IsSortedFunc(cats, func(a, b Category) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatal("builtinCategories is not sorted by name")
	}
	for _, want := range []string{"name", "email", "phone", "address", "ip_address", "birth_date", "national_id", "payment_card", "iban", "message_body", "free_text", "user_agent", "tax_id", CategoryUnclassified} {
		if !IsBuiltinCategory(want) {
			t.Errorf("%q is not a built-in category", want)
		}
	}
	for _, c := range cats {
		if !ValidCategoryName(c.Name) {
			t.Errorf("built-in %q is not a valid category name", c.Name)
		}
		if canon, err := ParseMask(c.Default.String()); err != nil || canon != c.Default {
			t.Errorf("%q default %+v is not in canonical form (ParseMask gives %+v)", c.Name, c.Default, canon)
		}
		if err := c.Default.Validate(); err != nil || c.Default.IsPass() {
			t.Errorf("%q default %v: must be a valid, non-pass mask (%v)", c.Name, c.Default, err)
		}
		if c.Description == "" {
			t.Errorf("%q has no description", c.Name)
		}
	}
	if got := DefaultMask("loyalty_number"); got != (Mask{Action: ActionRedact}) {
		t.Errorf("DefaultMask of an unknown category = %v, want redact", got)
	}
	if got := DefaultMask("email"); got != (Mask{Action: ActionEmail}) {
		t.Errorf("DefaultMask(email) = %v", got)
	}
	cats[0].Name = "mutated"
	if BuiltinCategories()[0].Name == "mutated" {
		t.Error("BuiltinCategories returns the internal array")
	}
}

func TestValidCategoryName(t *testing.T) {
	for _, s := range []string{"email", "a", "x_1", "loyalty_id2"} {
		if !ValidCategoryName(s) {
			t.Errorf("ValidCategoryName(%q) = false", s)
		}
	}
	for _, s := range []string{"", "Email", "1abc", "a.b", "a-b", "a b", strings.Repeat("a", 64)} {
		if ValidCategoryName(s) {
			t.Errorf("ValidCategoryName(%q) = true", s)
		}
	}
}

// TestPartialASCIIFastPath checks that partial's one-byte-per-character
// path gives what the rune-by-rune path gives, for every ASCII value up to
// 12 bytes long (of a few shapes) and every keep up to 14, and that
// asciiOnly sees a non-ASCII byte at any position of a word-sized value.
func TestPartialASCIIFastPath(t *testing.T) {
	const alphabet = "a+0 -@*~"
	for n := 0; n <= 12; n++ {
		v := make([]byte, n)
		for i := range v {
			v[i] = alphabet[(i*5+n)%len(alphabet)]
		}
		if !asciiOnly(v) {
			t.Fatalf("asciiOnly(%q) = false", v)
		}
		for keep := 0; keep <= 14; keep++ {
			got, want := appendPartialASCII(nil, v, keep), appendPartialRunes(nil, v, keep)
			if string(got) != string(want) {
				t.Errorf("partial:%d of %q: ASCII path %q, rune path %q", keep, v, got, want)
			}
		}
	}
	for n := 1; n <= 20; n++ {
		for at := range n {
			v := []byte(strings.Repeat("x", n))
			v[at] = 0xc3
			if asciiOnly(v) {
				t.Errorf("asciiOnly misses byte 0xc3 at %d of %d", at, n)
			}
		}
	}
	// A non-ASCII value takes the rune path: the kept characters are whole.
	if got := string(appendPartial(nil, []byte("Zoë Müller"), 3, false)); got != "*******ler" {
		t.Errorf("partial:3 of Zoë Müller = %q", got)
	}
}
