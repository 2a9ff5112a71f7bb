package rules

// Decision is the policy's verdict for one (identity, statement) pair, or for
// one session when the statement is nil. It is the policy output contract
// (data.pgveil.decision) after validation.
type Decision struct {
	// Allow is false when the statement (or session) must be refused.
	Allow bool
	// Reason says why, in words the user can act on. It never contains data
	// values.
	Reason string
	// Reveal lists categories ("email") or fully-qualified columns
	// ("public.customers.email") the identity may see unmasked.
	Reveal []string
	// Masks maps categories or fully-qualified columns to mask names. A
	// column key wins over its category. A classified column that is neither
	// revealed nor masked gets its category's default mask.
	Masks map[string]string
	// RowFilters maps "schema.table" to a SQL predicate over that table's
	// columns that restricts the rows the identity may see.
	RowFilters map[string]string
	// Unrestricted exempts the identity from restriction of processing: it
	// sees the rows of subjects on the restriction list (the DPO). Everyone
	// else has them filtered out.
	Unrestricted bool
	// Revision identifies the policy revision that produced the decision.
	Revision string
}
