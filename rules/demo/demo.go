package demo

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// DefaultSeed is the seed Generate uses when Options.Seed is zero.
const DefaultSeed = 1

// ReferenceDate is the "today" of the dataset: every timestamp lies before
// it, messages and tickets spread over the two years that end on it. Tests of
// retention evaluate "now" as this date.
const ReferenceDate = "2026-11-01"

// Default row counts: the default dataset loads in about a second.
const (
	DefaultCustomers   = 2000
	DefaultMessages    = 20000
	DefaultTickets     = 3000
	DefaultLoginEvents = 10000
	DefaultInvoices    = 4000
	DefaultProducts    = 200
)

// Options sizes and seeds a dataset. The zero value is the default dataset.
type Options struct {
	// Seed selects the dataset: equal options give byte-identical datasets.
	// Zero means DefaultSeed.
	Seed uint64
	// Row counts; zero means the Default* constant of the same name.
	// Negative counts panic.
	Customers, Messages, Tickets, LoginEvents, Invoices, Products int
}

// Customer is a row of public.customers; each field is the column of the
// same name in snake_case. Phone "" and a zero BirthDate are SQL NULL.
type Customer struct {
	ID             int64
	FullName       string
	Email          string
	Phone          string
	BirthDate      time.Time
	Country        string
	MarketingOptIn bool
	CreatedAt      time.Time
}

// Message is a row of public.messages: an SMS sent through the service.
// ToPhone is the customer's own number (a notification) or someone else's.
type Message struct {
	ID         int64
	CustomerID int64
	ToPhone    string
	Body       string
	CreatedAt  time.Time
}

// Ticket is a row of public.tickets: a support request.
type Ticket struct {
	ID           int64
	CustomerID   int64
	Subject      string
	Body         string
	CustomFields TicketFields
	Status       string // open, pending, solved or closed
	CreatedAt    time.Time
}

// TicketFields is the jsonb custom_fields of a ticket, as a help-desk tool
// stores them. Empty fields are omitted from the JSON.
type TicketFields struct {
	Priority      string `json:"priority"`
	Channel       string `json:"channel"`
	TaxID         *TaxID `json:"tax_id,omitempty"`
	PostalAddress string `json:"postal_address,omitempty"`
	IBAN          string `json:"iban,omitempty"`
}

// TaxID is a national tax identifier; see Kind values in the package doc.
type TaxID struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// LoginEvent is a row of public.login_events.
type LoginEvent struct {
	ID         int64
	CustomerID int64
	IP         netip.Addr
	UserAgent  string
	Succeeded  bool
	CreatedAt  time.Time
}

// Invoice is a row of public.invoices, kept for tax law (legal hold).
// AmountCents is the sum of its lines.
type Invoice struct {
	ID           int64
	CustomerID   int64
	BillingName  string
	BillingEmail string
	AmountCents  int64
	Currency     string
	IssuedAt     time.Time // a date
}

// InvoiceLine is a row of public.invoice_lines; it holds no personal data.
type InvoiceLine struct {
	ID             int64
	InvoiceID      int64
	ProductID      int64
	Quantity       int
	UnitPriceCents int64
}

// Product is a row of public.products; it holds no personal data.
type Product struct {
	ID         int64
	SKU        string
	Name       string
	PriceCents int64
	Category   string
}

// Dataset is a generated demo database. Rows are ordered by ID, and IDs start
// at 1. A Dataset is read-only after Generate; its methods are safe for
// concurrent use.
type Dataset struct {
	// Seed is the seed it was generated from.
	Seed uint64
	// Reference is ReferenceDate at 00:00 UTC: every timestamp is before it.
	Reference time.Time
	// The rows of each table; element i has ID i+1.
	Customers    []Customer
	Messages     []Message
	Tickets      []Ticket
	LoginEvents  []LoginEvent
	Invoices     []Invoice
	InvoiceLines []InvoiceLine
	Products     []Product

	// embedded are the identifiers written into free text, recorded when
	// the text was built.
	embedded []PersonalValue
}

// profile holds the facts about a customer that stay the same across their
// rows; it comes from a random stream of its own per customer, so it does
// not depend on the order in which rows are generated.
type profile struct {
	country country
	first   string
	taxID   *TaxID
	address string
	iban    string // "" for countries without IBAN
	ips     []netip.Addr
	agents  []string
}

// person is someone a customer mentions: a colleague, a friend, a partner.
type person struct {
	full, first, email, phone string
}

type generator struct {
	d        *Dataset
	profiles []profile
	emails   map[string]bool
	phones   map[string]bool
}

// Generate builds the dataset that opts describe. It is deterministic: the
// same options give the same rows, in the same order, on every platform and
// Go release.
func Generate(opts Options) *Dataset {
	counts := []*int{&opts.Customers, &opts.Messages, &opts.Tickets, &opts.LoginEvents, &opts.Invoices, &opts.Products}
	defaults := []int{DefaultCustomers, DefaultMessages, DefaultTickets, DefaultLoginEvents, DefaultInvoices, DefaultProducts}
	for i, c := range counts {
		switch {
		case *c < 0:
			panic(fmt.Sprintf("demo: negative row count %d", *c))
		case *c == 0:
			*c = defaults[i]
		}
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	ref, _ := time.Parse(time.DateOnly, ReferenceDate) // a valid constant
	g := &generator{
		d:      &Dataset{Seed: opts.Seed, Reference: ref},
		emails: map[string]bool{},
		phones: map[string]bool{},
	}
	g.products(opts.Products)
	g.customers(opts.Customers)
	g.messages(opts.Messages)
	g.tickets(opts.Tickets)
	g.logins(opts.LoginEvents)
	g.invoices(opts.Invoices)
	return g.d
}

func (g *generator) products(n int) {
	r := newRNG(g.d.Seed, streamProducts)
	seen := map[string]bool{}
	for i := range n {
		var name, category string
		for {
			k := pick(r, productKinds)
			name = pick(r, productSeries) + " " + k.code + "-" + pick(r, productSizes)
			category = k.category
			if !seen[name] || len(seen) >= len(productSeries)*len(productKinds)*len(productSizes) {
				break
			}
		}
		seen[name] = true
		g.d.Products = append(g.d.Products, Product{
			ID:         int64(i + 1),
			SKU:        fmt.Sprintf("PRD-%05d", i+1),
			Name:       name,
			PriceCents: int64(r.between(1, 100))*100 - int64(pick(r, []int{1, 5, 10, 0})),
			Category:   category,
		})
	}
}

func (g *generator) customers(n int) {
	r := newRNG(g.d.Seed, streamCustomers)
	ref := g.d.Reference
	created := spread(r, n, ref.AddDate(-3, 0, 0), ref.AddDate(0, 0, -30))
	weights := make([]int, len(countries))
	for i, c := range countries {
		weights[i] = c.weight
	}
	for i := range n {
		id := int64(i + 1)
		c := countries[r.weighted(weights)]
		first, last := pick(r, firstNames), pick(r, lastNames)
		c1 := Customer{
			ID:             id,
			FullName:       first + " " + last,
			Country:        c.code,
			MarketingOptIn: r.percent(35),
			CreatedAt:      created[i],
		}
		birthFrom := time.Date(1941, 1, 1, 0, 0, 0, 0, time.UTC)
		days := int(time.Date(2008, 10, 31, 0, 0, 0, 0, time.UTC).Sub(birthFrom).Hours() / 24)
		birth := birthFrom.AddDate(0, 0, r.intn(days+1))
		if r.percent(95) {
			c1.BirthDate = birth
		}
		c1.Email = g.uniqueEmail(r, first, last, birth.Year())
		if r.percent(97) {
			c1.Phone = g.uniquePhone(r, c.code)
		}
		g.d.Customers = append(g.d.Customers, c1)
		g.profiles = append(g.profiles, g.newProfile(id, c, first))
	}
}

func (g *generator) newProfile(id int64, c country, first string) profile {
	r := newRNG(g.d.Seed, streamProfile+uint64(id))
	p := profile{country: c, first: first}
	if c.taxKind != "" {
		p.taxID = &TaxID{Kind: c.taxKind, Value: r.taxID(c.taxKind)}
	}
	p.address = r.address(c)
	if c.ibanBBAN != "" {
		p.iban = r.iban(c)
	}
	for range r.between(1, 3) {
		p.ips = append(p.ips, r.ip(r.percent(35)))
	}
	for range r.between(1, 2) {
		p.agents = append(p.agents, pick(r, userAgents))
	}
	return p
}

func (g *generator) uniqueEmail(r *rng, first, last string, birthYear int) string {
	f, l := asciiFold(first), asciiFold(last)
	var local string
	switch r.intn(5) {
	case 0:
		local = f + "." + l
	case 1:
		local = f[:1] + l
	case 2:
		local = f + "_" + l
	case 3:
		local = f + "." + l + fmt.Sprintf("%02d", birthYear%100)
	default:
		local = f + l + fmt.Sprint(r.between(1, 99))
	}
	domain := pick(r, emailDomains)
	email := local + "@" + domain
	for n := 2; g.emails[email]; n++ {
		email = fmt.Sprintf("%s%d@%s", local, n, domain)
	}
	g.emails[email] = true
	return email
}

func (g *generator) uniquePhone(r *rng, cc string) string {
	for {
		p := r.phone(cc)
		if !g.phones[p] {
			g.phones[p] = true
			return p
		}
	}
}

// stranger returns a person who is not a customer, living in country cc.
func (g *generator) stranger(r *rng, cc string) person {
	first, last := pick(r, firstNames), pick(r, lastNames)
	return person{
		full:  first + " " + last,
		first: first,
		email: asciiFold(first) + "." + asciiFold(last) + "@" + pick(r, emailDomains),
		phone: r.phone(cc),
	}
}

// spread returns n whole-second times spread evenly over [from, to): one per
// equal slot, at a random point in it, in increasing order.
func spread(r *rng, n int, from, to time.Time) []time.Time {
	span := int64(to.Sub(from) / time.Second)
	out := make([]time.Time, n)
	for i := range n {
		lo, hi := span*int64(i)/int64(n), span*int64(i+1)/int64(n)
		out[i] = from.Add(time.Duration(lo+r.int64n(max(hi-lo, 1))) * time.Second)
	}
	return out
}

// customerAt picks a customer who already existed at t (customers are in
// order of creation).
func (g *generator) customerAt(r *rng, t time.Time) int {
	k := sort.Search(len(g.d.Customers), func(i int) bool { return g.d.Customers[i].CreatedAt.After(t) })
	return r.intn(max(k, 1))
}

func (g *generator) embed(table, column string, row int64, category, value string) {
	g.d.embedded = append(g.d.embedded, PersonalValue{Table: table, Column: column, Row: row, Category: category, Value: value})
}

func (g *generator) messages(n int) {
	r := newRNG(g.d.Seed, streamMessages)
	ref := g.d.Reference
	for i, t := range spread(r, n, ref.AddDate(-2, 0, 0), ref) {
		id := int64(i + 1)
		ci := g.customerAt(r, t)
		c, p := &g.d.Customers[ci], &g.profiles[ci]
		m := Message{ID: id, CustomerID: c.ID, CreatedAt: t}
		other := g.stranger(r, p.country.code)
		m.ToPhone = other.phone
		if c.Phone != "" && r.percent(55) {
			m.ToPhone = c.Phone // a notification to the customer
		}
		emb := func(category, v string) string {
			g.embed("public.messages", "body", id, category, v)
			return v
		}
		switch r.intn(10) {
		case 0:
			m.Body = fmt.Sprintf("Your Nimbus code is %s. Never share it with anyone.", r.digits(6))
		case 1:
			m.Body = fmt.Sprintf("Hi %s, your appointment on %d %s at %d.%02d is confirmed. Reply STOP to cancel.",
				p.first, r.between(1, 28), pick(r, monthNames), r.between(8, 18), pick(r, []int{0, 15, 30, 45}))
		case 2:
			m.Body = fmt.Sprintf("%s, please call me back on %s. Thanks, %s", p.first, emb("phone", other.phone), emb("name", other.full))
		case 3:
			m.Body = fmt.Sprintf("Hallo %s, dein Paket JJD%s kommt heute zwischen %d und %d Uhr.",
				p.first, r.digits(14), r.between(8, 14), r.between(15, 20))
		case 4:
			m.Body = fmt.Sprintf("Meeting moved to room %d. Ask %s for the door code %s.", r.between(100, 499), emb("name", other.full), r.digits(4))
		case 5:
			m.Body = fmt.Sprintf("Happy birthday %s! Love from %s", p.first, other.first)
		case 6:
			m.Body = fmt.Sprintf("%s (%s) shared a file with you on Nimbus Drive.", emb("name", other.full), emb("email", other.email))
		case 7:
			m.Body = fmt.Sprintf("Bin in %d Minuten da. LG %s", r.between(5, 40), other.first)
		case 8:
			if c.Phone != "" {
				m.Body = fmt.Sprintf("Rückruf bitte unter %s, danke! %s", emb("phone", c.Phone), emb("name", c.FullName))
				break
			}
			fallthrough
		default:
			m.Body = fmt.Sprintf("Dear %s, the parcel for %s is waiting at the pick-up point.", emb("name", c.FullName), emb("address", p.address))
		}
		g.d.Messages = append(g.d.Messages, m)
	}
}

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

// ticketKinds are the reasons customers write in. Subject and body are
// the customer's own words (free text).
var ticketKinds = []struct {
	subject string
	body    string // intro after the greeting
}{
	{"Cannot log in", "since yesterday the login keeps rejecting my password, although I reset it twice."},
	{"Refund for a double charge", "I was charged twice this month. Please refund the second payment to my account below."},
	{"Please delete my account", "under Art. 17 GDPR I ask you to erase all data you hold about me."},
	{"Copy of my data", "under Art. 15 GDPR I would like a copy of all personal data you store about me."},
	{"Wrong phone on my profile", "the mobile in my profile is outdated, my correct one is given below."},
	{"Moved house", "I have moved, please send letters to my new address from now on."},
	{"Texts never arrive", "messages to my colleague do not arrive. It worked fine last week."},
	{"Invoice correction", "the name on my last bill is wrong. Please issue a corrected one."},
	{"Stop the newsletter", "please stop the promotional emails, I never asked for them."},
	{"Konto gesperrt", "mein Zugang wurde gesperrt, bitte schalten Sie ihn wieder frei."},
}

func (g *generator) tickets(n int) {
	r := newRNG(g.d.Seed, streamTickets)
	ref := g.d.Reference
	for i, t := range spread(r, n, ref.AddDate(-2, 0, 0), ref) {
		id := int64(i + 1)
		ci := g.customerAt(r, t)
		c, p := &g.d.Customers[ci], &g.profiles[ci]
		kind := r.intn(len(ticketKinds))
		k := ticketKinds[kind]
		emb := func(category, v string) string {
			g.embed("public.tickets", "body", id, category, v)
			return v
		}
		tk := Ticket{ID: id, CustomerID: c.ID, Subject: k.subject, CreatedAt: t}
		if kind == 7 && r.percent(50) {
			tk.Subject = "Invoice correction for " + c.FullName
			g.embed("public.tickets", "subject", id, "name", c.FullName)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Hello,\n\n%s\n", k.body)
		switch kind {
		case 1:
			if p.iban != "" {
				fmt.Fprintf(&b, "IBAN: %s\n", emb("iban", groupIBAN(p.iban)))
			}
		case 4:
			if c.Phone != "" {
				fmt.Fprintf(&b, "New number: %s (the old one was %s)\n", emb("phone", c.Phone), emb("phone", r.phone(p.country.code)))
			}
		case 5:
			fmt.Fprintf(&b, "New address: %s\n", emb("address", p.address))
		case 6:
			o := g.stranger(r, p.country.code)
			fmt.Fprintf(&b, "Her name is %s, number %s.\n", emb("name", o.full), emb("phone", o.phone))
		case 7:
			o := g.stranger(r, p.country.code)
			fmt.Fprintf(&b, "It says %s but should say %s.\n", emb("name", o.full), emb("name", c.FullName))
		}
		if r.percent(30) {
			o := g.stranger(r, p.country.code)
			fmt.Fprintf(&b, "You can also reach my partner %s at %s.\n", emb("name", o.full), emb("email", o.email))
		}
		fmt.Fprintf(&b, "\nBest regards,\n%s\n%s", emb("name", c.FullName), emb("email", c.Email))
		if c.Phone != "" && r.percent(50) {
			fmt.Fprintf(&b, "\n%s", emb("phone", c.Phone))
		}
		tk.Body = b.String()

		f := TicketFields{
			Priority: pick(r, []string{"low", "normal", "normal", "high", "urgent"}),
			Channel:  pick(r, []string{"email", "web", "chat", "phone"}),
		}
		if p.taxID != nil && r.percent(40) {
			f.TaxID = p.taxID
		}
		if r.percent(50) {
			f.PostalAddress = p.address
		}
		if p.iban != "" && r.percent(15) {
			f.IBAN = p.iban
		}
		tk.CustomFields = f

		age := ref.Sub(t)
		switch {
		case age > 60*24*time.Hour:
			tk.Status = pick(r, []string{"closed", "closed", "closed", "solved"})
		case age > 7*24*time.Hour:
			tk.Status = pick(r, []string{"solved", "closed", "pending", "open"})
		default:
			tk.Status = pick(r, []string{"open", "open", "pending"})
		}
		g.d.Tickets = append(g.d.Tickets, tk)
	}
}

func (g *generator) logins(n int) {
	r := newRNG(g.d.Seed, streamLogins)
	ref := g.d.Reference
	for i, t := range spread(r, n, ref.AddDate(-2, 0, 0), ref) {
		ci := g.customerAt(r, t)
		p := &g.profiles[ci]
		e := LoginEvent{
			ID:         int64(i + 1),
			CustomerID: g.d.Customers[ci].ID,
			IP:         pick(r, p.ips),
			UserAgent:  pick(r, p.agents),
			Succeeded:  r.percent(92),
			CreatedAt:  t,
		}
		if r.percent(10) { // travelling, or someone else trying
			e.IP = r.ip(r.percent(30))
		}
		g.d.LoginEvents = append(g.d.LoginEvents, e)
	}
}

func (g *generator) invoices(n int) {
	r := newRNG(g.d.Seed, streamInvoices)
	ref := g.d.Reference
	for i, t := range spread(r, n, ref.AddDate(-2, 0, 0), ref.AddDate(0, 0, -1)) {
		id := int64(i + 1)
		ci := g.customerAt(r, t)
		c, p := &g.d.Customers[ci], &g.profiles[ci]
		inv := Invoice{
			ID:           id,
			CustomerID:   c.ID,
			BillingName:  c.FullName,
			BillingEmail: c.Email,
			Currency:     p.country.currency,
			IssuedAt:     time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC),
		}
		if r.percent(15) {
			last := c.FullName[strings.IndexByte(c.FullName, ' ')+1:]
			inv.BillingName = last + " " + pick(r, []string{"Consulting", "Services", "Trading", "Studio"}) + " " + p.country.company
			inv.BillingEmail = "billing." + asciiFold(last) + "@" + pick(r, emailDomains)
		}
		for range r.between(1, 3) {
			prod := pick(r, g.d.Products)
			l := InvoiceLine{
				ID:             int64(len(g.d.InvoiceLines) + 1),
				InvoiceID:      id,
				ProductID:      prod.ID,
				Quantity:       r.between(1, 3),
				UnitPriceCents: prod.PriceCents,
			}
			inv.AmountCents += int64(l.Quantity) * l.UnitPriceCents
			g.d.InvoiceLines = append(g.d.InvoiceLines, l)
		}
		g.d.Invoices = append(g.d.Invoices, inv)
	}
}

// customFieldsJSON is the jsonb text of f: encoding/json with HTML escaping
// off, so that text such as "&" stays itself as it does in PostgreSQL.
func customFieldsJSON(f TicketFields) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		panic("demo: " + err.Error()) // plain strings always encode
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// sortedUnique returns the distinct values of vs in sorted order.
func sortedUnique(vs []string) []string {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return slices.Compact(vs)
}
