package proxy

import "context"

// QueryTracer receives audit events. audit.Tracer implements it.
type QueryTracer interface {
	// TraceStatement is called once per completed statement that touched
	// personal data, and once per refused session.
	TraceStatement(ctx context.Context, ev *StatementEvent)
}

// StatementEvent describes one statement for the audit trail.
type StatementEvent struct{}
