package subject

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/internal/dbschema"
	"github.com/pgveil/pgveil/rules/internal/jobaudit"
	"github.com/pgveil/pgveil/rules/internal/storedmask"
)

// Erase actions.
const (
	ActionDeleted  = "deleted"
	ActionRedacted = "redacted"
	ActionKept     = "kept"
)

// maxDeleteRounds bounds the delete statements per table: a row referenced
// only by another of the subject's rows in the same table is deleted in a
// later round, once that row is gone.
const maxDeleteRounds = 16

// EraseReport says what Erase did (or, dry, would do).
type EraseReport struct {
	Subject string        `json:"subject"`
	DryRun  bool          `json:"dry_run"`
	Actions []EraseAction `json:"actions"`
}

// EraseAction is what happened to some of the subject's rows in one table.
type EraseAction struct {
	Table string `json:"table"`
	// Action is ActionDeleted, ActionRedacted or ActionKept.
	Action string `json:"action"`
	Rows   int64  `json:"rows"`
	// Columns are the erased columns (ActionRedacted).
	Columns []string `json:"columns,omitempty"`
	// Reason says why rows were redacted or kept instead of deleted.
	Reason string `json:"reason,omitempty"`
}

// Count returns the rows of table that got action.
func (r *EraseReport) Count(table, action string) int64 {
	var n int64
	for _, a := range r.Actions {
		if a.Table == table && a.Action == action {
			n += a.Rows
		}
	}
	return n
}

// Erase deletes or redacts the personal data of subject id in one
// transaction, per the rules (see the package documentation), and records
// one audit event per action. With dryRun the transaction is rolled back.
func (p *Processor) Erase(ctx context.Context, conn *pgx.Conn, id string, dryRun bool) (*EraseReport, error) {
	rec := p.recorder(conn)
	if err := rec.Ready(); err != nil {
		return nil, fmt.Errorf("subject erase: %w", err)
	}
	start := time.Now()
	sc, err := p.loadScope(ctx, conn, id)
	if err != nil {
		return nil, fmt.Errorf("subject erase: %w", err)
	}
	rep := &EraseReport{DryRun: dryRun}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		counts, err := sc.count(ctx, tx)
		if err != nil {
			return err
		}
		if err := sc.found(ctx, tx, counts); err != nil {
			return err
		}
		rep.Subject = sc.canonical
		if err := lockSubject(ctx, tx, sc.canonical); err != nil {
			return err
		}
		for _, st := range eraseOrder(sc) {
			if err := eraseTable(ctx, tx, sc, st, rep); err != nil {
				return fmt.Errorf("%s: %w", st.table.Name, err)
			}
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if err == errDryRun {
		err = nil
	}
	summary := "SUBJECT ERASE"
	if dryRun {
		summary = "SUBJECT ERASE DRY-RUN"
	}
	if err != nil {
		rec.Record(ctx, jobaudit.Event{Kind: rules.KindDelete, Summary: summary, Text: "ERASE subject",
			Tables: sc.tableNames(), Start: start, Err: err, SubjectKeys: []string{sc.subjectKey()}})
		return nil, fmt.Errorf("subject erase: %w", jobaudit.SafeError(err))
	}
	for _, a := range rep.Actions {
		st := sc.byName[a.Table]
		e := jobaudit.Event{
			Summary: summary + " " + a.Table, Tables: []string{a.Table}, Start: start, Reason: a.Reason,
			SubjectKeys: []string{sc.canonical}, SubjectTables: []string{a.Table},
		}
		cols := st.classified()
		switch a.Action {
		case ActionDeleted:
			e.Kind, e.CommandTag, e.Text = rules.KindDelete, "DELETE", "DELETE "+a.Table+" rows of the subject"
			for i := range cols {
				cols[i].Uses = rules.UseWrite
			}
		case ActionRedacted:
			e.Kind, e.CommandTag, e.Text = rules.KindUpdate, "UPDATE", "UPDATE "+a.Table+" SET "+strings.Join(a.Columns, ", ")+" = erased"
			cols = cols[:0]
			for _, c := range st.classified() {
				if slices.Contains(a.Columns, c.Column) {
					c.Uses, c.Mask = rules.UseWrite, "redact"
					cols = append(cols, c)
				}
			}
		default:
			e.Kind, e.Text = rules.KindSelect, "KEEP "+a.Table+" rows of the subject"
			cols = nil
		}
		if dryRun {
			e.Kind, e.CommandTag = rules.KindSelect, "SELECT"
		} else if a.Action != ActionKept {
			e.RowsAffected = a.Rows
		}
		e.Columns = cols
		rec.Record(ctx, e)
	}
	return rep, nil
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = fmt.Errorf("dry run")

// eraseOrder returns the scope with every table before the tables it
// references (so that deletes never hit a foreign key), in scope order
// otherwise; tables on a reference cycle keep scope order.
func eraseOrder(sc *scope) []*scopeTable {
	// waits[t] counts the tables in the scope that reference t and are
	// not done yet.
	waits := map[string]int{}
	for _, st := range sc.tables {
		for _, fk := range sc.schema.Referencing(st.table.Name) {
			if _, ok := sc.byName[fk.Table]; ok && fk.Table != st.table.Name {
				waits[st.table.Name]++
			}
		}
	}
	var out []*scopeTable
	done := map[string]bool{}
	for len(out) < len(sc.tables) {
		progress := false
		for _, st := range sc.tables {
			if done[st.table.Name] || waits[st.table.Name] > 0 {
				continue
			}
			done[st.table.Name] = true
			out = append(out, st)
			progress = true
			for _, fk := range st.table.ForeignKeys {
				if fk.RefTable != st.table.Name {
					if _, ok := sc.byName[fk.RefTable]; ok {
						waits[fk.RefTable]--
					}
				}
			}
		}
		if !progress { // a cycle: release the first waiting table
			for _, st := range sc.tables {
				if !done[st.table.Name] {
					waits[st.table.Name] = 0
					break
				}
			}
		}
	}
	return out
}

// eraseTable erases the subject's rows of one table and appends the actions
// to rep.
func eraseTable(ctx context.Context, tx pgx.Tx, sc *scope, st *scopeTable, rep *EraseReport) error {
	name := st.table.Name
	mine := st.cond("t")
	count := func(where string) (int64, error) {
		var n int64
		err := tx.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s AS t WHERE %s", st.table.Ident(), where), sc.id).Scan(&n)
		return n, err
	}
	n, err := count(mine)
	if err != nil || n == 0 {
		return err
	}
	// Held records, and what is part of them, are kept as they are.
	if st.hold() != "" || st.inheritsHold() {
		rep.Actions = append(rep.Actions, EraseAction{Table: name, Action: ActionKept, Rows: n, Reason: st.holdReason()})
		return nil
	}
	if held, _ := st.heldParents(); len(held) > 0 {
		var ors []string
		for _, e := range held {
			ors = append(ors, e.cond("t", st.level))
		}
		heldCond := "(" + strings.Join(ors, " OR ") + ")"
		kept, err := count(mine + " AND " + heldCond)
		if err != nil {
			return err
		}
		if kept > 0 {
			var reasons []string
			for _, e := range held {
				reasons = append(reasons, "part of "+e.parent.table.Name+": "+e.parent.holdReason())
			}
			rep.Actions = append(rep.Actions, EraseAction{Table: name, Action: ActionKept, Rows: kept, Reason: strings.Join(reasons, "; ")})
		}
		mine += " AND NOT " + heldCond
	}

	// Delete what nothing references any more.
	incoming := sc.schema.Referencing(name)
	refs := make([]string, len(incoming))
	for i, fk := range incoming {
		refs[i] = referencedBy(fk)
	}
	unreferenced := ""
	if len(refs) > 0 {
		unreferenced = " AND NOT (" + strings.Join(refs, " OR ") + ")"
	}
	var deleted int64
	for range maxDeleteRounds {
		tag, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s AS t WHERE %s%s", st.table.Ident(), mine, unreferenced), sc.id)
		if err != nil {
			return err
		}
		deleted += tag.RowsAffected()
		if tag.RowsAffected() == 0 || len(refs) == 0 {
			break
		}
	}
	if deleted > 0 {
		rep.Actions = append(rep.Actions, EraseAction{Table: name, Action: ActionDeleted, Rows: deleted})
	}

	// The rest is referenced by rows that stay: erase its personal columns.
	rest, err := count(mine)
	if err != nil || rest == 0 {
		return err
	}
	var by []string
	for i, fk := range incoming {
		m, err := count(mine + " AND " + refs[i])
		if err != nil {
			return err
		}
		if m == 0 {
			continue
		}
		who := fk.Table
		if r := sc.byName[fk.Table]; r != nil && (r.hold() != "" || r.inheritsHold()) {
			who += " (" + r.holdReason() + ")"
		}
		if !slices.Contains(by, who) {
			by = append(by, who)
		}
	}
	reason := "still referenced by " + strings.Join(by, ", ")
	sets, cols, err := eraseColumns(st)
	if err != nil {
		return err
	}
	if len(sets) == 0 {
		rep.Actions = append(rep.Actions, EraseAction{Table: name, Action: ActionKept, Rows: rest, Reason: reason + "; no classified columns to erase"})
		return nil
	}
	tag, err := tx.Exec(ctx, fmt.Sprintf("UPDATE %s AS t SET %s WHERE %s", st.table.Ident(), strings.Join(sets, ", "), mine), sc.id)
	if err != nil {
		return err
	}
	rep.Actions = append(rep.Actions, EraseAction{Table: name, Action: ActionRedacted, Rows: tag.RowsAffected(), Columns: cols, Reason: reason})
	return nil
}

// referencedBy returns the condition "a row of fk's table references t".
func referencedBy(fk dbschema.ForeignKey) string {
	conds := make([]string, len(fk.Columns))
	for i := range fk.Columns {
		conds[i] = fmt.Sprintf("r.%s = t.%s", dbschema.Ident(fk.Columns[i]), dbschema.Ident(fk.RefColumns[i]))
	}
	schema, rel, _ := strings.Cut(fk.Table, ".")
	return fmt.Sprintf("EXISTS (SELECT 1 FROM %s AS r WHERE %s)", pgx.Identifier{schema, rel}.Sanitize(), strings.Join(conds, " AND "))
}

// eraseColumns returns the SET clauses that erase the table's classified
// columns, and their names. Key columns (primary key, subject key, foreign
// keys) are left alone: they tie the row to the records that keep it.
func eraseColumns(st *scopeTable) (sets, names []string, err error) {
	if st.rule == nil {
		return nil, nil, nil
	}
	keys := map[string]bool{}
	for _, k := range st.table.PrimaryKey {
		keys[k] = true
	}
	for _, fk := range st.table.ForeignKeys {
		for _, c := range fk.Columns {
			keys[c] = true
		}
	}
	if st.key != nil {
		keys[st.key.Name] = true
	}
	erase := rules.Mask{Action: rules.ActionRedact}
	for i := range st.table.Columns {
		c := &st.table.Columns[i]
		if _, ok := st.rule.Category(c.Name); !ok || keys[c.Name] {
			continue
		}
		rw, err := storedmask.New(erase, st.table.Name, c)
		if err != nil {
			return nil, nil, err
		}
		value := rw.NoValue()
		if c.Unique && c.NotNull {
			// Every erased row would get the same constant: make it
			// unique with the row's own primary key, which the row keeps
			// anyway.
			if c.TypeCategory != 'S' || len(st.table.PrimaryKey) == 0 {
				return nil, nil, fmt.Errorf("%w: %s.%s is NOT NULL and unique: cannot erase it", storedmask.ErrUnsupported, st.table.Name, c.Name)
			}
			keyText := make([]string, len(st.table.PrimaryKey))
			for j, k := range st.table.PrimaryKey {
				keyText[j] = "t." + dbschema.Ident(k) + "::text"
			}
			value = fmt.Sprintf("('[redacted:' || %s || ']')::%s", strings.Join(keyText, " || ',' || "), c.Type)
		}
		sets = append(sets, dbschema.Ident(c.Name)+" = "+value)
		names = append(names, c.Name)
	}
	return sets, names, nil
}
