// Package retention applies the retention clauses of pgveil's rules to the
// data stored in the database: once a row is older than a clause's age
// (measured from the table's timestamp column), the clause's columns are
// rewritten with its masks, the same masks the proxy applies to result rows.
//
//	public.messages:
//	  timestamp: created_at
//	  retention:
//	    - after: 180d
//	      redact: {to_phone: last4, body: erase}
//
// With that clause, Run turns the to_phone of every message created more than
// 180 days before Config.Now into its last4 form (***********4567, exactly what
// the proxy's last4 mask shows) and erases its body.
//
// # What a run guarantees
//
//   - Bounded batches, no long locks. A table is worked through in primary
//     key order, Config.BatchSize rows per transaction. Each transaction
//     claims its rows with SELECT ... FOR NO KEY UPDATE SKIP LOCKED (the
//     lock an UPDATE of non-key columns takes anyway) and rewrites
//     them in the same statement, so it holds row locks on at most one batch
//     for as long as one UPDATE takes, never waits for a row another
//     transaction holds, and takes no table lock stronger than ROW EXCLUSIVE
//     (lock_timeout bounds the wait for that one).
//   - Idempotent: a batch selects only rows whose values still differ from
//     their masked form (col IS DISTINCT FROM <masked col>), and every mask
//     maps its own output to itself, so a second run finds nothing and
//     changes nothing.
//   - Resumable without bookkeeping: because progress is the data itself,
//     a run that is killed (or whose context is canceled) loses at most the
//     batch in flight, which rolls back; the next run selects exactly the
//     rows still to do. There is no watermark table, so there is nothing
//     to get out of step with the data: rows inserted later with old
//     timestamps, restored backups and values written back by the
//     application are all found by the next run.
//   - Safe with several instances at once: SKIP LOCKED makes concurrent
//     runs (sidecars on a cron each) share a table's rows instead of
//     queueing behind one another or deadlocking: each batch claims rows no
//     other transaction holds, and a row that another run rewrote and
//     committed no longer matches the predicate when it is re-checked under
//     the row lock (READ COMMITTED re-evaluation), so no row is rewritten
//     twice and the per-run counts add up to the total. No advisory lock is
//     needed; a row that was locked by a transaction that then rolled back
//     is picked up by the next run.
//   - Auditable: one audit span per batch (kind update, summary "RETENTION
//     public.messages", the columns and masks, the rows rewritten, the
//     subject keys of those rows) through the proxy.QueryTracer it is given,
//     and the job refuses to start a batch when the tracer is not Ready.
//   - Counts per table and column: rows rewritten and values changed per
//     column; with Config.DryRun the same counts without writing.
//
// # How values are rewritten
//
// Where SQL can compute a mask exactly (null, erase, partial/last4 on text
// and varchar, ip_prefix on inet and cidr, year on date and timestamps), the
// rewrite is one UPDATE over the batch: values never leave the database.
// The last4 expression is
//
//	CASE WHEN char_length(v) <= 4 THEN repeat('*', greatest(char_length(v), 1))
//	     ELSE repeat('*', char_length(v) - 4) || right(v, 4) END
//
// which is what the proxy's last4 does (one star per character but the last
// four, counted in characters); the tests check the two agree on every phone
// number of the demo dataset and on edge cases. It keeps the last four
// characters, so a number written with a separator near its end
// ("+49 30 1234-56") keeps three digits and the dash, as on the wire. The
// equivalence assumes a UTF-8 database (char_length counts characters as Go
// counts runes).
//
// The other masks (email, scrub, masks of dates or addresses held in text,
// char(n) columns) are applied in Go with rules.ValueMask: the batch reads
// the claimed rows, masks them and writes back the values that changed, in
// the same transaction. Such a table has no SQL predicate for "already
// masked", so each run reads all of its old rows (and writes none twice);
// prefer SQL-computable masks for large tables. The hash mask is refused
// for stored data: a pseudonym of a pseudonym is a different pseudonym, so
// it could not be idempotent.
//
// Erase (a synonym of redact) removes a value: NULL where the column is
// nullable, the type's redaction constant ("[redacted]" for text, as the
// proxy's redact shows it) where it is NOT NULL. A NOT NULL column also gets
// the constant where a mask yields NULL (the null mask, an unparseable
// value).
//
// When a table has several clauses, each column gets the mask of the oldest
// clause that applies to the row, so a row does not flip between masks from
// run to run.
//
// # Requirements
//
// Every table with retention needs a primary key (batches are keyed by it)
// and a timestamp column of type date, timestamp or timestamptz (timestamp
// without time zone and dates are read as UTC). Rows whose timestamp is NULL
// are never old. The connecting role needs SELECT and UPDATE on the tables.
//
// # Concurrency
//
// Run uses its connection for the whole run; give each concurrent run its own.
package retention
