// Package subject carries out data-subject requests on the stored data, per
// pgveil's rules: access and portability (Export), erasure (Erase),
// rectification (Rectify) and restriction of processing (Restrict,
// Unrestrict). Each request is one audited action through the
// proxy.QueryTracer it is given, with the operator as the identity and the
// subject's id as the subject key (the tracer pseudonymises it); no request
// runs while the tracer is not Ready, and no event, error or log line
// carries a data value.
//
// # Whose rows
//
// A subject's rows are found in two ways (the scope):
//
//   - directly, in every classified table with a subject_key: the rows whose
//     subject key equals the id (public.messages WHERE customer_id = 42);
//   - through foreign keys, in every table (classified or not) that
//     references rows already in the scope, up to four hops, unless it has
//     a subject key of its own: public.invoice_lines rows whose invoice_id is
//     one of customer 42's invoices. Foreign keys are read from
//     pg_constraint.
//
// The id is given as text and cast to each subject key's type; its canonical
// text (`subject_key::text`, "42" for "042") is what requests record.
//
// # Export
//
// Export writes one JSON document (format "pgveil.subject-export/v1"):
// the subject, generated_at, the generator and its version, the database,
// whether processing is restricted, and per table: how its rows belong to the
// subject, its legal hold, every column with its type and classification
// (category, or null for a column the rules do not classify), and the rows as
// JSON objects with values in their natural JSON types (PostgreSQL's
// row_to_json: numbers, booleans, strings, nested JSON for json and jsonb,
// timestamps in UTC ISO 8601). It reads in one REPEATABLE READ, READ ONLY
// transaction, so the document is one consistent snapshot, and streams the
// rows to the writer.
//
// # Erase
//
// Erase runs in one transaction (with an advisory lock on the subject, so
// two requests for one subject queue), table by table, referencing tables
// before the tables they reference:
//
//   - rows of a table with a legal_hold are kept, with their personal
//     columns, and reported as kept with the hold's reason
//     ("public.invoices 3 rows: statutory tax records"); so are the rows of
//     tables reached only through held rows (invoice lines are part of the
//     invoice);
//   - every other row of the subject is deleted, unless some row still
//     references it after its referencing tables were processed (a held
//     invoice references the customer): then its classified columns are
//     erased instead (NULL where nullable, the redaction constant where NOT
//     NULL, "[redacted:<primary key>]" for a NOT NULL unique text column such
//     as an e-mail address) and the report says which tables keep it.
//     Deletes never trigger ON DELETE actions: a row is only deleted once
//     nothing references it.
//
// With dry run the same transaction runs and is rolled back: the report is
// exact. The report lists each action (deleted, redacted, kept) per table
// with its rows, the erased columns and the reason.
//
// # Rectify
//
// Rectify sets classified columns of the subject's rows in one table to new
// values (text, cast to the column's type). It refuses columns that do not
// exist or that the rules do not classify, key columns, and tables under
// legal hold (statutory records are corrected by new records, not edits).
// Its audit event names the columns, never the old or new values.
//
// # Restriction of processing
//
// Restrict and Unrestrict maintain the suppression list that the proxy reads
// to hide a restricted subject's rows from every identity the policy does not
// exempt:
//
//	CREATE TABLE pgveil.restricted_subjects (
//	    subject_id    text PRIMARY KEY,       -- canonical text of the subject key
//	    restricted_at timestamptz NOT NULL DEFAULT now(),
//	    operator      text,                  -- who restricted (pgveil's --operator)
//	    reason        text
//	);
//
// A row of a classified table belongs to a restricted subject when
// `subject_key::text` equals a subject_id. Restrict creates the schema and
// table when missing (idempotently, under an advisory lock; it then needs
// CREATE on the database) and grants SELECT on it to PUBLIC, because the
// proxy's row filter runs as the client's role. Restricting a restricted
// subject, or unrestricting one that is not, changes nothing and says so.
//
// # Concurrency
//
// A Processor is safe for concurrent use; each request uses the connection
// it is given for its duration.
package subject
