package policy

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/proxy/pgtest"
)

func TestRoleLookupPostgres(t *testing.T) {
	srv := pgtest.Require(t)
	ctx := context.Background()
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	r, err := NewRoleLookup(RoleLookupConfig{DSN: srv.SuperDSN("postgres"), TTL: time.Minute,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.Roles(ctx, "alice")
	if err != nil || !slices.Equal(got, []string{"alice", "staff", "team"}) {
		t.Fatalf("roles = %v, %v; want alice, staff (indirect), team", got, err)
	}
	if got, err := r.Roles(ctx, "Mixed Case"); err != nil || !slices.Equal(got, []string{"Mixed Case"}) {
		t.Fatalf("roles = %v, %v", got, err)
	}
	// A role that does not exist: just the name.
	if got, err := r.Roles(ctx, "ghost"); err != nil || !slices.Equal(got, []string{"ghost"}) {
		t.Fatalf("roles = %v, %v", got, err)
	}
	// Cached within the TTL, refreshed after it.
	if err := srv.Exec(ctx, "postgres", "CREATE ROLE auditors NOLOGIN; GRANT auditors TO alice"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Exec(ctx, "postgres", "DROP ROLE auditors") })
	q := r.Stats().Queries
	if got, _ := r.Roles(ctx, "alice"); slices.Contains(got, "auditors") || r.Stats().Queries != q {
		t.Fatalf("TTL not honoured: %v", got)
	}
	now.Add(int64(61 * time.Second))
	if got, _ := r.Roles(ctx, "alice"); !slices.Contains(got, "auditors") {
		t.Fatalf("not refreshed after the TTL: %v", got)
	}
}

// flakyDB answers from a fixed list, or fails while down is set.
type flakyDB struct {
	down    atomic.Bool
	calls   atomic.Int64
	release chan struct{} // if not nil, queries wait for it
}

func (f *flakyDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	f.calls.Add(1)
	if f.release != nil {
		<-f.release
	}
	if f.down.Load() {
		return nil, errors.New("connection refused")
	}
	return nil, errFakeRows
}

var errFakeRows = errors.New("fake rows")

func TestRoleLookupFailures(t *testing.T) {
	ctx := context.Background()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	db := &flakyDB{}
	var logs lockedBuffer
	r, err := NewRoleLookup(RoleLookupConfig{DB: db, TTL: time.Minute, MaxStale: 5 * time.Minute,
		Logger: logs.logger(), Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	// Seed the cache as a successful query would.
	r.cache.Add("alice", roleEntry{roles: []string{"alice", "analyst"}, at: time.Unix(0, now.Load())})
	db.down.Store(true)
	now.Add(int64(2 * time.Minute)) // expired, within MaxStale
	got, err := r.Roles(ctx, "alice")
	if err != nil || !slices.Equal(got, []string{"alice", "analyst"}) {
		t.Fatalf("stale answer = %v, %v", got, err)
	}
	if r.Stats().Stale != 1 || logs.String() == "" {
		t.Errorf("stale use not counted or logged: %+v", r.Stats())
	}
	now.Add(int64(10 * time.Minute)) // past MaxStale
	got, err = r.Roles(ctx, "alice")
	if !errors.Is(err, ErrRolesUnavailable) || !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("past MaxStale = %v, %v", got, err)
	}
	// Never seen: error at once.
	if _, err := r.Roles(ctx, "bob"); !errors.Is(err, ErrRolesUnavailable) {
		t.Fatalf("unknown user while down: %v", err)
	}
}

func TestRoleLookupSharesConcurrentQueries(t *testing.T) {
	db := &flakyDB{release: make(chan struct{})}
	db.down.Store(true)
	r, err := NewRoleLookup(RoleLookupConfig{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _, _ = r.Roles(context.Background(), "alice") })
	}
	time.Sleep(50 * time.Millisecond)
	close(db.release)
	wg.Wait()
	if n := db.calls.Load(); n > 2 {
		t.Errorf("%d queries for 8 concurrent lookups of one user", n)
	}
	if _, err := NewRoleLookup(RoleLookupConfig{}); err == nil {
		t.Error("no DB and no DSN accepted")
	}
}
