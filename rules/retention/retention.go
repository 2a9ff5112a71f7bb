package retention

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/internal/dbschema"
	"github.com/pgveil/pgveil/rules/internal/jobaudit"
	"github.com/pgveil/pgveil/rules/internal/storedmask"
)

// Defaults for Config fields left zero.
const (
	DefaultBatchSize   = 500
	DefaultLockTimeout = 5 * time.Second
	// MaxBatchSize bounds Config.BatchSize: a batch is one transaction and
	// its row locks.
	MaxBatchSize = 100_000
	// maxSpanSubjects bounds the subject keys listed in one batch span (the
	// count is always exact).
	maxSpanSubjects = 100
)

// Errors that Run returns (wrapped) for bad configuration.
var (
	// ErrNoRetention means Config.Tables names a table without retention
	// clauses.
	ErrNoRetention = errors.New("no retention clause")
	// ErrSchema means the database does not match the rules: a table or
	// column is missing, the timestamp has the wrong type, a table has no
	// primary key, or a mask cannot apply to a column.
	ErrSchema = errors.New("rules do not fit the database")
)

// Config configures Run.
type Config struct {
	// Catalog holds the retention clauses. Required.
	Catalog *rules.Catalog
	// Tracer records one audit span per batch. Required: a job that
	// rewrites personal data is always audited.
	Tracer proxy.QueryTracer
	// Operator is who runs the job: the audit identity's user. If empty,
	// "pgveil".
	Operator string
	// Now is the instant ages are measured from. If zero, time.Now().
	Now time.Time
	// BatchSize is the number of rows one transaction claims. If zero,
	// DefaultBatchSize; at most MaxBatchSize.
	BatchSize int
	// DryRun counts what a run would change, without writing.
	DryRun bool
	// Tables limits the run to these tables ("public.messages"); each must
	// have retention clauses. Nil means every table that has.
	Tables []string
	// LockTimeout bounds a batch's wait for its table lock (an ALTER TABLE
	// in progress). If zero, DefaultLockTimeout.
	LockTimeout time.Duration
}

// Report says what a run did (or, dry, would do).
type Report struct {
	Now    time.Time     `json:"now"`
	DryRun bool          `json:"dry_run"`
	Tables []TableReport `json:"tables"`
}

// TableReport is one table's part of a run.
type TableReport struct {
	Table string `json:"table"`
	// Method is "sql" when the masks ran in the database, "go" when the
	// rows were read, masked and written back.
	Method string `json:"method"`
	// Clauses are the table's retention clauses with their cutoffs.
	Clauses []ClauseReport `json:"clauses"`
	// Rows is the number of rows rewritten (dry run: that would be).
	Rows int64 `json:"rows"`
	// Columns counts the values changed per column.
	Columns []ColumnReport `json:"columns"`
	// Batches is the number of batches that rewrote rows.
	Batches int `json:"batches"`
}

// ClauseReport is one retention clause as applied.
type ClauseReport struct {
	After string `json:"after"`
	// Cutoff is Now minus After: rows older than it are rewritten.
	Cutoff time.Time `json:"cutoff"`
	// Redact maps each column to its mask ("erase" for redact).
	Redact map[string]string `json:"redact"`
}

// ColumnReport counts the values of one column a run changed.
type ColumnReport struct {
	Column string `json:"column"`
	Values int64  `json:"values"`
}

// Run applies the retention clauses of cfg.Catalog to the database conn is
// connected to, table by table, and returns what it did. On error (including
// a canceled ctx) it returns the report so far, whose batches are committed,
// and the error; running again finishes the job.
func Run(ctx context.Context, conn *pgx.Conn, cfg Config) (*Report, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("retention: no rules (Config.Catalog is nil)")
	}
	if cfg.Tracer == nil {
		return nil, errors.New("retention: no audit trail (Config.Tracer is nil)")
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchSize < 0 || cfg.BatchSize > MaxBatchSize {
		return nil, fmt.Errorf("retention: batch size %d: want 1 to %d", cfg.BatchSize, MaxBatchSize)
	}
	if cfg.Operator == "" {
		cfg.Operator = "pgveil"
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = DefaultLockTimeout
	}
	schema, err := dbschema.Load(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	plans, err := planTables(cfg, schema)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	r := &runner{
		conn: conn,
		cfg:  cfg,
		rec:  jobaudit.New(cfg.Tracer, cfg.Operator, "pgveil retention", conn),
	}
	rep := &Report{Now: cfg.Now, DryRun: cfg.DryRun}
	for _, p := range plans {
		tr := p.report()
		err := r.runTable(ctx, p, &tr)
		rep.Tables = append(rep.Tables, tr)
		if err != nil {
			return rep, fmt.Errorf("retention: %s: %w", p.table.Name, jobaudit.SafeError(err))
		}
	}
	return rep, nil
}

// clause is one retention clause with its cutoff.
type clause struct {
	rule   rules.RetentionRule
	cutoff time.Time
}

// column is one column that a table's clauses rewrite: the rewrite per
// clause, oldest cutoff first; nil where a clause leaves the column alone.
type column struct {
	col      *dbschema.Column
	category string
	rewrites []*storedmask.Rewrite // parallel to tablePlan.clauses
}

// tablePlan is everything Run needs to work through one table.
type tablePlan struct {
	table      *dbschema.Table
	ts         *dbschema.Column
	subjectKey string
	// clauses are sorted by cutoff, oldest first.
	clauses []clause
	columns []column
	pk      []*dbschema.Column
	sql     bool
}

func (p *tablePlan) report() TableReport {
	tr := TableReport{Table: p.table.Name, Method: "go"}
	if p.sql {
		tr.Method = "sql"
	}
	for _, c := range p.clauses {
		cr := ClauseReport{After: c.rule.After.String(), Cutoff: c.cutoff, Redact: map[string]string{}}
		for _, rd := range c.rule.Redact {
			cr.Redact[rd.Column] = maskName(rd.Mask)
		}
		tr.Clauses = append(tr.Clauses, cr)
	}
	for _, c := range p.columns {
		tr.Columns = append(tr.Columns, ColumnReport{Column: c.col.Name})
	}
	return tr
}

// planTables checks the rules against the database and plans each table.
func planTables(cfg Config, schema *dbschema.Schema) ([]*tablePlan, error) {
	want := map[string]bool{}
	for _, t := range cfg.Tables {
		tbl, ok := cfg.Catalog.Table(t)
		if !ok || len(tbl.Retention()) == 0 {
			return nil, fmt.Errorf("%s: %w in the rules", t, ErrNoRetention)
		}
		want[t] = true
	}
	var plans []*tablePlan
	var errs []error
	for t := range cfg.Catalog.Tables() {
		if len(t.Retention()) == 0 || (len(want) > 0 && !want[t.Name()]) {
			continue
		}
		p, err := planTable(cfg, t, schema)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plans = append(plans, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return plans, nil
}

func planTable(cfg Config, t *rules.Table, schema *dbschema.Schema) (*tablePlan, error) {
	name := t.Name()
	tbl, ok := schema.Table(name)
	if !ok {
		return nil, fmt.Errorf("%s: %w: no such table", name, ErrSchema)
	}
	p := &tablePlan{table: tbl, subjectKey: t.SubjectKey(), sql: true}
	ts, ok := tbl.Column(t.Timestamp())
	if !ok {
		return nil, fmt.Errorf("%s: %w: timestamp column %q does not exist", name, ErrSchema, t.Timestamp())
	}
	switch ts.TypeOID {
	case oidDate, oidTimestamp, oidTimestamptz:
	default:
		return nil, fmt.Errorf("%s: %w: timestamp column %s is %s, want date, timestamp or timestamptz", name, ErrSchema, ts.Name, ts.Type)
	}
	p.ts = ts
	if len(tbl.PrimaryKey) == 0 {
		return nil, fmt.Errorf("%s: %w: retention needs a primary key to work in batches", name, ErrSchema)
	}
	for _, k := range tbl.PrimaryKey {
		c, _ := tbl.Column(k)
		p.pk = append(p.pk, c)
	}
	if p.subjectKey != "" {
		if _, ok := tbl.Column(p.subjectKey); !ok {
			return nil, fmt.Errorf("%s: %w: subject_key column %q does not exist", name, ErrSchema, p.subjectKey)
		}
	}
	for _, rule := range t.Retention() {
		p.clauses = append(p.clauses, clause{rule: rule, cutoff: rule.After.Cutoff(cfg.Now)})
	}
	slices.SortStableFunc(p.clauses, func(a, b clause) int { return a.cutoff.Compare(b.cutoff) })
	byName := map[string]int{}
	for i, cl := range p.clauses {
		for _, rd := range cl.rule.Redact {
			j, ok := byName[rd.Column]
			if !ok {
				col, ok := tbl.Column(rd.Column)
				if !ok {
					return nil, fmt.Errorf("%s: %w: column %q does not exist", name, ErrSchema, rd.Column)
				}
				if slices.Contains(tbl.PrimaryKey, rd.Column) {
					return nil, fmt.Errorf("%s: %w: column %q is part of the primary key, which retention cannot rewrite", name, ErrSchema, rd.Column)
				}
				cat, _ := t.Category(rd.Column)
				j = len(p.columns)
				byName[rd.Column] = j
				p.columns = append(p.columns, column{col: col, category: cat, rewrites: make([]*storedmask.Rewrite, len(p.clauses))})
			}
			rw, err := storedmask.New(rd.Mask, name, p.columns[j].col)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrSchema, err)
			}
			p.columns[j].rewrites[i] = rw
			if !rw.HasSQL() {
				p.sql = false
			}
		}
	}
	slices.SortFunc(p.columns, func(a, b column) int { return int(a.col.Num) - int(b.col.Num) })
	return p, nil
}

// Type OIDs of the timestamp column types.
const (
	oidDate        = 1082
	oidTimestamp   = 1114
	oidTimestamptz = 1184
)

// runner carries one run's connection, settings and audit recorder.
type runner struct {
	conn *pgx.Conn
	cfg  Config
	rec  *jobaudit.Recorder
}

// batchResult is what one batch claimed and changed.
type batchResult struct {
	claimed  int
	rows     int64   // rows with at least one changed value
	values   []int64 // per column
	subjects map[string]struct{}
	lastKey  []string // text of the last claimed primary key
}

// runTable works through one table batch by batch until a batch claims
// fewer rows than the batch size.
func (r *runner) runTable(ctx context.Context, p *tablePlan, tr *TableReport) error {
	var after []string // keyset: the last primary key claimed so far
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.rec.Ready(); err != nil {
			return err
		}
		start := time.Now()
		res, err := r.batch(ctx, p, after)
		if err != nil || res.rows > 0 {
			r.record(ctx, p, res, start, err)
		}
		if err != nil {
			return err
		}
		if res.rows > 0 {
			tr.Batches++
			tr.Rows += res.rows
			for i, n := range res.values {
				tr.Columns[i].Values += n
			}
		}
		if res.claimed < r.cfg.BatchSize {
			return nil
		}
		after = res.lastKey
	}
}

// batch runs one transaction over the next batch of rows after the key
// after (nil: from the start).
func (r *runner) batch(ctx context.Context, p *tablePlan, after []string) (res batchResult, err error) {
	res.values = make([]int64, len(p.columns))
	res.subjects = map[string]struct{}{}
	tx, err := r.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	settings := storedmask.SessionSettings + fmt.Sprintf("; SET LOCAL lock_timeout = %d", r.cfg.LockTimeout.Milliseconds())
	if _, err := tx.Exec(ctx, settings); err != nil {
		return res, err
	}
	switch {
	case p.sql:
		err = r.sqlBatch(ctx, tx, p, after, &res)
	default:
		err = r.goBatch(ctx, tx, p, after, &res)
	}
	if err != nil {
		return res, err
	}
	if r.cfg.DryRun {
		return res, tx.Rollback(ctx)
	}
	return res, tx.Commit(ctx)
}

// query builds the parts of a batch's statements that both methods share.
type query struct {
	p    *tablePlan
	args []any
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

// tsBefore returns "t.ts < cutoff" for the timestamp column's type.
func (q *query) tsBefore(cutoff time.Time) string {
	ts := "t." + dbschema.Ident(q.p.ts.Name)
	param := q.arg(cutoff) + "::timestamptz"
	if q.p.ts.TypeOID != oidTimestamptz {
		// date and timestamp are read as UTC.
		param = "(" + param + " AT TIME ZONE 'UTC')"
	}
	return ts + " < " + param
}

// pkList returns the primary key columns, each prefixed and with suffix.
func (q *query) pkList(prefix, suffix string) string {
	var b strings.Builder
	for i, c := range q.p.pk {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix + dbschema.Ident(c.Name) + suffix)
	}
	return b.String()
}

// where returns the conditions shared by both methods: old enough, after
// the keyset position.
func (q *query) where(after []string) string {
	conds := []string{q.tsBefore(q.p.clauses[len(q.p.clauses)-1].cutoff)}
	if after != nil {
		vals := make([]string, len(q.p.pk))
		for i, c := range q.p.pk {
			vals[i] = q.arg(after[i]) + "::" + c.Type
		}
		conds = append(conds, "("+q.pkList("t.", "")+") > ("+strings.Join(vals, ", ")+")")
	}
	return strings.Join(conds, " AND ")
}

// maskedExpr returns the SQL of column c's value after retention: the mask
// of the oldest clause whose cutoff the row is older than.
func (q *query) maskedExpr(c *column, cutoffs []string) string {
	ref := "t." + dbschema.Ident(c.col.Name)
	var b strings.Builder
	b.WriteString("CASE")
	for i, rw := range c.rewrites {
		if rw == nil {
			continue
		}
		fmt.Fprintf(&b, " WHEN %s THEN %s", cutoffs[i], rw.SQL(ref))
	}
	b.WriteString(" ELSE " + ref + " END")
	return b.String()
}

// cutoffConds returns one "t.ts < $n" per clause.
func (q *query) cutoffConds() []string {
	out := make([]string, len(q.p.clauses))
	for i, cl := range q.p.clauses {
		out[i] = q.tsBefore(cl.cutoff)
	}
	return out
}

func (r *runner) subjectExpr(p *tablePlan) string {
	if p.subjectKey == "" {
		return "NULL::text"
	}
	return "t." + dbschema.Ident(p.subjectKey) + "::text"
}

// sqlBatch claims and rewrites one batch in a single statement.
func (r *runner) sqlBatch(ctx context.Context, tx pgx.Tx, p *tablePlan, after []string, res *batchResult) error {
	q := &query{p: p}
	cutoffs := q.cutoffConds()
	diffs := make([]string, len(p.columns))
	sets := make([]string, len(p.columns))
	for i := range p.columns {
		c := &p.columns[i]
		expr := q.maskedExpr(c, cutoffs)
		diffs[i] = fmt.Sprintf("(t.%s IS DISTINCT FROM %s)", dbschema.Ident(c.col.Name), expr)
		sets[i] = dbschema.Ident(c.col.Name) + " = " + expr
	}
	where := q.where(after) + " AND (" + strings.Join(diffs, " OR ") + ")"
	limit := q.arg(r.cfg.BatchSize)
	diffCols := make([]string, len(diffs))
	for i, d := range diffs {
		diffCols[i] = fmt.Sprintf("%s AS d%d", d, i)
	}
	claim := func(keySuffix string) string {
		return fmt.Sprintf("SELECT %s, %s, %s AS subject FROM %s AS t WHERE %s ORDER BY %s LIMIT %s",
			q.pkList("t.", keySuffix), strings.Join(diffCols, ", "), r.subjectExpr(p), p.table.Ident(), where, q.pkList("t.", ""), limit)
	}
	var sql string
	if r.cfg.DryRun {
		sql = claim("::text")
	} else {
		// The claim, the rewrite and the result in one statement: b locks
		// the batch, u rewrites it, and the keys come back in key order.
		join := make([]string, len(p.pk))
		for i, c := range p.pk {
			join[i] = fmt.Sprintf("t.%[1]s = b.%[1]s", dbschema.Ident(c.Name))
		}
		sql = fmt.Sprintf(`WITH b AS (%s FOR NO KEY UPDATE OF t SKIP LOCKED),
u AS (UPDATE %s AS t SET %s FROM b WHERE %s RETURNING %s, %s, b.subject)
SELECT %s, %s, subject FROM u ORDER BY %s`,
			claim(""), p.table.Ident(), strings.Join(sets, ", "), strings.Join(join, " AND "),
			q.pkList("b.", ""), dList(len(diffs), "b."),
			q.pkList("u.", "::text"), dList(len(diffs), "u."), q.pkList("u.", ""))
	}
	rows, err := tx.Query(ctx, sql, q.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	nk := len(p.pk)
	for rows.Next() {
		key := make([]string, nk)
		ch := make([]bool, len(p.columns))
		var subject *string
		dest := make([]any, 0, nk+len(ch)+1)
		for i := range key {
			dest = append(dest, &key[i])
		}
		for i := range ch {
			dest = append(dest, &ch[i])
		}
		dest = append(dest, &subject)
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		res.claimed++
		res.lastKey = key
		res.count(ch, subject)
	}
	return rows.Err()
}

// dList returns "prefix d0, prefix d1, ...".
func dList(n int, prefix string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%sd%d", prefix, i)
	}
	return strings.Join(parts, ", ")
}

// count adds one claimed row's changes to the batch.
func (res *batchResult) count(changed []bool, subject *string) {
	some := false
	for i, c := range changed {
		if c {
			res.values[i]++
			some = true
		}
	}
	if !some {
		return
	}
	res.rows++
	if subject != nil {
		res.subjects[*subject] = struct{}{}
	}
}

// goBatch claims one batch, masks it in Go and writes back what changed.
func (r *runner) goBatch(ctx context.Context, tx pgx.Tx, p *tablePlan, after []string, res *batchResult) error {
	q := &query{p: p}
	cutoffs := q.cutoffConds()
	cols := make([]string, len(p.columns))
	for i, c := range p.columns {
		cols[i] = "t." + dbschema.Ident(c.col.Name) + "::text"
	}
	where := q.where(after)
	limit := q.arg(r.cfg.BatchSize)
	sql := fmt.Sprintf("SELECT %s, %s, %s, %s FROM %s AS t WHERE %s ORDER BY %s LIMIT %s",
		q.pkList("t.", "::text"), strings.Join(cutoffs, ", "), strings.Join(cols, ", "), r.subjectExpr(p),
		p.table.Ident(), where, q.pkList("t.", ""), limit)
	if !r.cfg.DryRun {
		sql += " FOR NO KEY UPDATE OF t SKIP LOCKED"
	}
	nk, nc, ncol := len(p.pk), len(p.clauses), len(p.columns)
	// Update arrays: the key columns, then per column a "set" flag and the
	// new value.
	keys := make([][]string, nk)
	set := make([][]bool, ncol)
	vals := make([][]*string, ncol)
	rows, err := tx.Query(ctx, sql, q.args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		key := make([]string, nk)
		old := make([]bool, nc)
		v := make([]*string, ncol)
		var subject *string
		dest := make([]any, 0, nk+nc+ncol+1)
		for i := range key {
			dest = append(dest, &key[i])
		}
		for i := range old {
			dest = append(dest, &old[i])
		}
		for i := range v {
			dest = append(dest, &v[i])
		}
		dest = append(dest, &subject)
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return err
		}
		res.claimed++
		res.lastKey = key
		changed := make([]bool, ncol)
		var newVals []*string
		for i := range p.columns {
			nv := applyOldest(&p.columns[i], old, v[i])
			changed[i] = !sameText(nv, v[i])
			newVals = append(newVals, nv)
		}
		if !slices.Contains(changed, true) {
			continue
		}
		res.count(changed, subject)
		for i := range key {
			keys[i] = append(keys[i], key[i])
		}
		for i := range p.columns {
			set[i] = append(set[i], changed[i])
			vals[i] = append(vals[i], newVals[i])
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if r.cfg.DryRun || res.rows == 0 {
		return nil
	}
	u := &query{p: p}
	var from, join, sets []string
	for i, c := range p.pk {
		from = append(from, u.arg(keys[i])+"::text[]")
		join = append(join, fmt.Sprintf("t.%s = v.k%d::%s", dbschema.Ident(c.Name), i, c.Type))
	}
	var alias []string
	for i := range nk {
		alias = append(alias, fmt.Sprintf("k%d", i))
	}
	for i, c := range p.columns {
		from = append(from, u.arg(set[i])+"::bool[]", u.arg(vals[i])+"::text[]")
		alias = append(alias, fmt.Sprintf("s%d", i), fmt.Sprintf("n%d", i))
		name := dbschema.Ident(c.col.Name)
		sets = append(sets, fmt.Sprintf("%s = CASE WHEN v.s%d THEN v.n%d::%s ELSE t.%s END", name, i, i, c.col.Type, name))
	}
	upd := fmt.Sprintf("UPDATE %s AS t SET %s FROM unnest(%s) AS v(%s) WHERE %s",
		p.table.Ident(), strings.Join(sets, ", "), strings.Join(from, ", "), strings.Join(alias, ", "), strings.Join(join, " AND "))
	tag, err := tx.Exec(ctx, upd, u.args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != res.rows {
		return fmt.Errorf("rewrote %d rows, expected %d", tag.RowsAffected(), res.rows)
	}
	return nil
}

// applyOldest masks v with the rewrite of the oldest clause the row is
// older than (old[i]: the row is older than clause i's cutoff).
func applyOldest(c *column, old []bool, v *string) *string {
	for i, rw := range c.rewrites {
		if rw != nil && old[i] {
			return rw.Apply(v)
		}
	}
	return v
}

func sameText(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// record records one batch's audit span.
func (r *runner) record(ctx context.Context, p *tablePlan, res batchResult, start time.Time, err error) {
	summary, kind, use, tag := "RETENTION "+p.table.Name, rules.KindUpdate, rules.UseWrite, "UPDATE"
	if r.cfg.DryRun {
		summary, kind, use, tag = "RETENTION DRY-RUN "+p.table.Name, rules.KindSelect, rules.UseFilter, "SELECT"
	}
	e := jobaudit.Event{
		Kind:       kind,
		Summary:    summary,
		Text:       p.describe(),
		Tables:     []string{p.table.Name},
		CommandTag: tag,
		Start:      start,
		Err:        err,
	}
	if r.cfg.DryRun {
		e.Reason = fmt.Sprintf("dry run: %d rows would be rewritten", res.rows)
	} else if err == nil {
		e.RowsAffected = res.rows
	}
	for i, c := range p.columns {
		if res.values != nil && res.values[i] == 0 && err == nil {
			continue
		}
		var masks []string
		for _, rw := range c.rewrites {
			if rw != nil {
				masks = append(masks, rw.Mask.String())
			}
		}
		e.Columns = append(e.Columns, proxy.AuditColumn{
			ColumnRef: rules.ColumnRef{Table: p.table.Name, Column: c.col.Name},
			Category:  c.category,
			Uses:      use,
			Mask:      strings.Join(masks, ","),
		})
	}
	if len(res.subjects) > 0 {
		for k := range res.subjects {
			e.SubjectKeys = append(e.SubjectKeys, k)
		}
		slices.Sort(e.SubjectKeys)
		e.SubjectCount = int64(len(e.SubjectKeys))
		if len(e.SubjectKeys) > maxSpanSubjects {
			e.SubjectKeys = e.SubjectKeys[:maxSpanSubjects]
		}
		e.SubjectTables = []string{p.table.Name}
	}
	r.rec.Record(ctx, e)
}

// maskName names a mask as retention applies it: redact is "erase" (NULL
// or the redaction constant, see the package documentation).
func maskName(m rules.Mask) string {
	if m.Action == rules.ActionRedact {
		return "erase"
	}
	return m.String()
}

// describe returns the batch's statement in words, without values:
// "UPDATE public.messages SET to_phone = last4, body = erase WHERE
// created_at older than 180d".
func (p *tablePlan) describe() string {
	var b strings.Builder
	b.WriteString("UPDATE " + p.table.Name + " SET ")
	for i, c := range p.columns {
		if i > 0 {
			b.WriteString(", ")
		}
		var masks []string
		for j, rw := range c.rewrites {
			if rw != nil {
				masks = append(masks, maskName(rw.Mask)+" after "+p.clauses[j].rule.After.String())
			}
		}
		b.WriteString(c.col.Name + " = " + strings.Join(masks, " / "))
	}
	b.WriteString(" WHERE " + p.ts.Name + " < now - after")
	return b.String()
}
