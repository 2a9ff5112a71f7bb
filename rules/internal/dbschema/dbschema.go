// Package dbschema reads what pgveil's stored-data jobs (retention, subject
// requests, discovery) need to know about a database's tables from the
// system catalogs: columns with their types and nullability, primary keys,
// single-column unique indexes and foreign keys. It is internal to rules/:
// the proxy has its own, lineage-oriented schema snapshot (proxy/analyze).
//
// A Schema is a snapshot, read once per job; it is immutable afterwards and
// safe for concurrent use.
package dbschema

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Querier is the part of *pgx.Conn, pgx.Tx and *pgxpool.Pool that Load uses.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// OwnSchema is the schema pgveil keeps its own tables in (the restriction
// list). Load leaves it out: it is not the application's data.
const OwnSchema = "pgveil"

// Column is one column of a table.
type Column struct {
	Name string
	// Num is the attribute number.
	Num int16
	// TypeOID is the column's type, or a domain's base type; TypeMod its
	// modifier (-1 if none).
	TypeOID uint32
	TypeMod int32
	// Type is the declared type as format_type prints it (a domain stays
	// the domain), usable in casts: $1::<Type>.
	Type string
	// BaseType is the name (pg_type.typname) of TypeOID: "text", "int8",
	// "citext".
	BaseType string
	// TypeCategory is pg_type.typcategory of TypeOID: S string, N numeric,
	// D date/time, B boolean, I network, U user-defined (json, uuid), A
	// array, E enum, ...
	TypeCategory byte
	// NotNull is the column's NOT NULL constraint.
	NotNull bool
	// Generated is true for a generated column (it cannot be updated).
	Generated bool
	// Unique is true when a single-column unique index (without predicate
	// or expression) covers the column.
	Unique bool
}

// ForeignKey is one foreign key constraint: Table(Columns) references
// RefTable(RefColumns), columns in constraint order.
type ForeignKey struct {
	Name       string
	Table      string
	Columns    []string
	RefTable   string
	RefColumns []string
}

// Table is one ordinary or partitioned table (partitions are represented by
// their parent).
type Table struct {
	// Name is "schema.table" as stored in the catalogs.
	Name    string
	Schema  string
	Relname string
	OID     uint32
	// EstimatedRows is pg_class.reltuples: negative when the table was
	// never analyzed.
	EstimatedRows float64
	Columns       []Column
	// PrimaryKey lists the primary key's columns in key order; nil if none.
	PrimaryKey []string
	// ForeignKeys are the table's outgoing foreign keys, by name.
	ForeignKeys []ForeignKey
}

// Column returns the named column.
func (t *Table) Column(name string) (*Column, bool) {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i], true
		}
	}
	return nil, false
}

// Ident returns the table's quoted, schema-qualified name for SQL text.
func (t *Table) Ident() string { return pgx.Identifier{t.Schema, t.Relname}.Sanitize() }

// Schema is a snapshot of a database's user tables.
type Schema struct {
	// Database is current_database().
	Database string
	// Tables maps "schema.table" to the table.
	Tables map[string]*Table
	// incoming maps a table to the foreign keys that reference it.
	incoming map[string][]ForeignKey
}

// Table returns the named table ("schema.table").
func (s *Schema) Table(name string) (*Table, bool) {
	t, ok := s.Tables[name]
	return t, ok
}

// Names returns the table names, sorted.
func (s *Schema) Names() []string {
	names := make([]string, 0, len(s.Tables))
	for n := range s.Tables {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Referencing returns the foreign keys that reference table, sorted by
// referencing table and constraint name.
func (s *Schema) Referencing(table string) []ForeignKey { return s.incoming[table] }

// Ident quotes one identifier for SQL text.
func Ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// userTables selects the tables a snapshot holds: ordinary and partitioned
// tables (not partitions) outside the system schemas and OwnSchema.
const userTables = `
	c.relkind IN ('r', 'p') AND NOT c.relispartition
	AND n.nspname NOT IN ('pg_catalog', 'information_schema', '` + OwnSchema + `')
	AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'`

const columnsSQL = `
SELECT n.nspname, c.relname, c.oid, c.reltuples::float8,
       a.attname, a.attnum, bt.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       format_type(a.atttypid, a.atttypmod), bt.typname, bt.typcategory::text,
       a.attnotnull, a.attgenerated <> '',
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.oid AND i.indisunique AND i.indnkeyatts = 1
                 AND i.indkey[0] = a.attnum AND i.indpred IS NULL AND i.indexprs IS NULL)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE ` + userTables + `
ORDER BY n.nspname, c.relname, a.attnum`

const keysSQL = `
SELECT n.nspname || '.' || c.relname, con.conname, con.contype::text,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord)::text[],
       COALESCE(rn.nspname || '.' || rc.relname, ''),
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord)::text[]
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'f') AND ` + userTables + `
ORDER BY 1, 2`

// Load reads the user tables of the database q is connected to (every
// schema except the system schemas and OwnSchema). It needs no privilege on
// the tables themselves: the catalogs are readable by every role.
func Load(ctx context.Context, q Querier) (*Schema, error) {
	s := &Schema{Tables: map[string]*Table{}, incoming: map[string][]ForeignKey{}}
	if err := q.QueryRow(ctx, "SELECT current_database()").Scan(&s.Database); err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	rows, err := q.Query(ctx, columnsSQL)
	if err != nil {
		return nil, fmt.Errorf("read schema: columns: %w", err)
	}
	for rows.Next() {
		var nsp, rel, cat string
		var oid uint32
		var reltuples float64
		var c Column
		if err := rows.Scan(&nsp, &rel, &oid, &reltuples, &c.Name, &c.Num, &c.TypeOID, &c.TypeMod,
			&c.Type, &c.BaseType, &cat, &c.NotNull, &c.Generated, &c.Unique); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read schema: columns: %w", err)
		}
		if cat != "" {
			c.TypeCategory = cat[0]
		}
		name := nsp + "." + rel
		t := s.Tables[name]
		if t == nil {
			t = &Table{Name: name, Schema: nsp, Relname: rel, OID: oid, EstimatedRows: reltuples}
			s.Tables[name] = t
		}
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema: columns: %w", err)
	}
	rows, err = q.Query(ctx, keysSQL)
	if err != nil {
		return nil, fmt.Errorf("read schema: constraints: %w", err)
	}
	for rows.Next() {
		var table, name, kind, ref string
		var cols, refCols []string
		if err := rows.Scan(&table, &name, &kind, &cols, &ref, &refCols); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read schema: constraints: %w", err)
		}
		t := s.Tables[table]
		if t == nil {
			continue
		}
		switch kind {
		case "p":
			t.PrimaryKey = cols
		case "f":
			fk := ForeignKey{Name: name, Table: table, Columns: cols, RefTable: ref, RefColumns: refCols}
			t.ForeignKeys = append(t.ForeignKeys, fk)
			if _, ok := s.Tables[ref]; ok {
				s.incoming[ref] = append(s.incoming[ref], fk)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema: constraints: %w", err)
	}
	for _, fks := range s.incoming {
		slices.SortFunc(fks, func(a, b ForeignKey) int {
			if c := strings.Compare(a.Table, b.Table); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	return s, nil
}
