package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Unclassified says what a column that no rule names gets.
type Unclassified uint8

// Values of the rules file's `unclassified` key.
const (
	// UnclassifiedAllow leaves columns that no rule names unmasked (the
	// default: a rules file lists what is personal).
	UnclassifiedAllow Unclassified = iota
	// UnclassifiedMask treats every column that no rule names as category
	// CategoryUnclassified, which policies may reveal.
	UnclassifiedMask
)

// String returns "allow" or "mask".
func (u Unclassified) String() string {
	if u == UnclassifiedMask {
		return "mask"
	}
	return "allow"
}

// Catalog is the classification of personal data: which table columns hold
// which category, whose subject each table row belongs to, and how long
// values are kept. It is loaded from the rules file (ParseCatalog,
// LoadCatalog), immutable afterwards and safe for concurrent use. The
// methods of a nil *Catalog behave as an empty catalog (no tables,
// unclassified allow): pgveil without a rules file.
type Catalog struct {
	unclassified Unclassified
	tables       map[string]*Table
	names        []string // sorted table names
	revision     string
}

// Table is the classification of one table. It is immutable.
type Table struct {
	name       string
	subjectKey string
	timestamp  string
	legalHold  string
	columns    map[string]string
	colNames   []string // sorted
	retention  []RetentionRule
}

// RetentionRule redacts stored values once their row is older than After
// (measured from the table's timestamp column).
type RetentionRule struct {
	After Age
	// Redact lists the columns to rewrite and how, sorted by column.
	Redact []Redaction
}

// Redaction is one column of a retention rule and its mask.
type Redaction struct {
	Column string
	Mask   Mask
}

// Age is a retention period: calendar years, months and days plus an exact
// duration. Calendar units follow the calendar (1m from 31 March is 30
// April, as time.AddDate normalises it).
type Age struct {
	Years, Months, Days int
	Duration            time.Duration
}

// ParseAge parses a retention period: "180d", "26w", "6m" (months, not
// minutes), "7y", or a Go duration with an explicit unit such as "36h" or
// "90m30s". The period must be positive.
func ParseAge(s string) (Age, error) {
	if len(s) >= 2 && strings.IndexByte("dwmy", s[len(s)-1]) >= 0 && allDigits([]byte(s[:len(s)-1])) {
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n <= 0 || n > 100000 {
			return Age{}, fmt.Errorf("age %s: want a count between 1 and 100000", quoteName(s))
		}
		switch s[len(s)-1] {
		case 'd':
			return Age{Days: n}, nil
		case 'w':
			return Age{Days: 7 * n}, nil
		case 'm':
			return Age{Months: n}, nil
		default:
			return Age{Years: n}, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return Age{}, fmt.Errorf("age %s: want Nd, Nw, Nm (months), Ny or a positive Go duration such as 36h", quoteName(s))
	}
	return Age{Duration: d}, nil
}

// String returns the age in ParseAge's syntax (weeks come out as days).
func (a Age) String() string {
	var b strings.Builder
	if a.Years != 0 {
		b.WriteString(strconv.Itoa(a.Years) + "y")
	}
	if a.Months != 0 {
		b.WriteString(strconv.Itoa(a.Months) + "m")
	}
	if a.Days != 0 {
		b.WriteString(strconv.Itoa(a.Days) + "d")
	}
	if a.Duration != 0 || b.Len() == 0 {
		b.WriteString(a.Duration.String())
	}
	return b.String()
}

// Cutoff returns the instant before which a row is older than a, seen from
// now.
func (a Age) Cutoff(now time.Time) time.Time {
	return now.AddDate(-a.Years, -a.Months, -a.Days).Add(-a.Duration)
}

// Revision identifies the catalog's content: a hash of its canonical form,
// the same for every file that means the same thing (key order, comments,
// aliases and formatting do not matter). Decision caches key on it.
func (c *Catalog) Revision() string {
	if c == nil {
		return emptyRevision()
	}
	return c.revision
}

// emptyRevision is the revision of the empty catalog, computed on first use.
var emptyRevision = sync.OnceValue(func() string { return newCatalog(UnclassifiedAllow, nil).revision })

// Unclassified returns what columns that no rule names get.
func (c *Catalog) Unclassified() Unclassified {
	if c == nil {
		return UnclassifiedAllow
	}
	return c.unclassified
}

// Table returns the classification of a schema-qualified table
// ("public.customers"; names are case-sensitive, as stored in pg_class).
func (c *Catalog) Table(name string) (*Table, bool) {
	if c == nil {
		return nil, false
	}
	t, ok := c.tables[name]
	return t, ok
}

// NumTables returns the number of tables the catalog classifies.
func (c *Catalog) NumTables() int {
	if c == nil {
		return 0
	}
	return len(c.names)
}

// Tables iterates over the classified tables in name order.
func (c *Catalog) Tables() iter.Seq[*Table] {
	return func(yield func(*Table) bool) {
		if c == nil {
			return
		}
		for _, n := range c.names {
			if !yield(c.tables[n]) {
				return
			}
		}
	}
}

// Columns iterates over every classified column and its category, sorted by
// table, then column.
func (c *Catalog) Columns() iter.Seq2[ColumnRef, string] {
	return func(yield func(ColumnRef, string) bool) {
		for t := range c.Tables() {
			for _, col := range t.colNames {
				if !yield(ColumnRef{Table: t.name, Column: col}, t.columns[col]) {
					return
				}
			}
		}
	}
}

// Category returns the category of a column that a rule names.
func (c *Catalog) Category(table, column string) (string, bool) {
	t, ok := c.Table(table)
	if !ok {
		return "", false
	}
	return t.Category(column)
}

// Classify returns the category a column is treated as: its rule's
// category, or CategoryUnclassified when no rule names it and the catalog
// says `unclassified: mask`. ok is false for a column that is not personal
// data (no rule, `unclassified: allow`).
func (c *Catalog) Classify(ref ColumnRef) (category string, ok bool) {
	if cat, ok := c.Category(ref.Table, ref.Column); ok {
		return cat, true
	}
	if c.Unclassified() == UnclassifiedMask {
		return CategoryUnclassified, true
	}
	return "", false
}

// Name returns the schema-qualified table name.
func (t *Table) Name() string { return t.name }

// SubjectKey returns the column that identifies the data subject of a row,
// or "" if the rules file names none.
func (t *Table) SubjectKey() string { return t.subjectKey }

// Timestamp returns the column retention rules measure a row's age from, or
// "" if none.
func (t *Table) Timestamp() string { return t.timestamp }

// LegalHold returns why the table's rows must be kept (erasure keeps them),
// or "" when there is no legal hold.
func (t *Table) LegalHold() string { return t.legalHold }

// Category returns the category of a classified column of the table.
func (t *Table) Category(column string) (string, bool) {
	cat, ok := t.columns[column]
	return cat, ok
}

// NumColumns returns the number of classified columns of the table.
func (t *Table) NumColumns() int { return len(t.colNames) }

// Columns iterates over the table's classified columns and their
// categories in column order.
func (t *Table) Columns() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, col := range t.colNames {
			if !yield(col, t.columns[col]) {
				return
			}
		}
	}
}

// Retention returns a copy of the table's retention rules, in file order.
func (t *Table) Retention() []RetentionRule {
	out := make([]RetentionRule, len(t.retention))
	for i, r := range t.retention {
		out[i] = RetentionRule{After: r.After, Redact: slices.Clone(r.Redact)}
	}
	return out
}

// newCatalog indexes validated tables and computes the revision.
func newCatalog(u Unclassified, tables []*Table) *Catalog {
	c := &Catalog{unclassified: u, tables: make(map[string]*Table, len(tables))}
	for _, t := range tables {
		c.tables[t.name] = t
		c.names = append(c.names, t.name)
	}
	slices.Sort(c.names)
	h := sha256.New()
	fmt.Fprintf(h, "pgveil rules v1\nunclassified %s\n", u)
	for _, n := range c.names {
		t := c.tables[n]
		fmt.Fprintf(h, "table %q subject_key %q timestamp %q legal_hold %q\n", t.name, t.subjectKey, t.timestamp, t.legalHold)
		for _, col := range t.colNames {
			fmt.Fprintf(h, "column %q %q\n", col, t.columns[col])
		}
		for _, r := range t.retention {
			fmt.Fprintf(h, "retention %d %d %d %d\n", r.After.Years, r.After.Months, r.After.Days, r.After.Duration)
			for _, rd := range r.Redact {
				fmt.Fprintf(h, "redact %q %s\n", rd.Column, rd.Mask)
			}
		}
	}
	c.revision = hex.EncodeToString(h.Sum(nil)[:16])
	return c
}

// validIdent reports whether s can be a PostgreSQL identifier as the rules
// file names it: 1 to 63 bytes, no dots, control characters, or leading or
// trailing spaces.
func validIdent(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == '.' || s[i] == '"' {
			return false
		}
	}
	return true
}

// splitTableName splits "schema.table".
func splitTableName(s string) (schema, table string, err error) {
	schema, table, ok := strings.Cut(s, ".")
	if !ok {
		return "", "", fmt.Errorf("table %s must be schema-qualified, e.g. %s", quoteName(s), quoteName("public."+s))
	}
	if !validIdent(schema) || !validIdent(table) {
		return "", "", errors.New("table " + quoteName(s) + " is not a valid schema.table name")
	}
	return schema, table, nil
}
