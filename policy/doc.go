// Package policy is pgveil's policy engine: it evaluates the security
// team's Rego policy (Open Policy Agent) for every statement and every new
// session, and returns a rules.Decision: allow or refuse, with a reason, and
// which personal-data columns are revealed or masked how. It is the only
// package of pgveil that imports OPA.
//
// This page is the contract for policy authors and security reviewers. The
// example policy for the demo dataset is in policy/examples (pgveil.rego,
// with its unit tests in pgveil_test.rego); `pgveil explain` shows the input
// and the decision for one statement, and `pgveil check` compiles the policy
// and runs its unit tests.
//
// # Writing a policy
//
// A policy is a set of Rego v1 modules (OPA 1.0 syntax: `if`, `contains`,
// `in`) in package pgveil, read from files and directories (Config.Paths,
// recursively; .json and .yaml files there are data documents, placed under
// data by directory the way `opa run` places them) and/or from an OPA bundle
// served over HTTP (Config.Bundle). It must define the rule
//
//	data.pgveil.decision   evaluated for every statement
//
// and may define
//
//	data.pgveil.session    evaluated once per connection, after Postgres
//	                       authenticated the user and before any statement
//
// Test rules (test_*, as `opa test` runs them) may live in any package next
// to the policy. Built-in functions that do I/O or are random (http.send,
// net.lookup_ip_addr, rand.intn, uuid.rfc4122, opa.runtime) are not
// available: a decision must be a pure function of its input and the
// policy's data, which is what makes caching it correct. Data a policy needs
// from elsewhere belongs in the bundle. Built-in errors are raised, not
// ignored: a failing built-in (a malformed CIDR, an invalid regex) makes the
// evaluation fail, which refuses the statement, instead of silently making a
// refusal rule not fire.
//
// # Input
//
// input.identity, input.now and input.catalog are present for statements
// and sessions; input.statement only for statements (a session rule can
// tell them apart by `not input.statement`, but it does not need to: the two
// rules are evaluated separately).
//
//	{
//	  "identity": {                       // who is connected (rules.Identity), fixed for the session
//	    "user": "analyst",                // the user Postgres authenticated
//	    "database": "app",
//	    "application_name": "metabase",   // "" when the client sent none
//	    "client_addr": "10.1.2.3",        // IP, no port
//	    "tls": {"enabled": true, "subject": "CN=..."},  // subject only with a client certificate
//	    "roles": ["analyst", "analytics"] // memberships from pg_auth_members, recursive, sorted,
//	  },                                  // the user's own name included; SET ROLE never changes them
//	  "statement": {                      // the SQL analysis (rules.Statement), no literal values
//	    "kind": "select",                 // rules.Kind: select insert update delete merge copy_to copy_from
//	                                      // create_table_as create_view declare_cursor fetch close_cursor prepare
//	                                      // execute deallocate explain do call transaction set show listen notify
//	                                      // ddl utility empty unknown
//	    "summary": "SELECT public.customers",
//	    "tables": ["public.customers"],   // relations as written plus the base tables views expand to
//	    "columns": [                      // the CLASSIFIED base columns it touches, how, sorted
//	      {"table": "public.customers", "column": "email", "category": "email",
//	       "uses": ["output", "filter"]}  // output filter join group order write copy
//	    ],
//	    "outputs": [                      // one per result column, in order ([] if none or unknown)
//	      {"name": "email", "sources": ["public.customers.email"],   // classified sources only
//	       "categories": ["email"], "direct": true, "unknown": false}
//	    ],                                // direct: the stored value itself; unknown: lineage not established
//	    "returns": true,                  // it can return rows
//	    "opaque": false,                  // pgveil cannot prove what it reads (DO, user functions, dblink, ...)
//	    "opaque_reason": "",              // why, naming functions or relations, never values
//	    "server_copy": false,             // it copies data into server-side storage or files
//	    "catalog_data": false,            // it reads pg_stats, pg_stat_activity and the like
//	    "copy_format": ""                 // text, csv or binary for COPY
//	  },
//	  "now": "2026-11-23T10:00:00Z",      // RFC 3339, UTC, truncated to the minute (see Caching)
//	  "catalog": {                        // the classification in force (the rules file)
//	    "revision": "9f86d081884c7d65",
//	    "categories": ["email", "name"],  // every category it uses, sorted; lets a policy reveal "all"
//	    "unclassified": "allow"           // or "mask": unnamed columns are category "unclassified"
//	  }
//	}
//
// # Output
//
// data.pgveil.decision must be an object with exactly these keys (any other
// key is an error, so that a typo such as "mask" cannot silently drop
// masks):
//
//	{
//	  "allow": true,                      // required, boolean
//	  "reason": "analysts get pseudonyms",// optional; shown to the user on refusal; at most 512 bytes kept
//	  "reveal": ["country"],              // optional array or set: categories or schema.table.column
//	  "masks": {"email": "hash",          // optional: category or schema.table.column -> mask name
//	            "public.customers.phone": "last4"},
//	  "row_filters": {"public.customers": "marketing_opt_in"}, // optional: schema.table -> SQL predicate
//	  "unrestricted": false               // optional, boolean: sees subjects on the restriction list (the DPO)
//	}
//
// Mask names: pass, null, redact, partial, partial:N, last4, email, hash,
// year, ip_prefix, scrub (rules/MASKS.md says what each does per type). For
// each classified column the first that applies wins: its column key in
// masks, its column key in reveal, its category in masks, its category in
// reveal, else the category's default mask (rules.DefaultMask). A key in both
// masks and reveal is masked. So forgetting a category costs utility, never
// privacy. A value derived from personal data by an expression never gets a
// format-preserving mask (rules.Decision.OutputMask).
//
// Row filters are only honoured when the consumer enforces them
// (Config.RowFilters; pgveil serve does): the proxy rewrites every reference
// to a filtered table into (SELECT * FROM table WHERE predicate) before the
// statement reaches Postgres. A consumer that does not enforce them turns a
// decision that allows a statement reading a filtered table into a refusal.
//
// Restriction of processing (pgveil subject restrict) is enforced the same
// way, on every table with a subject key, for every decision whose
// "unrestricted" is not true.
//
// data.pgveil.session must be an object with "allow" (required) and
// "reason" (optional) only. A policy without a session rule accepts every
// session Postgres authenticated; a policy with one is held to the
// fail-closed rules below, and the proxy refuses a session it rejects with
// SQLSTATE 28000 and the reason.
//
// # Fail closed
//
// pgveil refuses the statement (or session), with a generic reason for the
// client and the detail in the returned error for the log, whenever the
// policy does not produce a valid decision:
//
//   - evaluation fails (conflicting rule values, a built-in error, ...),
//   - it takes longer than Config.Timeout (default 100ms),
//   - the rule is undefined for the input (write a default rule),
//   - the output is malformed: not an object, unknown keys, wrong types,
//     unknown mask names, keys that are neither categories nor
//     schema.table.column (rules.Decision.Validate),
//   - it sets row filters that are not enforced (see above).
//
// Such refusals are counted (Stats) and never cached. Every decision,
// allowed or not, carries the revision of the policy that produced it.
// Independently of the policy, the proxy refuses for identities whose data
// is masked the statements it cannot make safe (opaque statements, catalog
// views with data values, server-side copies of masked columns, binary COPY
// of masked columns); the example policy refuses the first three itself, so
// that `pgveil explain` shows the reason.
//
// # Revisions and reloads
//
// The policy in force is one compiled revision (rego.PreparedEvalQuery,
// compiled once) behind an atomic pointer. Its revision is a hash of every
// module and data document (16 hex digits), prefixed by the bundle's
// manifest revision and "@" when a bundle with a revision is loaded
// ("v42@9f86d081884c7d65"). Run checks the files every Config.PollInterval
// (default 500ms; a stat of each file, contents read only on change, so an
// edit takes effect within about a second) and polls the bundle every
// Bundle.Poll (default 30s) with If-None-Match. A change is compiled in the
// background and swapped in atomically: statements being decided finish with
// the revision they started with, new statements get the new one, and no
// session is dropped. A change that does not compile (or a bundle that
// cannot be downloaded) leaves the previous revision in force, is logged
// once at ERROR with file:line, counted (Stats.ReloadErrors) and kept for
// LastError until the files are fixed. NewEngine fails if the initial policy
// cannot be loaded: pgveil never runs without a policy.
//
// Bundles are read with OPA's bundle package (a gzipped tarball of .rego
// and data.json files with an optional .manifest). Bundle signatures are
// not verified yet: serve bundles over HTTPS from a server you trust, with
// Bundle.Headers for its credentials.
//
// # Caching
//
// Decisions are kept in an LRU (golang-lru/v2, Config.CacheSize entries,
// default 10,000) under the exact encoding of everything the input is built
// from: the policy revision, the catalog revision, the current minute, the
// whole identity and the whole statement analysis (indexed by a keyed
// 64-bit hash; a hit compares the full encoding, so a collision is a miss,
// never another statement's decision). pg_query's fingerprint of the text
// is not enough on its own: the analysis of the same text changes with the
// schema. Since policies cannot do I/O and input.now has minute precision
// (time.now_ns returns the same instant), a cached decision is exactly what
// a fresh evaluation would return; a time-based rule takes effect within
// the minute. A cache hit costs a few hundred nanoseconds and allocates
// nothing; a miss evaluates the policy (about 100-200µs for the example
// policy).
//
// # Roles
//
// RoleLookup implements the proxy's role lookup: recursive memberships from
// pg_auth_members over the control connection, cached per user, with a
// documented behaviour when the database cannot be asked (see RoleLookup).
//
// # Concurrency
//
// Engine and RoleLookup are safe for concurrent use. NewEngine starts no
// goroutine; Run is the only blocking loop, in the caller's goroutine, and
// it waits for the bundle poller it starts before returning.
package policy
