// Package rules is the data model of personal data in pgveil: the
// classification catalog (which table columns hold which category of personal
// data, whose subject they belong to, how long they are kept), the masking
// functions, and the compiled per-result Plan that rewrites DataRows on the
// proxy's hot path.
//
// The package is a leaf: the hot path (masks and Plan) uses the standard
// library only. It also holds the small shared contract types that the policy
// engine, the proxy and the audit trail exchange (Identity, Statement,
// Decision), so that none of those packages has to import another's
// implementation.
//
// # From rules file to masked row
//
//  1. The rules file is loaded once into an immutable Catalog (LoadCatalog,
//     ParseCatalog). Its Revision keys decision caches.
//  2. For each statement, the policy returns a Decision; Validate rejects a
//     malformed one. Decision.OutputMask turns the statement's lineage
//     (Output) into one Mask per result column: the column key wins over the
//     category key, a classified column that the decision forgets gets its
//     category's default mask (DefaultMask), and a value derived by an
//     expression never gets a format-preserving mask (Mask.Derived).
//     Decision.RevealsAll tells the proxy when an identity sees everything
//     unmasked, so its results can be forwarded without plans.
//  3. On RowDescription, the proxy fills one Column per field (type, format,
//     mask) and calls Compile once per result shape; every (type, format,
//     mask) combination is resolved then, and anything the package cannot
//     produce correctly compiles to NULL, never to pass-through. The zero Mask
//     is rejected.
//  4. Each DataRow body goes through Plan.AppendDataRow, which appends the
//     rewritten message to the proxy's output buffer; COPY TO STDOUT rows go
//     through CopyPlan.AppendRow.
//
// MASKS.md (next to this file) says what every mask produces for every type
// in both formats.
//
// # Guarantees
//
// Masks are deterministic, type-correct for the column's type in text and
// binary format, and never return a value unchanged unless the mask is pass
// (see MASKS.md for the precise rule). A row whose shape does not match the
// plan, or that does not parse, is an error: the caller must not forward it.
// Errors never contain data values.
//
// # Performance and buffers
//
// AppendDataRow and AppendRow do not allocate once dst has room (pinned by
// testing.AllocsPerRun tests for every mask and type). They do not retain
// their input, which may alias a reused read buffer, nor dst. On error they
// return dst truncated to its original length, never half a message.
//
// # Concurrency
//
// Catalog, Mask and the Decision helpers are safe for concurrent use (a
// Decision must not be modified while in use). A Plan or CopyPlan owns
// scratch state (the hash mask's HMAC, COPY field buffers, the COPY header
// flag) and must be used by one goroutine at a time: a session's
// server-to-client relay owns its plans.
package rules
