package rules

import (
	"strings"
	"testing"
)

func mustCatalog(t testing.TB, src string) *Catalog {
	t.Helper()
	c, err := ParseCatalog([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMaskFor(t *testing.T) {
	email := ColumnRef{Table: "public.customers", Column: "email"}
	phone := ColumnRef{Table: "public.customers", Column: "phone"}
	m := func(a Action) Mask { return Mask{Action: a} }
	tests := []struct {
		name string
		d    *Decision
		ref  ColumnRef
		cat  string
		want Mask
	}{
		{"nil decision: default", nil, email, "email", m(ActionEmail)},
		{"empty decision: default", &Decision{}, phone, "phone", Mask{Action: ActionLast4, Keep: 4}},
		{"unknown category: redact", &Decision{}, phone, "loyalty_id", m(ActionRedact)},
		{"category mask", &Decision{Masks: map[string]string{"email": "hash"}}, email, "email", m(ActionHash)},
		{"category reveal", &Decision{Reveal: []string{"email"}}, email, "email", Pass()},
		{"column mask wins over category reveal", &Decision{Reveal: []string{"email"}, Masks: map[string]string{"public.customers.email": "null"}}, email, "email", m(ActionNull)},
		{"column reveal wins over category mask", &Decision{Reveal: []string{"public.customers.email"}, Masks: map[string]string{"email": "hash"}}, email, "email", Pass()},
		{"column mask for another column", &Decision{Masks: map[string]string{"public.customers.phone": "null"}}, email, "email", m(ActionEmail)},
		{"mask and reveal of the same key: mask", &Decision{Reveal: []string{"email"}, Masks: map[string]string{"email": "redact"}}, email, "email", m(ActionRedact)},
		{"malformed mask name: null", &Decision{Masks: map[string]string{"email": "blur"}}, email, "email", m(ActionNull)},
		{"explicit pass", &Decision{Masks: map[string]string{"email": "pass"}}, email, "email", Pass()},
		{"partial with count", &Decision{Masks: map[string]string{"phone": "partial:2"}}, phone, "phone", Mask{Action: ActionPartial, Keep: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.MaskFor(tt.ref, tt.cat); got != tt.want {
				t.Fatalf("MaskFor = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecisionValidate(t *testing.T) {
	good := &Decision{Allow: true, Reveal: []string{"email", "public.customers.phone"}, Masks: map[string]string{"name": "redact", "public.customers.phone": "last4", "x": "partial:3"}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		d    *Decision
		want string
	}{
		{nil, "nil"},
		{&Decision{Masks: map[string]string{"email": "blur"}}, `masks["email"]`},
		{&Decision{Masks: map[string]string{"public.customers": "redact"}}, "schema.table.column"},
		{&Decision{Masks: map[string]string{"Email": "redact"}}, "neither a category"},
		{&Decision{Masks: map[string]string{"a..b": "redact"}}, "schema.table.column"},
		{&Decision{Reveal: []string{""}}, "reveal"},
		{&Decision{Reveal: []string{"a.b.c.d"}}, "schema.table.column"},
	}
	for _, tt := range tests {
		err := tt.d.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.d, err, tt.want)
		}
	}
}

func TestOutputMask(t *testing.T) {
	c := mustCatalog(t, designRules)
	email := ColumnRef{Table: "public.customers", Column: "email"}
	phone := ColumnRef{Table: "public.customers", Column: "phone"}
	id := ColumnRef{Table: "public.customers", Column: "id"}
	invEmail := ColumnRef{Table: "public.invoices", Column: "billing_email"}
	d := &Decision{Allow: true, Masks: map[string]string{"name": "hash"}}
	m := func(a Action) Mask { return Mask{Action: a} }
	tests := []struct {
		name string
		out  Output
		want Mask
	}{
		{"constant", Output{Name: "now"}, Pass()},
		{"unclassified column", Output{Sources: []ColumnRef{id}, Direct: true}, Pass()},
		{"direct email", Output{Sources: []ColumnRef{email}, Direct: true}, m(ActionEmail)},
		{"lower(email)", Output{Sources: []ColumnRef{email}}, m(ActionRedact)},
		{"union of emails", Output{Sources: []ColumnRef{email, invEmail}, Direct: true}, m(ActionEmail)},
		{"email || phone", Output{Sources: []ColumnRef{email, phone}}, m(ActionRedact)},
		{"direct union of different masks", Output{Sources: []ColumnRef{email, phone}, Direct: true}, m(ActionRedact)},
		{"id || email", Output{Sources: []ColumnRef{id, email}}, m(ActionRedact)},
		{"unknown lineage", Output{Unknown: true}, m(ActionRedact)},
		{"hash stays hash when derived", Output{Sources: []ColumnRef{{Table: "public.customers", Column: "full_name"}}}, m(ActionHash)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.OutputMask(c, tt.out); got != tt.want {
				t.Fatalf("OutputMask = %v, want %v", got, tt.want)
			}
		})
	}
	all := &Decision{Reveal: []string{"name", "email", "phone", "birth_date", "message_body"}}
	if got := all.OutputMask(c, Output{Unknown: true}); got != Pass() {
		t.Fatalf("unknown lineage for a reveal-all decision = %v", got)
	}
	// Under unclassified: mask, an unnamed column is personal data.
	cm := mustCatalog(t, "unclassified: mask\n"+designRules[strings.Index(designRules, "tables:"):])
	if got := d.OutputMask(cm, Output{Sources: []ColumnRef{id}, Direct: true}); got != m(ActionRedact) {
		t.Fatalf("unclassified column under mask = %v", got)
	}
	if got := (&Decision{Reveal: []string{CategoryUnclassified}}).OutputMask(cm, Output{Sources: []ColumnRef{id}, Direct: true}); got != Pass() {
		t.Fatalf("revealed unclassified column = %v", got)
	}
}

func TestRevealsAll(t *testing.T) {
	c := mustCatalog(t, designRules)
	all := []string{"name", "email", "phone", "birth_date", "message_body"}
	tests := []struct {
		name string
		d    *Decision
		want bool
	}{
		{"nil decision", nil, false},
		{"empty decision", &Decision{}, false},
		{"every category revealed", &Decision{Reveal: all}, true},
		{"one category missing", &Decision{Reveal: all[1:]}, false},
		{"a column mask", &Decision{Reveal: all, Masks: map[string]string{"public.messages.body": "scrub"}}, false},
		{"masks that pass", &Decision{Masks: map[string]string{"name": "pass", "email": "pass", "phone": "pass", "birth_date": "pass", "message_body": "pass"}}, true},
		{"column reveals", &Decision{Reveal: []string{"name", "email", "phone", "public.customers.birth_date", "public.messages.body"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.RevealsAll(c); got != tt.want {
				t.Fatalf("RevealsAll = %v, want %v", got, tt.want)
			}
			if got := tt.d.HasMasks(c); got == tt.want {
				t.Fatalf("HasMasks = %v", got)
			}
		})
	}
	if !(&Decision{}).RevealsAll(nil) {
		t.Fatal("without a catalog nothing is masked")
	}
	cm := mustCatalog(t, "unclassified: mask\n")
	if (&Decision{}).RevealsAll(cm) {
		t.Fatal("unclassified: mask with no reveal")
	}
	if !(&Decision{Reveal: []string{CategoryUnclassified}}).RevealsAll(cm) {
		t.Fatal("unclassified revealed")
	}
}
