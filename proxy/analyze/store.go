package analyze

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/pgveil/pgveil/rules"
)

// StoreConfig configures a Store.
type StoreConfig struct {
	// Classifier classifies base-table columns. If nil, nothing is
	// classified.
	Classifier Classifier
	// Trust widens what counts as builtin (see Trust).
	Trust Trust
	// MinRefreshInterval rate-limits on-demand refreshes (RefreshIfUnknown,
	// RefreshIfStale): at most one per interval. If zero, 5 seconds.
	MinRefreshInterval time.Duration
	// OnRefresh, if set, is called after every refresh attempt (periodic or
	// on demand) with its outcome, from the goroutine that refreshed. Use it
	// to log errors and, loudly, RefreshResult.Unresolved.
	OnRefresh func(RefreshResult, error)
}

// RefreshResult describes one refresh.
type RefreshResult struct {
	// Revision is the current snapshot's revision after the refresh.
	Revision uint64
	// Changed is true when the schema or classification changed (a new
	// snapshot was installed).
	Changed bool
	// Unresolved are the classified columns the classifier names that the
	// schema does not have (see Snapshot.Unresolved).
	Unresolved []rules.ColumnRef
}

// Store keeps the current Snapshot fresh. Current is lock-free; refreshes
// are serialized. It is safe for concurrent use.
type Store struct {
	q   Querier
	cfg StoreConfig

	cur        atomic.Pointer[Snapshot]
	classifier atomic.Pointer[classifierBox]
	lastSchema atomic.Pointer[Schema]
	sem        chan struct{} // capacity 1: the refresh lock, acquirable with a context
	lastTry    atomic.Int64  // unix nanos of the last on-demand refresh attempt
	fresh      atomic.Int64  // unix nanos: start of the last successful load (FreshAsOf)
}

type classifierBox struct{ c Classifier }

// NewStore returns a Store that loads the schema through q. Until the
// first Refresh, Current returns an empty snapshot, in which every relation
// is unknown (fail closed). Prefer a *pgxpool.Pool for q: pgx closes a
// *pgx.Conn whose query is interrupted by its context, after which every
// refresh through it fails.
func NewStore(q Querier, cfg StoreConfig) (*Store, error) {
	if q == nil {
		return nil, errors.New("analyze: NewStore needs a Querier")
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 5 * time.Second
	}
	s := &Store{q: q, cfg: cfg, sem: make(chan struct{}, 1)}
	s.classifier.Store(&classifierBox{c: cfg.Classifier})
	s.cur.Store(NewSnapshot(nil, cfg.Classifier, cfg.Trust))
	return s, nil
}

// Current returns the current snapshot. It never returns nil.
func (s *Store) Current() *Snapshot { return s.cur.Load() }

func (s *Store) lock(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) unlock() { <-s.sem }

// Refresh reloads the schema and installs a new snapshot if anything
// changed. On error the current snapshot stays.
func (s *Store) Refresh(ctx context.Context) (RefreshResult, error) {
	if err := s.lock(ctx); err != nil {
		return RefreshResult{Revision: s.Current().Revision()}, err
	}
	defer s.unlock()
	return s.refreshLocked(ctx)
}

func (s *Store) refreshLocked(ctx context.Context) (RefreshResult, error) {
	start := time.Now()
	schema, err := LoadSchema(ctx, s.q)
	if err != nil {
		res := RefreshResult{Revision: s.Current().Revision(), Unresolved: s.Current().Unresolved()}
		if ctx.Err() == nil {
			// A refresh cut short by its context (shutdown) is not worth
			// reporting.
			s.report(res, err)
		}
		return res, err
	}
	s.lastSchema.Store(schema)
	res := s.install(NewSnapshot(schema, s.classifier.Load().c, s.cfg.Trust))
	s.fresh.Store(start.UnixNano())
	s.report(res, nil)
	return res, nil
}

// FreshAsOf returns when the load behind the current snapshot started:
// the snapshot shows every schema change committed before then (zero
// before the first load).
func (s *Store) FreshAsOf() time.Time {
	if n := s.fresh.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// RefreshAfter refreshes unless the current snapshot is fresh as of a time
// after t (a session's own schema change became visible at t), and returns
// the snapshot to use. Unlike RefreshIfStale it is not rate-limited: a
// session calls it once per schema change it made. Concurrent callers wait
// for the refresh in progress and then check again.
func (s *Store) RefreshAfter(ctx context.Context, t time.Time) (*Snapshot, error) {
	if s.FreshAsOf().After(t) {
		return s.Current(), nil
	}
	if err := s.lock(ctx); err != nil {
		return s.Current(), err
	}
	defer s.unlock()
	if s.FreshAsOf().After(t) {
		return s.Current(), nil
	}
	_, err := s.refreshLocked(ctx)
	return s.Current(), err
}

func (s *Store) install(snap *Snapshot) RefreshResult {
	old := s.Current()
	changed := snap.Revision() != old.Revision()
	if changed {
		s.cur.Store(snap)
	}
	return RefreshResult{Revision: s.Current().Revision(), Changed: changed, Unresolved: snap.Unresolved()}
}

func (s *Store) report(res RefreshResult, err error) {
	if s.cfg.OnRefresh != nil {
		s.cfg.OnRefresh(res, err)
	}
}

// SetClassifier replaces the classifier (after the rules were reloaded) and
// rebuilds the snapshot from the last loaded schema without querying the
// database. Before the first successful Refresh it only records c.
func (s *Store) SetClassifier(ctx context.Context, c Classifier) (RefreshResult, error) {
	if err := s.lock(ctx); err != nil {
		return RefreshResult{Revision: s.Current().Revision()}, err
	}
	defer s.unlock()
	s.classifier.Store(&classifierBox{c: c})
	schema := s.lastSchema.Load()
	res := s.install(NewSnapshot(schema, c, s.cfg.Trust))
	s.report(res, nil)
	return res, nil
}

// RefreshIfUnknown refreshes when the current snapshot does not know the
// relation OID (a RowDescription named a table created after the snapshot),
// at most once per MinRefreshInterval. It returns the snapshot to use.
func (s *Store) RefreshIfUnknown(ctx context.Context, oid uint32) (*Snapshot, error) {
	if cur := s.Current(); oid == 0 || cur.Knows(oid) {
		return cur, nil
	}
	return s.RefreshIfStale(ctx)
}

// RefreshIfStale refreshes unless an on-demand refresh happened within
// MinRefreshInterval, and returns the snapshot to use. Concurrent callers
// wait for the refresh in progress instead of starting another.
func (s *Store) RefreshIfStale(ctx context.Context) (*Snapshot, error) {
	before := s.Current()
	if !s.due() {
		return before, nil
	}
	if err := s.lock(ctx); err != nil {
		return s.Current(), err
	}
	defer s.unlock()
	if s.Current() != before || !s.due() {
		// Someone refreshed while we waited.
		return s.Current(), nil
	}
	s.lastTry.Store(time.Now().UnixNano())
	_, err := s.refreshLocked(ctx)
	return s.Current(), err
}

func (s *Store) due() bool {
	last := s.lastTry.Load()
	return last == 0 || time.Since(time.Unix(0, last)) >= s.cfg.MinRefreshInterval
}

// Run refreshes immediately and then every interval until ctx is done,
// reporting each outcome through StoreConfig.OnRefresh. It returns
// ctx.Err(). The caller owns the goroutine that runs it.
func (s *Store) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		// Errors are reported through OnRefresh; the loop keeps going with
		// the last good snapshot.
		_, _ = s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
