// Package analyze turns SQL text into statement analyses (rules.Statement):
// the kind of each statement, the relations it touches, and for every value
// it returns, stores or filters on, the base-table columns that value derives
// from (lineage). It uses the real PostgreSQL parser (pg_query_go) and a
// snapshot of the database schema; it never talks to the database on the
// statement path except for a rate-limited schema refresh.
//
// # Model
//
// A Schema is plain catalog data (LoadSchema reads it over pgx). NewSnapshot
// combines it with a Classifier ((*rules.Catalog).Category) into an
// immutable Snapshot, which
//
//   - resolves relation names (an unqualified name denotes every relation of
//     that name in any schema: the session may have changed search_path, so
//     the analyzer takes the union of their lineage, and a column is Direct
//     only if every candidate agrees on its category);
//   - precomputes the lineage of every column: a table column is itself; a
//     partition or inheritance child column is its root ancestor's column of
//     the same name (where the classification lives), plus any classified
//     descendant column (a parent's rows include its children's); a view or
//     materialized view column is the lineage of its definition's output,
//     expanded recursively (definitions are parsed from pg_get_viewdef, their
//     unqualified names resolved through the loader's search path, cycles
//     and unparseable definitions make the view Unknown);
//   - answers Field(tableOID, attnum) for RowDescription fields.
//
// A Store keeps the current Snapshot (an atomic pointer) fresh: Refresh,
// a periodic Run loop owned by the caller, and rate-limited on-demand
// refreshes (RefreshIfUnknown for a RowDescription that names an unknown
// table OID, RefreshIfStale when a statement names an unknown relation).
// Snapshots are content-addressed: a refresh that finds nothing changed keeps
// the revision, so caches keyed by it stay warm.
//
// An Analyzer parses and analyzes statements and caches the result by
// (snapshot revision, query text) in a bounded LRU, and by (snapshot
// revision, shape) for texts that differ only in the values of literals the
// analysis does not read (shape.go). Returned statements are shared and
// immutable.
//
// Lineage is reported for every base-table column, classified or not;
// Snapshot.PolicyColumns filters a statement's columns to the classified ones
// with their categories, which is what the policy input lists.
//
// # Fail closed
//
// The rule the whole package follows: when the analyzer cannot prove where a
// value comes from, the value derives from everything that could have
// produced it, and is marked Unknown. Concretely:
//
//   - an expression node the analyzer does not model, in a value position,
//     derives from every column in scope and is Unknown (and the statement
//     is Opaque); structural nodes (CASE, COALESCE, ROW, ARRAY, JSON and XML
//     constructors, ...) derive from all their children; nothing derives
//     from nothing unless it is a constant, a parameter or a session value;
//   - every function, operator, cast, aggregate and window function derives
//     from all its arguments (count(email) derives from email; the ORDER BY
//     of WITHIN GROUP aggregates counts as an argument) and is not Direct;
//     only a plain column reference, possibly renamed through subqueries,
//     CTEs, views and set operations whose branches agree on the category, is
//     Direct;
//   - whole-row references (c, c.*, row_to_json(c), c::text, ROW(c.*)) derive
//     from every column of the row;
//   - a user-defined function (any language, any schema outside pg_catalog,
//     unless trusted), a builtin that reads relations, files, large objects,
//     the WAL or other sessions, or runs SQL given as text (query_to_xml,
//     table_to_xml, cursor_to_xml, dblink, pg_read_file, lo_*, ts_stat,
//     pg_stat_get_activity, ...), a user-defined operator, a cast to a type
//     whose domain checks or cast functions run user code, a foreign table,
//     DO blocks, CALL, LOAD, COPY from or to a program, COPY from a server
//     file, writes to tables with triggers or rewrite rules: the statement is
//     Opaque and the affected values are Unknown;
//   - catalog relations that hold data values (pg_stats, pg_stats_ext,
//     pg_stats_ext_exprs, pg_statistic, pg_statistic_ext_data,
//     pg_stat_activity, pg_stat_ssl, pg_stat_gssapi, pg_largeobject,
//     pg_stat_statements) set CatalogData and every column of them is
//     Unknown; own-session views (pg_prepared_statements, pg_cursors) are
//     ordinary unclassified relations;
//   - an unknown relation name (not in the snapshot, not a CTE) is listed in
//     Tables; its columns are Unknown, and when a * expands it the number of
//     result columns is unknown, so Outputs is nil (with Returns true);
//   - temporary tables are Unknown: the session may have copied anything
//     into them (CREATE TEMP TABLE AS is reported as a ServerCopy);
//   - a server-side copy of Unknown values (INSERT ... SELECT from a
//     temporary table, say) is Opaque: UseCopy cannot name what is copied;
//   - when the rules name a column a table no longer has (a rename?), the
//     snapshot reports it (Unresolved) and every unclassified column of that
//     table is Unknown until the rules are fixed;
//   - text that Postgres may lex differently (a plain '...' literal with
//     \', which ends elsewhere when standard_conforming_strings is off; a
//     backslash in a COPY statement's options) makes its statements Opaque,
//     whatever the session's setting (see backslashLiterals); statements that
//     may change client_encoding are marked ChangesEncoding for the proxy,
//     which knows the session's encoding;
//   - unparseable SQL is one Statement of KindUnknown, Opaque, Returns; a
//     panic inside the analysis (a bug) makes that statement Opaque too.
//
// Consumers must treat Outputs as authoritative only when its length equals
// the number of RowDescription fields; otherwise every field is Unknown. For
// a field with a table OID, union the snapshot's Field lineage with the
// Output's (RETURNING fields carry the target table's OID but may hold values
// copied from elsewhere).
//
// # Uses
//
// Columns lists every base column with how it is used: output (returned to
// the client, including COPY TO STDOUT and FETCH of a declared cursor),
// filter (WHERE, HAVING, aggregate FILTER, LIMIT and OFFSET, and whatever
// sets how many rows come back: the arguments of set-returning functions,
// except an ARRAY[...] given to unnest, XMLTABLE and JSON_TABLE documents,
// TABLESAMPLE arguments, join conditions other than an equality), join
// (equalities in ON, USING, NATURAL), group (GROUP BY, DISTINCT and
// DISTINCT ON, PARTITION BY, the columns of UNION, INTERSECT and EXCEPT
// except UNION ALL; a key of these or of a join that mixes classified data
// with a constant, a parameter or an unclassified column is a filter use
// as well, see lineage.probe), order (ORDER BY, window and
// aggregate ORDER BY), write (target of INSERT, UPDATE, DELETE, MERGE,
// TRUNCATE, COPY FROM; DELETE and TRUNCATE write every column), copy (the
// value is stored server side: CREATE TABLE AS, SELECT INTO, INSERT ...
// SELECT, UPDATE ... SET from other columns, COPY TO a file, CREATE VIEW,
// REFRESH MATERIALIZED VIEW, set_config, and the builtins that keep their
// arguments where a later statement reads them: setval, nextval of a
// computed sequence name, setseed, advisory lock keys, pg_notify). The
// filters inside a view's definition are not reported as the reader's uses.
//
// # Statements
//
// PREPARE, DECLARE CURSOR, EXPLAIN, CREATE TABLE AS, CREATE [MATERIALIZED]
// VIEW and COPY (query) carry the embedded statement's analysis in Inner,
// and fold its tables, columns, opacity and copies into the outer statement.
// EXECUTE and FETCH report only the name (Prepared, Cursor): the proxy keeps
// the per-session map to the prepared statement or cursor. EXECUTE with an
// argument computed from table data is Opaque (the prepared statement could
// echo it back without lineage). Plain EXPLAIN returns plan text, which holds
// the query's own literals, names and estimates but no stored values: its one
// output derives from nothing, it inherits opacity (planning may run
// immutable user functions) and drops the inner output uses. EXPLAIN ANALYZE
// executes the statement and inherits everything.
//
// Normalized replaces every literal token (strings, numbers, bit strings,
// dollar-quoted bodies) with $n, drops comments and collapses whitespace; it
// works from the scanner, so utility statements (PREPARE, COPY 'file', DDL)
// are covered too. OpaqueReason names functions and relations, never values.
//
// # Limits
//
// The analyzer does not see: row-level security policy expressions, column
// defaults and CHECK constraints of written tables (they are DDL controlled
// by table owners; domain checks and triggers are handled, and statements
// that create triggers, rules or policies are Opaque), which function
// overload PostgreSQL picks (a user-defined function with a builtin's name
// makes every call of that name Opaque), data-modifying CTE forward
// references in WITH RECURSIVE, and the search_path of a session (hence the
// union above). After DDL in a session (CREATE TABLE, CREATE TEMP TABLE,
// ALTER ... RENAME), the proxy should refresh the snapshot before trusting
// field OIDs; statements that name relations the snapshot lacks trigger a
// rate-limited refresh through Analyzer.Analyze.
//
// # Concurrency
//
// Snapshot, Analyzer and Store are safe for concurrent use. Store.Run is the
// only blocking loop; it runs in the caller's goroutine and returns when its
// context is done. The package starts no goroutines.
package analyze
