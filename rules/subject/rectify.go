package subject

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/internal/dbschema"
	"github.com/pgveil/pgveil/rules/internal/jobaudit"
)

// Assignment is one column's new value for Rectify, as text: it is cast to
// the column's type.
type Assignment struct {
	Column string
	Value  string
}

// RectifyReport says what Rectify changed: column names and a row count,
// never values.
type RectifyReport struct {
	Subject string   `json:"subject"`
	Table   string   `json:"table"`
	Columns []string `json:"columns"`
	Rows    int64    `json:"rows"`
}

// Rectify sets the given classified columns of the subject's rows in one
// table (a table with a subject key) and records one audit event that names
// the columns but holds no value. table may be empty when every column is
// classified in exactly one such table. It refuses unknown and unclassified
// columns (ErrUnknownColumn), key columns, tables under legal hold
// (ErrLegalHold), values that are not valid for their column's type (without
// echoing them), and a subject without rows in the table (ErrNotFound).
func (p *Processor) Rectify(ctx context.Context, conn *pgx.Conn, id, table string, set []Assignment) (*RectifyReport, error) {
	rec := p.recorder(conn)
	if err := rec.Ready(); err != nil {
		return nil, fmt.Errorf("subject rectify: %w", err)
	}
	if len(set) == 0 {
		return nil, errors.New("subject rectify: nothing to set")
	}
	start := time.Now()
	sc, err := p.loadScope(ctx, conn, id)
	if err != nil {
		return nil, fmt.Errorf("subject rectify: %w", err)
	}
	st, err := rectifyTable(sc, table, set)
	if err != nil {
		return nil, fmt.Errorf("subject rectify: %w", err)
	}
	rep := &RectifyReport{Table: st.table.Name}
	var sets []string
	args := []any{id}
	for _, a := range set {
		c, _ := st.table.Column(a.Column)
		if slices.Contains(rep.Columns, c.Name) {
			return nil, fmt.Errorf("subject rectify: %s is set twice", c.Name)
		}
		if err := validValue(ctx, conn, c, a.Value); err != nil {
			return nil, fmt.Errorf("subject rectify: %s.%s: %w", st.table.Name, c.Name, err)
		}
		args = append(args, a.Value)
		sets = append(sets, fmt.Sprintf("%s = $%d::text::%s", dbschema.Ident(c.Name), len(args), c.Type))
		rep.Columns = append(rep.Columns, c.Name)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := sc.found(ctx, tx, map[string]int64{st.table.Name: 1}); err != nil {
			return err
		}
		rep.Subject = sc.canonical
		if err := lockSubject(ctx, tx, sc.canonical); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, fmt.Sprintf("UPDATE %s AS t SET %s WHERE %s", st.table.Ident(), strings.Join(sets, ", "), st.cond("t")), args...)
		if err != nil {
			return err
		}
		rep.Rows = tag.RowsAffected()
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: %s holds no rows of subject %q", ErrNotFound, st.table.Name, sc.id)
	}
	e := jobaudit.Event{
		Kind: rules.KindUpdate, Summary: "SUBJECT RECTIFY " + st.table.Name,
		Text:   "UPDATE " + st.table.Name + " SET " + strings.Join(rep.Columns, ", ") + " WHERE subject",
		Tables: []string{st.table.Name}, CommandTag: "UPDATE", RowsAffected: rep.Rows, Start: start, Err: err,
		SubjectKeys: []string{sc.subjectKey()}, SubjectTables: []string{st.table.Name},
	}
	for _, c := range rep.Columns {
		cat, _ := st.rule.Category(c)
		e.Columns = append(e.Columns, proxy.AuditColumn{ColumnRef: rules.ColumnRef{Table: st.table.Name, Column: c}, Category: cat, Uses: rules.UseWrite})
	}
	rec.Record(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("subject rectify: %w", jobaudit.SafeError(err))
	}
	return rep, nil
}

// rectifyTable finds the table Rectify changes and checks the columns.
func rectifyTable(sc *scope, table string, set []Assignment) (*scopeTable, error) {
	var direct []*scopeTable
	for _, st := range sc.tables {
		if st.key != nil {
			direct = append(direct, st)
		}
	}
	var st *scopeTable
	if table != "" {
		for _, d := range direct {
			if d.table.Name == table {
				st = d
			}
		}
		if st == nil {
			return nil, fmt.Errorf("%w: %s is not a table with a subject_key in the rules", ErrSchema, table)
		}
	} else {
		// The table that classifies the first column; it must be the only
		// one.
		var cands []string
		for _, d := range direct {
			if _, ok := d.rule.Category(set[0].Column); ok {
				cands = append(cands, d.table.Name)
				st = d
			}
		}
		switch len(cands) {
		case 0:
			return nil, fmt.Errorf("%w: no table with a subject_key classifies a column %q", ErrUnknownColumn, set[0].Column)
		case 1:
		default:
			return nil, fmt.Errorf("column %q is classified in %s: say which table (--table)", set[0].Column, strings.Join(cands, " and "))
		}
	}
	if h := st.hold(); h != "" {
		return nil, fmt.Errorf("%w: %s (%s): statutory records are corrected by new records, not edited", ErrLegalHold, st.table.Name, h)
	}
	for _, a := range set {
		c, ok := st.table.Column(a.Column)
		if !ok {
			return nil, fmt.Errorf("%w: %s has no column %q", ErrUnknownColumn, st.table.Name, a.Column)
		}
		if _, ok := st.rule.Category(c.Name); !ok {
			var cols []string
			for name := range st.rule.Columns() {
				cols = append(cols, name)
			}
			return nil, fmt.Errorf("%w: %s.%s is not classified personal data (classified: %s)", ErrUnknownColumn, st.table.Name, c.Name, strings.Join(cols, ", "))
		}
		if c.Name == st.key.Name || slices.Contains(st.table.PrimaryKey, c.Name) || c.Generated {
			return nil, fmt.Errorf("%w: %s.%s is a key or generated column", ErrUnknownColumn, st.table.Name, c.Name)
		}
	}
	return st, nil
}

// validValue checks that v is a valid value of column c without putting v
// into the error.
func validValue(ctx context.Context, conn *pgx.Conn, c *dbschema.Column, v string) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT $1::text::"+c.Type, v)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
		return fmt.Errorf("the new value is not a valid %s (SQLSTATE %s)", c.Type, pgErr.Code)
	}
	return err
}
