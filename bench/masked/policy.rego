# The benchmark's identity (bench) sees three of bench_wide's ten columns
# masked: name redacted, email partially, phone as its last 4 digits.
package pgveil

decision := {
	"allow": true,
	"reason": "benchmark",
	"masks": {"name": "redact", "email": "email", "phone": "last4"},
}
