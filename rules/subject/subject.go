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

// RestrictedTable is the suppression list: the subjects whose processing is
// restricted. See the package documentation for its columns.
const RestrictedTable = dbschema.OwnSchema + ".restricted_subjects"

// maxHops bounds how far the scope follows foreign keys from a table with a
// subject key.
const maxHops = 4

// Errors the requests return (wrapped); the messages name tables, columns
// and the subject's id, never data values.
var (
	// ErrNotFound means no classified table holds a row of the subject.
	ErrNotFound = errors.New("subject not found")
	// ErrInvalidID means the id is not a valid value of a subject key's
	// type.
	ErrInvalidID = errors.New("invalid subject id")
	// ErrUnknownColumn means Rectify was asked for a column that does not
	// exist or that the rules do not classify.
	ErrUnknownColumn = errors.New("unknown column")
	// ErrLegalHold means Rectify was asked to change a table under legal
	// hold.
	ErrLegalHold = errors.New("table under legal hold")
	// ErrSchema means the rules name tables or columns the database does not
	// have, or no table has a subject key.
	ErrSchema = errors.New("rules do not fit the database")
)

// Config configures a Processor.
type Config struct {
	// Catalog is the classification: subject keys, categories, legal
	// holds. Required.
	Catalog *rules.Catalog
	// Tracer records one audit event per action. Required.
	Tracer proxy.QueryTracer
	// Operator is who carries out the requests: the audit identity's user
	// and the restriction list's operator. Required.
	Operator string
	// Version is the pgveil version written into exports. If empty, "dev".
	Version string
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// Processor carries out subject requests. It is safe for concurrent use.
type Processor struct {
	cfg Config
}

// New returns a Processor for cfg.
func New(cfg Config) (*Processor, error) {
	switch {
	case cfg.Catalog == nil:
		return nil, errors.New("subject: no rules (Config.Catalog is nil)")
	case cfg.Tracer == nil:
		return nil, errors.New("subject: no audit trail (Config.Tracer is nil)")
	case strings.TrimSpace(cfg.Operator) == "":
		return nil, errors.New("subject: no operator (Config.Operator is empty)")
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Processor{cfg: cfg}, nil
}

func (p *Processor) recorder(conn *pgx.Conn) *jobaudit.Recorder {
	return jobaudit.New(p.cfg.Tracer, p.cfg.Operator, "pgveil subject", conn)
}

// edge is a foreign key by which a table's rows belong to the subject: the
// child's columns reference the parent's.
type edge struct {
	parent     *scopeTable
	columns    []string
	refColumns []string
}

// scopeTable is one table that can hold rows of the subject.
type scopeTable struct {
	table *dbschema.Table
	// rule is the table's classification (nil for an unclassified table
	// reached through a foreign key).
	rule *rules.Table
	// key is the subject key column (direct tables only).
	key *dbschema.Column
	// via are the foreign keys that put the table in the scope (tables
	// without a subject key).
	via   []edge
	level int
}

// hold returns the table's own legal hold reason.
func (s *scopeTable) hold() string {
	if s.rule == nil {
		return ""
	}
	return s.rule.LegalHold()
}

// heldParents returns the parents through which the table's rows are part
// of held records, and whether every parent is one.
func (s *scopeTable) heldParents() (held []edge, all bool) {
	for _, e := range s.via {
		if e.parent.hold() != "" || e.parent.inheritsHold() {
			held = append(held, e)
		}
	}
	return held, len(s.via) > 0 && len(held) == len(s.via)
}

// inheritsHold reports whether every row of the table belongs to held
// records.
func (s *scopeTable) inheritsHold() bool {
	_, all := s.heldParents()
	return all
}

// holdReason returns why the table's rows are kept: its own hold, or the
// hold of the records it is part of.
func (s *scopeTable) holdReason() string {
	if h := s.hold(); h != "" {
		return h
	}
	held, _ := s.heldParents()
	var parts []string
	for _, e := range held {
		parts = append(parts, "part of "+e.parent.table.Name+": "+e.parent.holdReason())
	}
	return strings.Join(parts, "; ")
}

// cond returns the SQL condition that selects the subject's rows of the
// table under alias; $1 is the subject id (text).
func (s *scopeTable) cond(alias string) string { return s.condBy(alias, "p", keyIsID) }

// cond returns "(alias.fk...) IN (SELECT parent.ref... WHERE parent's cond)".
func (e edge) cond(alias string, level int) string { return e.condBy(alias, level, "p", keyIsID) }

// keyIsID selects the subject whose id is $1 (text).
func keyIsID(key string, col *dbschema.Column) string { return key + " = $1::" + col.Type }

// condBy returns the condition that a row of the table (under alias, or
// unqualified if alias is "") belongs to the subjects byKey selects by
// their subject key (the qualified key column, and its column): through the
// table's own key, or through its foreign keys (edge.condBy).
func (s *scopeTable) condBy(alias, prefix string, byKey func(key string, col *dbschema.Column) string) string {
	if s.key != nil {
		return byKey(qualify(alias, s.key.Name), s.key)
	}
	var ors []string
	for _, e := range s.via {
		ors = append(ors, e.condBy(alias, s.level, prefix, byKey))
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// condBy returns "(alias.fk...) IN (SELECT parent.ref... FROM parent WHERE
// parent's condition)", the parent under alias prefix+level.
func (e edge) condBy(alias string, level int, prefix string, byKey func(key string, col *dbschema.Column) string) string {
	pa := fmt.Sprintf("%s%d", prefix, level)
	cols := make([]string, len(e.columns))
	refs := make([]string, len(e.refColumns))
	for i := range e.columns {
		cols[i] = qualify(alias, e.columns[i])
		refs[i] = qualify(pa, e.refColumns[i])
	}
	return fmt.Sprintf("(%s) IN (SELECT %s FROM %s AS %s WHERE %s)",
		strings.Join(cols, ", "), strings.Join(refs, ", "), e.parent.table.Ident(), pa, e.parent.condBy(pa, prefix, byKey))
}

// qualify is alias.column, or the column alone if alias is "".
func qualify(alias, col string) string {
	if alias == "" {
		return dbschema.Ident(col)
	}
	return alias + "." + dbschema.Ident(col)
}

// relation describes how the table's rows belong to the subject.
func (s *scopeTable) relation() Relation {
	if s.key != nil {
		return Relation{SubjectKey: s.key.Name}
	}
	var r Relation
	for _, e := range s.via {
		r.Via = append(r.Via, ForeignKey{Columns: e.columns, References: e.parent.table.Name, RefColumns: e.refColumns})
	}
	return r
}

// Relation says how a table's rows belong to the subject: through its
// subject key, or through foreign keys to tables in the scope.
type Relation struct {
	SubjectKey string       `json:"subject_key,omitempty"`
	Via        []ForeignKey `json:"via,omitempty"`
}

// ForeignKey is Columns referencing References(RefColumns).
type ForeignKey struct {
	Columns    []string `json:"columns"`
	References string   `json:"references"`
	RefColumns []string `json:"ref_columns"`
}

// scope is every table that can hold the subject's rows, in the order the
// requests visit them: direct tables in rules order, then tables reached by
// foreign keys, by distance.
type scope struct {
	schema *dbschema.Schema
	tables []*scopeTable
	byName map[string]*scopeTable
	// id is the id as given; canonical its canonical text once known.
	id, canonical string
}

// loadScope reads the schema and builds the scope for id. It validates id
// against every subject key's type.
func (p *Processor) loadScope(ctx context.Context, conn *pgx.Conn, id string) (*scope, error) {
	if id == "" || len(id) > 1024 || strings.ContainsRune(id, 0) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	schema, err := dbschema.Load(ctx, conn)
	if err != nil {
		return nil, err
	}
	sc, err := buildScope(schema, p.cfg.Catalog, false)
	if err != nil {
		return nil, err
	}
	sc.id = id
	if err := validateID(ctx, conn, sc); err != nil {
		return nil, err
	}
	return sc, nil
}

// buildScope finds every table that can hold a subject's rows: the
// classified tables with a subject key, and the tables reached from them
// through foreign keys. lenient skips tables the rules name that the
// database lacks (or whose subject key it lacks) instead of failing.
func buildScope(schema *dbschema.Schema, cat *rules.Catalog, lenient bool) (*scope, error) {
	sc := &scope{schema: schema, byName: map[string]*scopeTable{}}
	var errs []error
	for t := range cat.Tables() {
		tbl, ok := schema.Table(t.Name())
		if !ok {
			if !lenient {
				errs = append(errs, fmt.Errorf("%w: %s does not exist", ErrSchema, t.Name()))
			}
			continue
		}
		if t.SubjectKey() == "" {
			continue
		}
		key, ok := tbl.Column(t.SubjectKey())
		if !ok {
			if !lenient {
				errs = append(errs, fmt.Errorf("%w: %s has no subject_key column %q", ErrSchema, t.Name(), t.SubjectKey()))
			}
			continue
		}
		st := &scopeTable{table: tbl, rule: t, key: key}
		sc.tables = append(sc.tables, st)
		sc.byName[tbl.Name] = st
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(sc.tables) == 0 {
		return nil, fmt.Errorf("%w: no table has a subject_key", ErrSchema)
	}
	// Breadth first through the foreign keys that reference the scope.
	frontier := slices.Clone(sc.tables)
	for level := 1; level <= maxHops && len(frontier) > 0; level++ {
		var next []*scopeTable
		added := map[string]*scopeTable{}
		for _, parent := range frontier {
			for _, fk := range schema.Referencing(parent.table.Name) {
				if _, ok := sc.byName[fk.Table]; ok {
					continue // has a subject key, or is already reached
				}
				child := added[fk.Table]
				if child == nil {
					tbl, _ := schema.Table(fk.Table)
					rule, _ := cat.Table(fk.Table)
					child = &scopeTable{table: tbl, rule: rule, level: level}
					added[fk.Table] = child
					next = append(next, child)
				}
				child.via = append(child.via, edge{parent: parent, columns: fk.Columns, refColumns: fk.RefColumns})
			}
		}
		for _, c := range next {
			sc.tables = append(sc.tables, c)
			sc.byName[c.table.Name] = c
		}
		frontier = next
	}
	return sc, nil
}

// validateID checks that id is a valid value of every subject key type.
func validateID(ctx context.Context, conn *pgx.Conn, sc *scope) error {
	seen := map[string]bool{}
	for _, st := range sc.tables {
		if st.key == nil {
			continue // reached through a foreign key
		}
		typ := st.key.Type
		if seen[typ] {
			continue
		}
		seen[typ] = true
		var ok bool
		// Cast in a sub-transaction so that a failure leaves no aborted
		// transaction behind.
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELECT $1::text::"+typ, sc.id)
			return err
		})
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			ok = true
		case errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || pgErr.Code == "42846"):
		default:
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %q is not a valid %s (subject key of %s)", ErrInvalidID, sc.id, typ, st.table.Name)
		}
	}
	return nil
}

// count returns the number of the subject's rows in each scope table.
func (sc *scope) count(ctx context.Context, q dbschema.Querier) (map[string]int64, error) {
	out := map[string]int64{}
	for _, st := range sc.tables {
		var n int64
		if err := q.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s AS t WHERE %s", st.table.Ident(), st.cond("t")), sc.id).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", st.table.Name, jobaudit.SafeError(err))
		}
		out[st.table.Name] = n
	}
	return out, nil
}

// found returns ErrNotFound unless a direct table holds a row of the
// subject, and sets the canonical id.
func (sc *scope) found(ctx context.Context, q dbschema.Querier, counts map[string]int64) error {
	for _, st := range sc.tables {
		if st.key == nil || counts[st.table.Name] == 0 {
			continue
		}
		err := q.QueryRow(ctx, fmt.Sprintf("SELECT t.%s::text FROM %s AS t WHERE %s LIMIT 1",
			dbschema.Ident(st.key.Name), st.table.Ident(), st.cond("t")), sc.id).Scan(&sc.canonical)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			continue
		case err != nil:
			return fmt.Errorf("read subject key: %w", err)
		}
		return nil
	}
	return fmt.Errorf("%w: no classified table holds rows of subject %q", ErrNotFound, sc.id)
}

// classified returns the table's classified columns that exist, in column
// order, with their categories.
func (s *scopeTable) classified() []proxy.AuditColumn {
	var out []proxy.AuditColumn
	if s.rule == nil {
		return nil
	}
	for _, c := range s.table.Columns {
		if cat, ok := s.rule.Category(c.Name); ok {
			out = append(out, proxy.AuditColumn{ColumnRef: rules.ColumnRef{Table: s.table.Name, Column: c.Name}, Category: cat})
		}
	}
	return out
}

// tableNames returns the scope's table names in scope order.
func (sc *scope) tableNames() []string {
	out := make([]string, len(sc.tables))
	for i, st := range sc.tables {
		out[i] = st.table.Name
	}
	return out
}

// subjectKey returns the id to record: the canonical one once known.
func (sc *scope) subjectKey() string {
	if sc.canonical != "" {
		return sc.canonical
	}
	return sc.id
}

// lockSubject takes a transaction-level advisory lock on the subject, so
// that two requests for one subject (from any number of pgveil instances)
// run one after the other.
func lockSubject(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('pgveil.subject'), hashtext($1))", id)
	return err
}
