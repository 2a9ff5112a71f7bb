package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Querier is what RoleLookup needs from a database connection:
// *pgxpool.Pool, *pgx.Conn and pgx.Tx implement it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// RoleLookupConfig configures a RoleLookup. Zero values are defaults.
type RoleLookupConfig struct {
	// DB runs the membership query. If nil, NewRoleLookup opens a small pool
	// (at most 2 connections) on DSN, which Close closes.
	DB Querier
	// DSN is the control connection string (control_dsn), used when DB is
	// nil. The role needs no privileges: pg_auth_members and pg_roles are
	// readable by every role.
	DSN string
	// TTL is how long a user's memberships are reused before they are read
	// again. If zero, 1 minute.
	TTL time.Duration
	// MaxStale is how long memberships that could not be refreshed (the
	// database is unreachable) are still served, with a WARN log, after their
	// TTL ran out. If zero, 10 minutes. Past it, Roles fails.
	MaxStale time.Duration
	// Timeout bounds one membership query. If zero, 2 seconds.
	Timeout time.Duration
	// CacheSize is the number of users whose memberships are kept (LRU). If
	// zero, 10,000.
	CacheSize int
	// Logger receives refresh failures. If nil, they are discarded.
	Logger *slog.Logger
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// ErrRolesUnavailable is wrapped by Roles when a user's memberships cannot
// be read and no recent enough copy is cached.
var ErrRolesUnavailable = errors.New("role memberships unavailable")

// RoleLookup reads the roles a user is a member of, directly or through
// other roles, from pg_auth_members (proxy.RoleLookup). Results are cached
// per user for TTL; concurrent lookups of the same user share one query.
// It is safe for concurrent use.
//
// What happens when the database cannot be asked: memberships read less
// than TTL+MaxStale ago are returned (with a WARN log and no error); with
// nothing that recent, Roles returns the user's own name alone together
// with an error wrapping ErrRolesUnavailable. Policies commonly use roles
// to grant, but they may also use them to restrict (a "contractors" group
// that sees less), so a proxy must not treat the partial answer as the
// truth: it should refuse the session (proxy.SessionDecider's SQLSTATE
// 28000 path) rather than start it with fewer roles than the user has.
type RoleLookup struct {
	cfg   RoleLookupConfig
	pool  *pgxpool.Pool // opened by NewRoleLookup; nil when cfg.DB was given
	cache *lru.Cache[string, roleEntry]

	mu       sync.Mutex
	inflight map[string]*roleCall

	queries, failures, stale atomic.Uint64
}

type roleEntry struct {
	roles []string
	at    time.Time
}

type roleCall struct {
	done  chan struct{}
	roles []string
	err   error
}

// membershipQuery returns the user's own role and every role it is a
// member of, recursively (memberships granted with or without INHERIT: a
// member can SET ROLE to them either way), sorted.
const membershipQuery = `
WITH RECURSIVE m(oid) AS (
	SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1
	UNION
	SELECT a.roleid FROM pg_catalog.pg_auth_members a JOIN m ON a.member = m.oid
)
SELECT r.rolname::text FROM m JOIN pg_catalog.pg_roles r ON r.oid = m.oid ORDER BY 1`

// NewRoleLookup returns a RoleLookup. With cfg.DB nil it opens a pool on
// cfg.DSN (connecting lazily: an unreachable database shows up in Roles,
// not here).
func NewRoleLookup(cfg RoleLookupConfig) (*RoleLookup, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = time.Minute
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = 10 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &RoleLookup{cfg: cfg, inflight: map[string]*roleCall{}}
	var err error
	if r.cache, err = lru.New[string, roleEntry](cfg.CacheSize); err != nil {
		return nil, fmt.Errorf("role lookup: %w", err)
	}
	if cfg.DB == nil {
		if cfg.DSN == "" {
			return nil, errors.New("role lookup: neither a database nor a DSN")
		}
		pc, err := pgxpool.ParseConfig(cfg.DSN)
		if err != nil {
			return nil, fmt.Errorf("role lookup: control DSN: %w", err)
		}
		pc.MaxConns = 2
		pc.MinConns = 0
		if r.pool, err = pgxpool.NewWithConfig(context.Background(), pc); err != nil {
			return nil, fmt.Errorf("role lookup: %w", err)
		}
		r.cfg.DB = r.pool
	}
	return r, nil
}

// Close closes the pool NewRoleLookup opened, if any.
func (r *RoleLookup) Close() {
	if r.pool != nil {
		r.pool.Close()
	}
}

// Roles returns the roles user is a member of, directly or indirectly,
// sorted, the user's own name included. See RoleLookup for what happens
// when the database cannot be asked. The slice is shared: callers must
// not modify it.
func (r *RoleLookup) Roles(ctx context.Context, user string) ([]string, error) {
	now := r.cfg.Now()
	e, cached := r.cache.Get(user)
	if cached && now.Sub(e.at) < r.cfg.TTL {
		return e.roles, nil
	}
	roles, err := r.lookup(ctx, user)
	if err == nil {
		return roles, nil
	}
	r.failures.Add(1)
	if cached && now.Sub(e.at) < r.cfg.TTL+r.cfg.MaxStale {
		r.stale.Add(1)
		r.cfg.Logger.Warn("role memberships could not be refreshed; using the last ones read",
			"user", user, "age", now.Sub(e.at).Round(time.Second), "err", err)
		return e.roles, nil
	}
	return []string{user}, fmt.Errorf("%w for user %q: %w", ErrRolesUnavailable, user, err)
}

// lookup queries the memberships of user, sharing the query with
// concurrent callers for the same user.
func (r *RoleLookup) lookup(ctx context.Context, user string) ([]string, error) {
	r.mu.Lock()
	if c, ok := r.inflight[user]; ok {
		r.mu.Unlock()
		select {
		case <-c.done:
			return c.roles, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &roleCall{done: make(chan struct{})}
	r.inflight[user] = c
	r.mu.Unlock()

	c.roles, c.err = r.query(ctx, user)
	if c.err == nil {
		r.cache.Add(user, roleEntry{roles: c.roles, at: r.cfg.Now()})
	}
	r.mu.Lock()
	delete(r.inflight, user)
	r.mu.Unlock()
	close(c.done)
	return c.roles, c.err
}

func (r *RoleLookup) query(ctx context.Context, user string) ([]string, error) {
	r.queries.Add(1)
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	rows, err := r.cfg.DB.Query(ctx, membershipQuery, user)
	if err != nil {
		return nil, fmt.Errorf("read role memberships: %w", err)
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read role memberships: %w", err)
	}
	if !slices.Contains(roles, user) {
		// The role does not exist (any more): Postgres authenticated it a
		// moment ago, so it was dropped since; its own name is all we know.
		roles = append(roles, user)
		slices.Sort(roles)
	}
	return roles, nil
}

// RoleStats are RoleLookup's counters, for metrics.
type RoleStats struct {
	// Queries counts membership queries; Failures the lookups that could not
	// be answered from the database; Stale those answered from an expired
	// cache entry instead.
	Queries, Failures, Stale uint64
}

// Stats returns the counters.
func (r *RoleLookup) Stats() RoleStats {
	return RoleStats{Queries: r.queries.Load(), Failures: r.failures.Load(), Stale: r.stale.Load()}
}
