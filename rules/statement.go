package rules

// This file holds the statement analysis contract: what the SQL analyzer
// (proxy/analyze) produces for one statement and what policies, the proxy's
// result plans and the audit trail consume. It is plain data so that every
// layer can use it without importing the parser.

// Kind names the sort of statement, in lower case. The values are part of the
// policy input contract (input.statement.kind).
type Kind string

// Statement kinds. Anything the analyzer does not model more precisely is
// KindUtility; anything it cannot parse is KindUnknown (and Opaque).
const (
	KindSelect        Kind = "select"
	KindInsert        Kind = "insert"
	KindUpdate        Kind = "update"
	KindDelete        Kind = "delete"
	KindMerge         Kind = "merge"
	KindCopyTo        Kind = "copy_to"   // COPY ... TO STDOUT / file / program
	KindCopyFrom      Kind = "copy_from" // COPY ... FROM STDIN / file / program
	KindCreateTableAs Kind = "create_table_as"
	KindCreateView    Kind = "create_view"
	KindDeclare       Kind = "declare_cursor"
	KindFetch         Kind = "fetch" // FETCH and MOVE
	KindClosePortal   Kind = "close_cursor"
	KindPrepare       Kind = "prepare"
	KindExecute       Kind = "execute"
	KindDeallocate    Kind = "deallocate"
	KindExplain       Kind = "explain"
	KindDo            Kind = "do"
	KindCall          Kind = "call"
	KindTransaction   Kind = "transaction" // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ...
	KindSet           Kind = "set"         // SET, RESET, SET ROLE, SET SESSION AUTHORIZATION
	KindShow          Kind = "show"
	KindListen        Kind = "listen" // LISTEN, UNLISTEN
	KindNotify        Kind = "notify"
	KindDDL           Kind = "ddl"
	KindUtility       Kind = "utility"
	KindEmpty         Kind = "empty"
	KindUnknown       Kind = "unknown"
)

// Use is a bit set of the ways a statement uses a column.
type Use uint16

// Column uses. The JSON names (see Use.Names) are part of the policy input
// contract (input.statement.columns[].uses).
const (
	UseOutput Use = 1 << iota // the value (or something derived from it) is returned to the client
	UseFilter                 // WHERE, HAVING, JOIN ... ON, QUALIFY-like predicates
	UseJoin                   // join condition or USING/NATURAL key
	UseGroup                  // GROUP BY, DISTINCT ON, window PARTITION BY
	UseOrder                  // ORDER BY, window ORDER BY
	UseWrite                  // target of INSERT/UPDATE/MERGE/DELETE
	UseCopy                   // copied server side: CREATE TABLE AS, SELECT INTO, INSERT ... SELECT, COPY TO file, CREATE VIEW
)

var useNames = [...]string{"output", "filter", "join", "group", "order", "write", "copy"}

// Names returns the uses as their contract names, in a fixed order.
func (u Use) Names() []string {
	var out []string
	for i, n := range useNames {
		if u&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// ColumnRef names one column of one relation by schema-qualified name.
// Table is "schema.table" (for example "public.customers"); Column is the
// attribute name as stored in the catalog (case preserved).
type ColumnRef struct {
	Table  string `json:"table"`
	Column string `json:"column"`
}

// String returns "schema.table.column".
func (c ColumnRef) String() string { return c.Table + "." + c.Column }

// Output is the lineage of one output column of a row-returning statement.
type Output struct {
	// Name is the column name the client will see.
	Name string `json:"name"`
	// Sources are the base-table columns the value derives from, after
	// expanding views, CTEs, subqueries, set operations, * and whole-row
	// references. Empty means the value derives from no column at all
	// (a constant, now(), a parameter).
	Sources []ColumnRef `json:"sources,omitempty"`
	// Direct is true when the value is exactly one source column's stored
	// value (possibly renamed, through views, CTEs, subqueries or UNION
	// branches that are all direct references to columns of the same
	// category). Only a Direct output may get a format-preserving mask such as
	// last4 or email; anything derived gets redact or null.
	Direct bool `json:"direct"`
	// Unknown is true when the analyzer could not establish the lineage of
	// this column (an unknown relation, an opaque function). A plan treats an
	// Unknown output of a masked identity as derived from personal data.
	Unknown bool `json:"unknown,omitempty"`
	// Probe is true when the value combines source data with something the
	// client chose: a constant, a parameter, an unclassified column
	// (email = 'guess', left(email, 1), a CASE or UNION ALL branch that is a
	// constant). A keyed pseudonym of it would answer the client's condition
	// row by row, or pseudonymise a value of the client's choosing for
	// comparison with real ones, so a plan never gives it a hash mask (nor
	// any output that is not Direct).
	Probe bool `json:"probe,omitempty"`
}

// ColumnUse is one column a statement touches and how.
type ColumnUse struct {
	ColumnRef
	Uses Use `json:"-"`
}

// Statement is the analysis of one SQL statement. The analyzer returns one per
// statement of a (possibly multi-statement) query string, in order.
type Statement struct {
	Kind Kind
	// Summary is the low-cardinality summary from the OTel database
	// conventions: the operation and the main relations, never literals
	// ("SELECT public.customers public.messages").
	Summary string
	// Normalized is the statement text with every literal replaced by a
	// placeholder ($1, $2, ...), safe to record in audit spans.
	Normalized string
	// Fingerprint identifies the statement's shape independently of literal
	// values and whitespace (pg_query fingerprint, hex).
	Fingerprint string
	// Tables are the schema-qualified relations the statement references, as
	// written (views stay views) plus the base tables they expand to, sorted,
	// without duplicates.
	Tables []string
	// Columns are the base-table columns the statement touches, with how.
	// Sorted by table, then column.
	Columns []ColumnUse
	// Outputs has one entry per column of the result the statement returns
	// (SELECT, RETURNING, SHOW, FETCH from a known cursor, EXECUTE of a known
	// prepared statement, COPY TO STDOUT). Nil when the statement returns no
	// rows or the analyzer cannot tell; see Returns.
	Outputs []Output
	// Returns is true when the statement can return rows to the client.
	Returns bool
	// Opaque is true when the analyzer cannot prove what data the statement
	// reads or returns: unparseable SQL, DO blocks, calls to functions that
	// read tables internally, dynamic SQL, dblink, foreign tables.
	Opaque bool
	// OpaqueReason says why, without any literal value from the statement.
	OpaqueReason string
	// ServerCopy is true when the statement copies data into storage or
	// files on the server (CREATE TABLE AS, SELECT INTO, INSERT ... SELECT,
	// COPY ... TO 'file', CREATE [MATERIALIZED] VIEW, ...).
	ServerCopy bool
	// Cursor is the cursor name for DECLARE, FETCH, MOVE and CLOSE.
	Cursor string
	// Prepared is the prepared statement name for PREPARE, EXECUTE and
	// DEALLOCATE ("" with Kind KindDeallocate means DEALLOCATE ALL).
	Prepared string
	// Inner is the analysis of the statement inside PREPARE, DECLARE,
	// EXPLAIN ANALYZE, CREATE TABLE AS and COPY (query) TO, when there is one.
	Inner *Statement
	// CopyFormat is "text", "csv" or "binary" for COPY statements.
	CopyFormat string
	// CopyOptions are the options of a COPY statement that shape its rows
	// (nil when the statement sets none of them).
	CopyOptions *CopyOptions
	// CatalogData is true when the statement reads catalog relations that
	// hold data values (pg_stats, pg_statistic, pg_stat_activity,
	// pg_stat_statements, ...).
	CatalogData bool
	// Params is the highest $n parameter number the statement uses.
	Params int
	// ChangesEncoding is true when the statement may change the session's
	// client_encoding, which decides how Postgres reads the bytes of the
	// statements after it: SET or RESET of client_encoding (SET NAMES),
	// RESET ALL, DISCARD ALL, set_config('client_encoding', ...) or with a
	// name that is not a constant, and COMMIT, ROLLBACK, ROLLBACK TO and
	// PREPARE TRANSACTION (which revert SET inside the transaction).
	ChangesEncoding bool
}

// CopyOptions are the row-shaping options of a COPY statement, as written.
// Empty strings mean the option was not given.
type CopyOptions struct {
	Delimiter string
	// Null is nil when NULL was not given (the format's default applies).
	Null   *string
	Quote  string
	Escape string
	Header bool
}
