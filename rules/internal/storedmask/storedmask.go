// Package storedmask applies pgveil's masks to values stored in a database
// (retention, erasure), with exactly the result the proxy's masks give in
// result rows (rules.ValueMask), so that a redacted value looks the same
// whether it was masked on the wire or rewritten in place.
//
// A Rewrite has two forms. For the masks that SQL can compute exactly (null,
// erase/redact, partial/last4 on text and varchar, ip_prefix on inet and
// cidr, year on date and timestamps) it gives an SQL expression, so the value
// never leaves the database; the package tests prove each expression equal to
// the Go mask on a corpus of values. For the others (email, scrub, masks of
// text-held dates and addresses, char(n)) only Apply, the Go mask, is
// available and the caller reads, masks and writes back. The hash mask is
// refused: a pseudonym of a pseudonym differs from the pseudonym, so a
// rewrite with it could not be idempotent.
//
// Stored data has one rule the wire does not: a NOT NULL column cannot hold
// NULL. Where a mask yields NULL (the null mask, erase of a nullable column,
// a value the mask cannot interpret), a NOT NULL column gets the redaction
// constant of its type instead ("[redacted]", 0, 1900-01-01, ...); a NOT
// NULL column of a type without one cannot be rewritten. Erase (= redact)
// removes a nullable column's value (NULL) rather than writing the constant.
//
// Every mask here is idempotent on stored values: applying it to its own
// output changes nothing, which is what makes the jobs that use it
// restartable by predicate (`col IS DISTINCT FROM <expression>`).
//
// A Rewrite is not safe for concurrent use (it holds a rules.ValueMask).
package storedmask

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/internal/dbschema"
)

// Type OIDs the SQL expressions are written for (pg_type.dat).
const (
	oidText        = 25
	oidVarchar     = 1043
	oidCIDR        = 650
	oidInet        = 869
	oidDate        = 1082
	oidTimestamp   = 1114
	oidTimestamptz = 1184
)

// ErrUnsupported is returned (wrapped) for a mask that cannot be applied to
// stored values of a column.
var ErrUnsupported = errors.New("mask not supported on stored data")

// Rewrite is one mask applied to the values of one stored column.
type Rewrite struct {
	// Column is the column (borrowed from the caller's schema snapshot).
	Column *dbschema.Column
	// Mask is the mask.
	Mask rules.Mask

	vm *rules.ValueMask
	// tmpl is the SQL expression with %[1]s for the column reference and
	// %[2]s for the no-value expression; "" when only Go can compute it.
	tmpl string
	// noValue is the SQL for "no value" (NULL, or the constant of a NOT
	// NULL column); noText is its text (nil for NULL).
	noValue string
	noText  *string
}

// New prepares m for the stored values of col. table names the column's
// table in errors.
func New(m rules.Mask, table string, col *dbschema.Column) (*Rewrite, error) {
	ref := table + "." + col.Name
	switch m.Action {
	case rules.ActionHash:
		return nil, fmt.Errorf("%s: %w: hash (a pseudonym of a pseudonym differs, so the rewrite would not be idempotent)", ref, ErrUnsupported)
	case rules.ActionPass, rules.ActionUnspecified:
		return nil, fmt.Errorf("%s: %w: %s", ref, ErrUnsupported, m)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if col.Generated {
		return nil, fmt.Errorf("%s: %w: a generated column cannot be rewritten", ref, ErrUnsupported)
	}
	opts := rules.PlanOptions{}
	if col.BaseType == "citext" {
		opts.TextTypes = []uint32{col.TypeOID}
	}
	vm, err := rules.CompileValueMask(m, col.TypeOID, col.TypeMod, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	r := &Rewrite{Column: col, Mask: m, vm: vm, noValue: "NULL"}
	if col.NotNull {
		red, err := rules.CompileValueMask(rules.Mask{Action: rules.ActionRedact}, col.TypeOID, col.TypeMod, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		k, ok := red.Constant()
		if !ok && !(isPartial(m) && isText(col)) {
			return nil, fmt.Errorf("%s: %w: the column is NOT NULL and its type %s has no redaction constant", ref, ErrUnsupported, col.Type)
		}
		if ok {
			s := string(k)
			r.noText = &s
			r.noValue = quoteLiteral(s) + "::" + col.Type
		}
	}
	r.tmpl = sqlTemplate(m, col)
	return r, nil
}

func isPartial(m rules.Mask) bool {
	return m.Action == rules.ActionPartial || m.Action == rules.ActionLast4
}

func isText(c *dbschema.Column) bool { return c.TypeOID == oidText || c.TypeOID == oidVarchar }

// sqlTemplate returns the SQL form of m for col, or "".
func sqlTemplate(m rules.Mask, col *dbschema.Column) string {
	if m.Action == rules.ActionNull || m.Action == rules.ActionRedact {
		return "%[2]s"
	}
	switch {
	case isPartial(m) && isText(col):
		keep := m.Keep
		if keep == 0 || m.Action == rules.ActionLast4 {
			keep = rules.DefaultKeep
		}
		// appendPartial: a value of keep characters or fewer becomes as
		// many stars (at least one); otherwise one star per character
		// but the last keep. char_length counts characters as Go counts
		// runes (the database encoding is UTF-8; see the package doc).
		return fmt.Sprintf("CASE WHEN char_length(%%[1]s) <= %[1]d THEN repeat('*', greatest(char_length(%%[1]s), 1)) "+
			"ELSE repeat('*', char_length(%%[1]s) - %[1]d) || right(%%[1]s, %[1]d) END", keep)
	case m.Action == rules.ActionIPPrefix && col.TypeOID == oidInet:
		return "network(set_masklen(%[1]s, least(masklen(%[1]s), CASE family(%[1]s) WHEN 4 THEN 24 ELSE 48 END)))::inet"
	case m.Action == rules.ActionIPPrefix && col.TypeOID == oidCIDR:
		return "set_masklen(%[1]s, least(masklen(%[1]s), CASE family(%[1]s) WHEN 4 THEN 24 ELSE 48 END))"
	case m.Action == rules.ActionYear && col.TypeOID == oidDate:
		return "CASE WHEN isfinite(%[1]s) THEN date_trunc('year', %[1]s)::date ELSE %[2]s END"
	case m.Action == rules.ActionYear && col.TypeOID == oidTimestamp:
		return "CASE WHEN isfinite(%[1]s) THEN date_trunc('year', %[1]s) ELSE %[2]s END"
	case m.Action == rules.ActionYear && col.TypeOID == oidTimestamptz:
		return "CASE WHEN isfinite(%[1]s) THEN date_trunc('year', %[1]s, 'UTC') ELSE %[2]s END"
	}
	return ""
}

// HasSQL reports whether the rewrite can be computed in SQL.
func (r *Rewrite) HasSQL() bool { return r.tmpl != "" }

// SQL returns the SQL expression of the masked value of ref, a reference to
// the column ("t.phone"); it panics when HasSQL is false.
func (r *Rewrite) SQL(ref string) string {
	if r.tmpl == "" {
		panic("storedmask: SQL called on a rewrite without an SQL form")
	}
	return fmt.Sprintf(r.tmpl, ref, r.noValue)
}

// NoValue returns the SQL expression for a value the mask removes: NULL,
// or the redaction constant of a NOT NULL column.
func (r *Rewrite) NoValue() string { return r.noValue }

// Apply returns the masked form of v, a value in its type's text format as
// `col::text` returns it in a session with TimeZone UTC, DateStyle ISO and
// bytea_output hex; nil means NULL (in and out).
func (r *Rewrite) Apply(v *string) *string {
	if v == nil {
		return nil
	}
	if r.Mask.Action == rules.ActionNull || r.Mask.Action == rules.ActionRedact {
		return r.noText
	}
	out, ok := r.vm.AppendText(nil, []byte(*v))
	if !ok {
		return r.noText
	}
	s := string(out)
	return &s
}

// SessionSettings are the SET LOCAL statements a transaction that reads
// values for Apply must run first, so that values arrive in the text forms
// the masks read.
const SessionSettings = "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL bytea_output = 'hex'; SET LOCAL IntervalStyle = 'postgres'"

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
