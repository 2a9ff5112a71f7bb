package demo

import "time"

// PersonalValue is one piece of personal data in the dataset, in the text
// form PostgreSQL prints it (DateStyle ISO, inet without /32 or /128).
type PersonalValue struct {
	// Table and Column name where the value is stored, such as
	// "public.customers" and "email".
	Table, Column string
	// Row is the id of the row that holds it.
	Row int64
	// Category is the value's kind of personal data, in the rules' names:
	// name, email, phone, birth_date, address, national_id, iban,
	// ip_address, user_agent, message_body, free_text.
	Category string
	// Value is the text. For free-text columns it is either the whole
	// column value (category message_body or free_text) or an identifier
	// written inside it (name, email, phone, address, iban).
	Value string
}

// Personal returns every piece of personal data the dataset holds: each
// value of a personal-data column (customers' names, emails, phones and birth
// dates; SMS recipients and bodies; ticket subjects and bodies; tax IDs,
// postal addresses and IBANs in ticket custom fields; login IPs and user
// agents; billing names and emails), and the identifiers written into free
// text (names, emails, phones, addresses, IBANs of customers and of the
// people they mention). NULLs are left out, as are values that are not
// personal: ids, country codes, booleans, statuses, amounts, currencies,
// timestamps of events, products and invoice lines.
//
// A leak test can look for each Value and for fragments of it in what a
// masked client received. Two caveats: a fragment of a date (category
// birth_date) such as "-03-14" also occurs in the unmasked created_at
// timestamps, so match dates whole; and masks that keep part of a value by
// design (an email mask that keeps the domain, last4, ip_prefix) reveal
// those parts. Otherwise no fragment of six or more bytes of any value
// occurs in a non-personal column (a test asserts this).
func (d *Dataset) Personal() []PersonalValue {
	var out []PersonalValue
	add := func(table, column string, row int64, category, v string) {
		if v != "" {
			out = append(out, PersonalValue{Table: table, Column: column, Row: row, Category: category, Value: v})
		}
	}
	for _, c := range d.Customers {
		add("public.customers", "full_name", c.ID, "name", c.FullName)
		add("public.customers", "email", c.ID, "email", c.Email)
		add("public.customers", "phone", c.ID, "phone", c.Phone)
		add("public.customers", "birth_date", c.ID, "birth_date", formatDate(c.BirthDate))
	}
	for _, m := range d.Messages {
		add("public.messages", "to_phone", m.ID, "phone", m.ToPhone)
		add("public.messages", "body", m.ID, "message_body", m.Body)
	}
	for _, t := range d.Tickets {
		add("public.tickets", "subject", t.ID, "free_text", t.Subject)
		add("public.tickets", "body", t.ID, "free_text", t.Body)
		if t.CustomFields.TaxID != nil {
			add("public.tickets", "custom_fields", t.ID, "national_id", t.CustomFields.TaxID.Value)
		}
		add("public.tickets", "custom_fields", t.ID, "address", t.CustomFields.PostalAddress)
		add("public.tickets", "custom_fields", t.ID, "iban", t.CustomFields.IBAN)
	}
	for _, e := range d.LoginEvents {
		add("public.login_events", "ip", e.ID, "ip_address", e.IP.String())
		add("public.login_events", "user_agent", e.ID, "user_agent", e.UserAgent)
	}
	for _, inv := range d.Invoices {
		add("public.invoices", "billing_name", inv.ID, "name", inv.BillingName)
		add("public.invoices", "billing_email", inv.ID, "email", inv.BillingEmail)
	}
	return append(out, d.embedded...)
}

// PersonalValues returns the distinct Values of Personal, sorted.
func (d *Dataset) PersonalValues() []string {
	p := d.Personal()
	vs := make([]string, len(p))
	for i, v := range p {
		vs[i] = v.Value
	}
	return sortedUnique(vs)
}

// formatDate prints a date as PostgreSQL does with DateStyle ISO; the zero
// time (NULL) prints as "".
func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}
