package audit

import "go.opentelemetry.io/otel/attribute"

// The pgveil.* span attributes. Together with the OTel database semantic
// conventions (db.*, server.*, client.*, error.type) they are the audit span
// contract that auditors query (README.md, "What a span contains"); renaming
// one is a breaking change.
//
// No attribute holds a value read from or written to a personal-data column.
// Subject keys appear only as keyed pseudonyms; query text only with its
// literals replaced.
const (
	// AttrEvent is "statement" or "session" (a refused session).
	AttrEvent attribute.Key = "pgveil.event"
	// AttrOutcome is proxy.Outcome*: ok, error, denied, canceled, audit_err.
	AttrOutcome attribute.Key = "pgveil.outcome"

	// AttrUser is the PostgreSQL user that authenticated.
	AttrUser attribute.Key = "pgveil.identity.user"
	// AttrApplication is the session's application_name.
	AttrApplication attribute.Key = "pgveil.identity.application"
	// AttrRoles are the roles the user is a member of (the user included).
	AttrRoles attribute.Key = "pgveil.identity.roles"
	// AttrTLS is true when the client connected over TLS.
	AttrTLS attribute.Key = "pgveil.identity.tls"
	// AttrTLSSubject is the verified client certificate's subject DN.
	AttrTLSSubject attribute.Key = "pgveil.identity.tls_subject"

	// AttrDecision is "allow" or "deny".
	AttrDecision attribute.Key = "pgveil.decision"
	// AttrReason is the policy's (or pgveil's) reason, without data values.
	AttrReason attribute.Key = "pgveil.decision.reason"
	// AttrPolicyRevision identifies the policy revision that decided.
	AttrPolicyRevision attribute.Key = "pgveil.policy.revision"

	// AttrKind is the statement kind (rules.Kind: select, update, copy_to...).
	AttrKind attribute.Key = "pgveil.statement.kind"
	// AttrFingerprint identifies the statement's shape (pg_query fingerprint).
	AttrFingerprint attribute.Key = "pgveil.statement.fingerprint"
	// AttrOpaque is true when pgveil could not prove what the statement
	// reads; AttrOpaqueReason says why.
	AttrOpaque       attribute.Key = "pgveil.statement.opaque"
	AttrOpaqueReason attribute.Key = "pgveil.statement.opaque_reason"
	// AttrProtocol is "simple" or "extended".
	AttrProtocol attribute.Key = "pgveil.protocol"
	// AttrCommandTag is the completion tag's command word ("SELECT").
	AttrCommandTag attribute.Key = "pgveil.command_tag"
	// AttrTables are every relation the statement references, views and
	// the base tables they expand to ("public.customers").
	AttrTables attribute.Key = "pgveil.tables"

	// AttrColumns are every classified column the statement touched
	// ("public.customers.email"), however it used them.
	AttrColumns attribute.Key = "pgveil.columns"
	// AttrRevealed are the columns returned to the client unmasked.
	AttrRevealed attribute.Key = "pgveil.columns.revealed"
	// AttrMasked are the columns returned masked, each with its mask
	// ("public.customers.email:hash").
	AttrMasked attribute.Key = "pgveil.columns.masked"
	// AttrFiltered are the columns used in predicates, joins, grouping or
	// ordering (what predicate inference could reveal).
	AttrFiltered attribute.Key = "pgveil.columns.filtered"
	// AttrWritten are the columns written (INSERT, UPDATE, MERGE, DELETE)
	// or copied server side (CREATE TABLE AS, COPY TO file...).
	AttrWritten attribute.Key = "pgveil.columns.written"
	// AttrCategories are the personal-data categories touched ("email").
	AttrCategories attribute.Key = "pgveil.categories"
	// AttrCategoriesRevealed are the categories returned unmasked.
	AttrCategoriesRevealed attribute.Key = "pgveil.categories.revealed"

	// AttrRowsAffected is the row count of a write's completion tag.
	AttrRowsAffected attribute.Key = "pgveil.rows.affected"

	// AttrSubjects are the pseudonyms (Pseudonymizer) of the distinct
	// subject-key values in the result, at most the configured cap.
	AttrSubjects attribute.Key = "pgveil.subjects"
	// AttrSubjectCount is how many distinct subjects there were in all
	// (exact up to the proxy's bound, then a lower bound).
	AttrSubjectCount attribute.Key = "pgveil.subjects.count"
	// AttrSubjectsTruncated is true when AttrSubjects lists fewer than
	// AttrSubjectCount.
	AttrSubjectsTruncated attribute.Key = "pgveil.subjects.truncated"
	// AttrSubjectTables are the tables whose subject keys were collected.
	AttrSubjectTables attribute.Key = "pgveil.subjects.tables"
	// AttrSubjectKeyID identifies the pseudonym key (Pseudonymizer.KeyID).
	AttrSubjectKeyID attribute.Key = "pgveil.subjects.key_id"
)

// Values of AttrEvent and AttrDecision.
const (
	EventStatement = "statement"
	EventSession   = "session"
	DecisionAllow  = "allow"
	DecisionDeny   = "deny"
)

// SessionSpanName is the name of the span of a refused session (an event
// without a statement).
const SessionSpanName = "pgveil session"
