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
package rules
