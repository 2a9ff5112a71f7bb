package analyze

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

// Schema is a snapshot of the parts of the database catalog that statement
// analysis needs: relations with their columns, view definitions,
// inheritance, and the functions, operators and types that may run user
// code. It is plain data: LoadSchema fills it from a live database, tests
// build it by hand. A Schema must not be modified once it has been passed to
// NewSnapshot.
type Schema struct {
	// Relations are the tables, partitioned tables, views, materialized
	// views, foreign tables and sequences of every schema except pg_toast.
	Relations []Relation
	// Functions are the functions, aggregates, window functions and
	// procedures of every schema. Builtins (schema pg_catalog) may be left
	// out: a small built-in list of well-known pure functions stands in for
	// them.
	Functions []Function
	// Operators are the operators outside pg_catalog (user-defined or from
	// extensions).
	Operators []Operator
	// Types are the types outside pg_catalog and information_schema that may
	// run user code when a value is cast to them (domains with CHECK
	// constraints, targets of user-defined casts).
	Types []Type
	// SearchPath is the effective search path (current_schemas(true)) of the
	// connection that read the view definitions: pg_get_viewdef qualifies a
	// name only when it is not visible through that path, so the analyzer
	// resolves the unqualified names of view definitions through it. Nil
	// means "pg_catalog, public".
	SearchPath []string
}

// Relation is one pg_class entry that a query can read or write.
type Relation struct {
	// OID is pg_class.oid, the TableOID of RowDescription fields.
	OID uint32
	// Schema and Name are the namespace and relation names as stored.
	Schema string
	Name   string
	// Kind is pg_class.relkind: 'r' table, 'p' partitioned table, 'v' view,
	// 'm' materialized view, 'f' foreign table, 'S' sequence.
	Kind byte
	// Temp is true for temporary relations (relpersistence 't').
	Temp bool
	// Columns are the live attributes (attnum > 0, not dropped), by attnum.
	Columns []Column
	// Definition is the SELECT of a view or materialized view, as
	// pg_get_viewdef(oid, true) prints it; empty for other kinds and for
	// system views (pg_catalog, information_schema), which are not expanded.
	Definition string
	// Parents are the OIDs of the relations this one inherits from
	// (pg_inherits: partitions and table inheritance).
	Parents []uint32
	// UserTriggers is true when the relation has enabled triggers that are
	// not internal (constraint triggers of foreign keys are internal).
	UserTriggers bool
	// Rules is true when a table has rewrite rules (CREATE RULE), which can
	// turn a write into anything.
	Rules bool
}

// QualifiedName returns "schema.name".
func (r *Relation) QualifiedName() string { return r.Schema + "." + r.Name }

// Column is one live attribute of a relation.
type Column struct {
	// Num is pg_attribute.attnum (1-based), the AttNum of RowDescription
	// fields.
	Num int16
	// Name is the attribute name as stored.
	Name string
	// TypeOID is pg_attribute.atttypid.
	TypeOID uint32
}

// Function is one pg_proc entry.
type Function struct {
	OID    uint32
	Schema string
	Name   string
	// Language is the name of pg_proc.prolang ("internal", "c", "sql",
	// "plpgsql", ...).
	Language string
	// Kind is pg_proc.prokind: 'f' function, 'a' aggregate, 'w' window, 'p'
	// procedure.
	Kind byte
	// ReturnsSet is pg_proc.proretset.
	ReturnsSet bool
	// ReturnsRow reports a result type that may be composite: a composite
	// type, record (OUT parameters) or a polymorphic type that a composite
	// argument can make one (anyelement, anycompatible). In FROM, such a
	// result expands to its columns.
	ReturnsRow bool
	// Extension is the extension the function belongs to, "" if none.
	Extension string
}

// Builtin reports whether the function is a PostgreSQL builtin (it lives in
// pg_catalog).
func (f *Function) Builtin() bool { return f.Schema == "pg_catalog" }

// Operator is a user-defined operator (outside pg_catalog).
type Operator struct {
	Schema string
	Name   string
	// FuncSchema and FuncName name the function that implements it.
	FuncSchema string
	FuncName   string
}

// Type is a user-defined type whose casts may run user code.
type Type struct {
	OID    uint32
	Schema string
	Name   string
	// Kind is pg_type.typtype: 'd' domain, 'b' base, 'e' enum, 'c'
	// composite, 'r' range, 'm' multirange.
	Kind byte
	// Checks are the CHECK constraint expressions of a domain, as
	// pg_get_constraintdef prints them ("CHECK ((VALUE ~ '...'::text))").
	Checks []string
	// CastFuncs are the functions ("schema.name") of the casts that produce
	// this type.
	CastFuncs []string
	// Extension is the extension the type belongs to, "" if none.
	Extension string
}

// Querier is what LoadSchema needs from a connection: *pgx.Conn, *pgxpool.Pool
// and pgx.Tx all implement it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// The catalog queries of LoadSchema. They run as separate statements, so on
// a busy database the snapshot is not transactionally consistent; a relation
// that appears between two queries merely lacks columns until the next
// refresh, and unknown relations are treated as unknown (fail closed).
const (
	relationsSQL = `
SELECT c.oid, n.nspname, c.relname, c.relkind::text, c.relpersistence = 't',
       EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
               WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgenabled <> 'D'),
       c.relhasrules AND c.relkind IN ('r', 'p', 'f'),
       CASE WHEN c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            THEN pg_catalog.pg_get_viewdef(c.oid, true) END,
       COALESCE((SELECT array_agg(i.inhparent ORDER BY i.inhseqno)
                 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid), '{}')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND n.nspname <> 'pg_toast' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
ORDER BY c.oid`

	columnsSQL = `
SELECT a.attrelid, a.attnum, a.attname, a.atttypid
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND n.nspname <> 'pg_toast' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
ORDER BY a.attrelid, a.attnum`

	functionsSQL = `
SELECT p.oid, n.nspname, p.proname, l.lanname, p.prokind::text, p.proretset,
       (t.typtype = 'c' OR p.prorettype IN ('pg_catalog.record'::pg_catalog.regtype,
           'pg_catalog.anyelement'::pg_catalog.regtype, 'pg_catalog.anycompatible'::pg_catalog.regtype)),
       COALESCE((SELECT e.extname FROM pg_catalog.pg_depend d
                 JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                 WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
                   AND d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
                 LIMIT 1), '')
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
LEFT JOIN pg_catalog.pg_type t ON t.oid = p.prorettype
ORDER BY p.oid`

	operatorsSQL = `
SELECT n.nspname, o.oprname, pn.nspname, p.proname
FROM pg_catalog.pg_operator o
JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2`

	typesSQL = `
SELECT t.oid, n.nspname, t.typname, t.typtype::text,
       COALESCE((SELECT array_agg(pg_catalog.pg_get_constraintdef(c.oid) ORDER BY c.oid)
                 FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c'), '{}'),
       COALESCE((SELECT array_agg(pn.nspname || '.' || p.proname ORDER BY p.oid)
                 FROM pg_catalog.pg_cast k
                 JOIN pg_catalog.pg_proc p ON p.oid = k.castfunc
                 JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
                 WHERE k.casttarget = t.oid AND pn.nspname <> 'pg_catalog'), '{}'),
       COALESCE((SELECT e.extname FROM pg_catalog.pg_depend d
                 JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                 WHERE d.classid = 'pg_catalog.pg_type'::regclass AND d.objid = t.oid
                   AND d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
                 LIMIT 1), '')
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND t.typtype IN ('b', 'd', 'e', 'r', 'm')
  AND t.typelem = 0
ORDER BY 2, 3`

	searchPathSQL = `SELECT pg_catalog.current_schemas(true)::text[]`
)

// LoadSchema reads a Schema from the database behind q. The role it runs as
// needs no privileges beyond the default access to the system catalogs.
func LoadSchema(ctx context.Context, q Querier) (*Schema, error) {
	s := &Schema{}
	byOID := map[uint32]int{}

	rows, err := q.Query(ctx, relationsSQL)
	if err != nil {
		return nil, fmt.Errorf("load relations: %w", err)
	}
	for rows.Next() {
		var (
			r       Relation
			kind    string
			def     *string
			parents []uint32
		)
		if err := rows.Scan(&r.OID, &r.Schema, &r.Name, &kind, &r.Temp, &r.UserTriggers, &r.Rules, &def, &parents); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load relations: %w", err)
		}
		if kind != "" {
			r.Kind = kind[0]
		}
		if def != nil {
			r.Definition = *def
		}
		r.Parents = parents
		byOID[r.OID] = len(s.Relations)
		s.Relations = append(s.Relations, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load relations: %w", err)
	}

	rows, err = q.Query(ctx, columnsSQL)
	if err != nil {
		return nil, fmt.Errorf("load columns: %w", err)
	}
	for rows.Next() {
		var (
			rel uint32
			c   Column
		)
		if err := rows.Scan(&rel, &c.Num, &c.Name, &c.TypeOID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load columns: %w", err)
		}
		if i, ok := byOID[rel]; ok {
			s.Relations[i].Columns = append(s.Relations[i].Columns, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load columns: %w", err)
	}

	rows, err = q.Query(ctx, functionsSQL)
	if err != nil {
		return nil, fmt.Errorf("load functions: %w", err)
	}
	for rows.Next() {
		var (
			f    Function
			kind string
		)
		if err := rows.Scan(&f.OID, &f.Schema, &f.Name, &f.Language, &kind, &f.ReturnsSet, &f.ReturnsRow, &f.Extension); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load functions: %w", err)
		}
		if kind != "" {
			f.Kind = kind[0]
		}
		s.Functions = append(s.Functions, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load functions: %w", err)
	}

	rows, err = q.Query(ctx, operatorsSQL)
	if err != nil {
		return nil, fmt.Errorf("load operators: %w", err)
	}
	for rows.Next() {
		var o Operator
		if err := rows.Scan(&o.Schema, &o.Name, &o.FuncSchema, &o.FuncName); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load operators: %w", err)
		}
		s.Operators = append(s.Operators, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load operators: %w", err)
	}

	rows, err = q.Query(ctx, typesSQL)
	if err != nil {
		return nil, fmt.Errorf("load types: %w", err)
	}
	for rows.Next() {
		var (
			t    Type
			kind string
		)
		if err := rows.Scan(&t.OID, &t.Schema, &t.Name, &kind, &t.Checks, &t.CastFuncs, &t.Extension); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load types: %w", err)
		}
		if kind != "" {
			t.Kind = kind[0]
		}
		s.Types = append(s.Types, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load types: %w", err)
	}

	rows, err = q.Query(ctx, searchPathSQL)
	if err != nil {
		return nil, fmt.Errorf("load search_path: %w", err)
	}
	for rows.Next() {
		if err := rows.Scan(&s.SearchPath); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load search_path: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load search_path: %w", err)
	}
	sort.Slice(s.Relations, func(i, j int) bool { return s.Relations[i].OID < s.Relations[j].OID })
	return s, nil
}
