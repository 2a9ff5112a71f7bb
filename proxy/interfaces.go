package proxy

import (
	"context"
	"time"

	"github.com/pgveil/pgveil/proxy/analyze"
	"github.com/pgveil/pgveil/rules"
)

// Decider decides what an identity may do. The policy engine implements it;
// the proxy consumes it through this interface so that it never imports the
// policy engine's dependencies.
type Decider interface {
	// Decide returns the decision for one statement. An error denies.
	Decide(ctx context.Context, id *rules.Identity, st *rules.Statement) (rules.Decision, error)
}

// SessionDecider is implemented by deciders that can refuse whole sessions
// (by client network, identity or time). The proxy asks it once, right
// after authentication. An error refuses the session.
type SessionDecider interface {
	DecideSession(ctx context.Context, id *rules.Identity) (rules.Decision, error)
}

// Analyzer turns SQL text into statement analyses (proxy/analyze implements
// it). The returned statements are shared and must not be modified.
type Analyzer interface {
	Analyze(ctx context.Context, sql string) ([]*rules.Statement, error)
}

// SchemaSource supplies schema snapshots (analyze.Store implements it).
type SchemaSource interface {
	Current() *analyze.Snapshot
	// RefreshIfUnknown refreshes when the snapshot does not know a relation
	// OID that a RowDescription named (rate-limited by the implementation).
	RefreshIfUnknown(ctx context.Context, oid uint32) (*analyze.Snapshot, error)
	// FreshAsOf is when the load behind the current snapshot started.
	FreshAsOf() time.Time
	// RefreshAfter refreshes unless the snapshot is fresh as of a time
	// after t.
	RefreshAfter(ctx context.Context, t time.Time) (*analyze.Snapshot, error)
}

// RoleLookup returns the roles a user is a member of, directly or not.
type RoleLookup interface {
	Roles(ctx context.Context, user string) ([]string, error)
}
