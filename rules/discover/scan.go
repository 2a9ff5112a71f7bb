package discover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/internal/dbschema"
)

// Defaults and bounds for Config.
const (
	DefaultSampleRows    = 200
	MaxSampleRows        = 100_000
	DefaultMinConfidence = 0.5
	// maxValueBytes bounds each sampled text value (JSON documents are
	// read whole, up to maxJSONBytes, so that they still parse).
	maxValueBytes = 4096
	maxJSONBytes  = 1 << 20
	// sampleSeed makes TABLESAMPLE repeatable: the same table gives the
	// same sample, so a CI gate does not flap.
	sampleSeed = 42
)

// Config configures Scan.
type Config struct {
	// SampleRows is the number of rows read per table. If zero,
	// DefaultSampleRows.
	SampleRows int
	// Catalog is the current classification, to compare with. Nil means
	// none: every finding is new.
	Catalog *rules.Catalog
	// MinConfidence is the confidence from which a column counts as
	// personal data (proposed, and missing when the rules do not name it).
	// If zero, DefaultMinConfidence.
	MinConfidence float64
	// Schemas limits the scan to these schemas. Nil means every schema
	// but the system ones and pgveil's own.
	Schemas []string
	// StatementTimeout bounds each sampling query. If zero, one minute.
	StatementTimeout time.Duration
}

// Result is what a scan found.
type Result struct {
	Database      string        `json:"database"`
	ScannedAt     time.Time     `json:"scanned_at"`
	SampleRows    int           `json:"sample_rows"`
	MinConfidence float64       `json:"min_confidence"`
	Tables        []TableResult `json:"tables"`

	schema  *dbschema.Schema
	catalog *rules.Catalog
}

// TableResult is one table's findings.
type TableResult struct {
	Table string `json:"table"`
	// EstimatedRows is the planner's estimate (negative: never analyzed).
	EstimatedRows float64 `json:"estimated_rows"`
	// Columns has one finding per column, in column order.
	Columns []Finding `json:"columns"`
	// SampleError says why values could not be sampled ("" when they
	// were); the findings then rest on names and types alone.
	SampleError string `json:"sample_error,omitempty"`
}

// Personal reports whether the finding counts as personal data at the
// result's confidence threshold.
func (r *Result) Personal(f Finding) bool {
	return f.Category != "" && f.Confidence >= r.MinConfidence
}

// Missing returns the columns that look like personal data but that the
// current rules do not name: what a CI gate fails on.
func (r *Result) Missing() []Finding {
	var out []Finding
	for _, t := range r.Tables {
		for _, f := range t.Columns {
			if r.Personal(f) && f.Current == "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// Scan samples every user table of the database conn is connected to and
// classifies each column by its name, its type and its values. It needs
// SELECT on the tables (pg_read_all_data); a table it cannot read is
// classified by names and types alone, with TableResult.SampleError set.
// Sampled values stay in memory for the scan and appear nowhere in the
// result.
func Scan(ctx context.Context, conn *pgx.Conn, cfg Config) (*Result, error) {
	if cfg.SampleRows == 0 {
		cfg.SampleRows = DefaultSampleRows
	}
	if cfg.SampleRows < 1 || cfg.SampleRows > MaxSampleRows {
		return nil, fmt.Errorf("scan: sample of %d rows: want 1 to %d", cfg.SampleRows, MaxSampleRows)
	}
	if cfg.MinConfidence == 0 {
		cfg.MinConfidence = DefaultMinConfidence
	}
	if cfg.MinConfidence < 0 || cfg.MinConfidence > 1 {
		return nil, fmt.Errorf("scan: minimum confidence %v: want 0 to 1", cfg.MinConfidence)
	}
	if cfg.StatementTimeout <= 0 {
		cfg.StatementTimeout = time.Minute
	}
	schema, err := dbschema.Load(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	res := &Result{Database: schema.Database, ScannedAt: time.Now().UTC(), SampleRows: cfg.SampleRows,
		MinConfidence: cfg.MinConfidence, schema: schema, catalog: cfg.Catalog}
	for _, name := range schema.Names() {
		tbl, _ := schema.Table(name)
		if len(cfg.Schemas) > 0 && !slices.Contains(cfg.Schemas, tbl.Schema) {
			continue
		}
		tr := TableResult{Table: name, EstimatedRows: tbl.EstimatedRows}
		values, err := sample(ctx, conn, tbl, cfg)
		if err != nil {
			var pgErr *pgconn.PgError
			if ctx.Err() != nil || !errors.As(err, &pgErr) {
				return nil, fmt.Errorf("scan: %s: %w", name, err)
			}
			tr.SampleError = pgErr.Message
			if strings.HasPrefix(pgErr.Code, "22") {
				// Data exceptions can quote the value that failed.
				tr.SampleError = "a value could not be read (SQLSTATE " + pgErr.Code + ")"
			}
		}
		for i := range tbl.Columns {
			col := &tbl.Columns[i]
			f := classify(column{table: name, name: col.Name, typeName: col.BaseType, typeCat: col.TypeCategory}, values[col.Name])
			f.Type = col.Type
			if cat, ok := cfg.Catalog.Category(name, col.Name); ok {
				f.Current = cat
			}
			tr.Columns = append(tr.Columns, f)
		}
		res.Tables = append(res.Tables, tr)
	}
	return res, nil
}

// sampled reports whether a column's values are worth reading.
func sampled(c *dbschema.Column) bool {
	switch c.TypeCategory {
	case typeString, typeNumeric, typeNetwork, typeArray:
		return true
	case typeUser:
		return c.BaseType == "json" || c.BaseType == "jsonb"
	}
	return false
}

// sample reads up to cfg.SampleRows rows of the table's sampled columns and
// returns each column's non-NULL values as text.
func sample(ctx context.Context, conn *pgx.Conn, tbl *dbschema.Table, cfg Config) (map[string][]string, error) {
	var cols []*dbschema.Column
	var exprs []string
	for i := range tbl.Columns {
		c := &tbl.Columns[i]
		if !sampled(c) {
			continue
		}
		ref := dbschema.Ident(c.Name)
		switch {
		case c.TypeCategory == typeUser:
			exprs = append(exprs, fmt.Sprintf("CASE WHEN octet_length(%[1]s::text) <= %[2]d THEN %[1]s::text END", ref, maxJSONBytes))
		default:
			exprs = append(exprs, fmt.Sprintf("left(%s::text, %d)", ref, maxValueBytes))
		}
		cols = append(cols, c)
	}
	out := map[string][]string{}
	if len(cols) == 0 {
		return out, nil
	}
	from := tbl.Ident()
	if tbl.EstimatedRows > float64(4*cfg.SampleRows) {
		// A repeatable Bernoulli sample of about twice the rows wanted,
		// spread over the whole table rather than its first pages.
		pct := min(100, 100*2*float64(cfg.SampleRows)/tbl.EstimatedRows)
		from += fmt.Sprintf(" TABLESAMPLE BERNOULLI (%g) REPEATABLE (%d)", pct, sampleSeed)
	}
	read := func(from string) (int, error) {
		clear(out)
		n := 0
		err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", cfg.StatementTimeout.Milliseconds())); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, fmt.Sprintf("SELECT %s FROM %s LIMIT %d", strings.Join(exprs, ", "), from, cfg.SampleRows))
			if err != nil {
				return err
			}
			defer rows.Close()
			vals := make([]*string, len(cols))
			dest := make([]any, len(cols))
			for i := range vals {
				dest[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					return err
				}
				n++
				for i, v := range vals {
					if v != nil {
						out[cols[i].Name] = append(out[cols[i].Name], *v)
					}
				}
			}
			return rows.Err()
		})
		return n, err
	}
	n, err := read(from)
	if err == nil && n < cfg.SampleRows/2 && from != tbl.Ident() {
		// Stale statistics: the sample came out small. Read the first rows
		// instead.
		_, err = read(tbl.Ident())
	}
	return out, err
}
