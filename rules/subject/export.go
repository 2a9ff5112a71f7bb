package subject

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/internal/dbschema"
	"github.com/pgveil/pgveil/rules/internal/jobaudit"
)

// ExportFormat names the export document's format and version.
const ExportFormat = "pgveil.subject-export/v1"

// ExportSummary says what Export wrote.
type ExportSummary struct {
	Subject string `json:"subject"`
	// Tables maps each table in the scope to the rows exported from it.
	Tables map[string]int64 `json:"tables"`
	Rows   int64            `json:"rows"`
}

// Column describes one column in an export: its type and classification.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Category is the column's category, or nil when the rules do not
	// classify it (it is still the subject's data, by its row).
	Category *string `json:"category"`
}

// exportHeader is the part of the document before the tables.
type exportHeader struct {
	Format      string    `json:"format"`
	Subject     string    `json:"subject"`
	GeneratedAt time.Time `json:"generated_at"`
	Generator   struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"generator"`
	Database   string `json:"database"`
	Restricted bool   `json:"restricted"`
}

// tableHeader is the part of a table's object before its rows.
type tableHeader struct {
	Table     string   `json:"table"`
	Relation  Relation `json:"relation"`
	LegalHold string   `json:"legal_hold,omitempty"`
	Columns   []Column `json:"columns"`
	RowCount  int64    `json:"row_count"`
}

// Export writes every row that belongs to subject id, across the scope, to w
// as one JSON document (see the package documentation), and records one
// audit event. It returns ErrNotFound (writing nothing) when no table holds
// the subject's rows. A failure after writing has begun leaves a truncated
// document: write to a temporary file and rename it on success.
func (p *Processor) Export(ctx context.Context, conn *pgx.Conn, id string, w io.Writer) (sum *ExportSummary, err error) {
	rec := p.recorder(conn)
	if err := rec.Ready(); err != nil {
		return nil, fmt.Errorf("subject export: %w", err)
	}
	start := time.Now()
	sc, err := p.loadScope(ctx, conn, id)
	if err != nil {
		return nil, fmt.Errorf("subject export: %w", err)
	}
	sum = &ExportSummary{Tables: map[string]int64{}}
	defer func() {
		e := jobaudit.Event{
			Kind: rules.KindSelect, Summary: "SUBJECT EXPORT", Text: "EXPORT subject",
			Tables: sc.tableNames(), CommandTag: "SELECT", Start: start, Err: err,
			SubjectKeys: []string{sc.subjectKey()}, SubjectTables: sc.tableNames(),
		}
		if sum != nil {
			e.RowsReturned = sum.Rows
		}
		for _, st := range sc.tables {
			for _, c := range st.classified() {
				c.Uses, c.Mask = rules.UseOutput, rules.Pass().String()
				e.Columns = append(e.Columns, c)
			}
		}
		rec.Record(ctx, e)
	}()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return sum, fmt.Errorf("subject export: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// row_to_json writes timestamps in the session's time zone: make it UTC.
	if _, err := tx.Exec(ctx, "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'iso_8601'"); err != nil {
		return sum, fmt.Errorf("subject export: %w", err)
	}
	counts, err := sc.count(ctx, tx)
	if err != nil {
		return sum, fmt.Errorf("subject export: %w", err)
	}
	if err := sc.found(ctx, tx, counts); err != nil {
		return nil, fmt.Errorf("subject export: %w", err)
	}
	sum.Subject = sc.canonical
	restricted, err := isRestricted(ctx, tx, sc.canonical)
	if err != nil {
		return sum, fmt.Errorf("subject export: %w", err)
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := exportHeader{Format: ExportFormat, Subject: sc.canonical, GeneratedAt: p.cfg.Now().UTC().Truncate(time.Second),
		Database: sc.schema.Database, Restricted: restricted}
	hdr.Generator.Name, hdr.Generator.Version = "pgveil", p.cfg.Version
	b, err := json.MarshalIndent(hdr, "", "  ")
	if err != nil {
		return sum, err
	}
	// Open the header object and add "tables": [ to it.
	bw.Write(b[:len(b)-2])
	bw.WriteString(",\n  \"tables\": [")
	first := true
	for _, st := range sc.tables {
		n := counts[st.table.Name]
		if n == 0 {
			continue
		}
		if !first {
			bw.WriteString(",")
		}
		first = false
		if err := writeTable(ctx, tx, bw, sc, st, n); err != nil {
			return sum, fmt.Errorf("subject export: %s: %w", st.table.Name, err)
		}
		sum.Tables[st.table.Name] = n
		sum.Rows += n
	}
	bw.WriteString("\n  ]\n}\n")
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("subject export: write: %w", err)
	}
	return sum, nil
}

// writeTable writes one table's object: its header, then its rows, one
// JSON object per line, in primary key order.
func writeTable(ctx context.Context, tx pgx.Tx, w *bufio.Writer, sc *scope, st *scopeTable, n int64) error {
	th := tableHeader{Table: st.table.Name, Relation: st.relation(), LegalHold: st.holdReason(), RowCount: n}
	for _, c := range st.table.Columns {
		col := Column{Name: c.Name, Type: c.Type}
		if st.rule != nil {
			if cat, ok := st.rule.Category(c.Name); ok {
				col.Category = &cat
			}
		}
		th.Columns = append(th.Columns, col)
	}
	b, err := json.MarshalIndent(th, "    ", "  ")
	if err != nil {
		return err
	}
	w.WriteString("\n    ")
	w.Write(b[:len(b)-len("\n    }")])
	w.WriteString(",\n      \"rows\": [")
	order := "t.ctid"
	if len(st.table.PrimaryKey) > 0 {
		keys := make([]string, len(st.table.PrimaryKey))
		for i, k := range st.table.PrimaryKey {
			keys[i] = "t." + dbschema.Ident(k)
		}
		order = strings.Join(keys, ", ")
	}
	rows, err := tx.Query(ctx, fmt.Sprintf("SELECT row_to_json(t)::text FROM %s AS t WHERE %s ORDER BY %s",
		st.table.Ident(), st.cond("t"), order), sc.id)
	if err != nil {
		return jobaudit.SafeError(err)
	}
	defer rows.Close()
	var row string
	got := int64(0)
	for rows.Next() {
		if err := rows.Scan(&row); err != nil {
			return err
		}
		if got > 0 {
			w.WriteString(",")
		}
		w.WriteString("\n        ")
		w.WriteString(row)
		got++
	}
	if err := rows.Err(); err != nil {
		return jobaudit.SafeError(err)
	}
	if got != n {
		return fmt.Errorf("read %d rows, counted %d in the same snapshot", got, n)
	}
	w.WriteString("\n      ]\n    }")
	return nil
}

// isRestricted reports whether the subject is on the restriction list (false
// when the list does not exist).
func isRestricted(ctx context.Context, q dbschema.Querier, canonical string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, RestrictedTable).Scan(&ok)
	if err != nil || !ok {
		return false, err
	}
	err = q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+RestrictedTable+" WHERE subject_id = $1)", canonical).Scan(&ok)
	return ok, err
}
