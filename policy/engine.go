package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/pgveil/pgveil/rules"
)

// Engine evaluates the pgveil policy. It holds the compiled policy of one
// revision at a time behind an atomic pointer: Decide never waits for a
// reload, and a reload that fails leaves the previous revision in force.
// An Engine is safe for concurrent use.
type Engine struct {
	cfg   Config
	caps  *ast.Capabilities
	state atomic.Pointer[state]
	cache *lru.Cache[uint64, cacheEntry] // nil: caching disabled
	keys  *keyHasher
	cat   atomic.Pointer[catalogInput]
	seed  maphash.Seed // for file fingerprints

	// reloadMu serialises loads and guards the fields below it.
	reloadMu  sync.Mutex
	files     *fileSet
	bundle    *bundleSnapshot
	failedRev string // the content that last failed to compile (not logged again)
	fprint    uint64 // stat fingerprint of the files when they were last read

	lastErr atomic.Pointer[reloadFailure]

	decisions, hits, evaluations, evalErrors, timeouts atomic.Uint64
	sessions, reloads, reloadErrors                    atomic.Uint64
}

// reloadFailure is the outcome of a reload attempt that did not install a
// new revision.
type reloadFailure struct {
	err error
	at  time.Time
}

// NewEngine loads and compiles the policy that cfg names (files and, if
// configured, the bundle, fetched once with ctx). It fails when the policy
// cannot be read or does not compile, or defines no data.pgveil.decision:
// pgveil never starts without a policy in force. NewEngine starts no
// goroutine; call Run to follow changes.
func NewEngine(ctx context.Context, cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, caps: capabilities(), keys: newKeyHasher(), seed: maphash.MakeSeed()}
	if cfg.CacheSize > 0 {
		if e.cache, err = lru.New[uint64, cacheEntry](cfg.CacheSize); err != nil {
			return nil, fmt.Errorf("policy cache: %w", err)
		}
	}
	if len(cfg.Paths) > 0 {
		e.fprint = statFingerprint(e.seed, cfg.Paths)
		if e.files, err = readFiles(cfg.Paths); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
	}
	if cfg.Bundle.URL != "" {
		if e.bundle, err = fetchBundle(ctx, cfg.Bundle, ""); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
	}
	st, err := compileState(ctx, e.files, e.bundle, e.caps, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	e.state.Store(st)
	cfg.Logger.Info("policy loaded", "revision", st.revision, "modules", len(st.moduleNames), "session_rule", st.session != nil)
	return e, nil
}

// Revision returns the revision of the policy in force: a hash of every
// module and data document compiled, prefixed with the bundle's manifest
// revision and "@" when a bundle with a revision is loaded.
func (e *Engine) Revision() string { return e.state.Load().revision }

// Modules returns the names of the modules of the policy in force (file
// paths, and "bundle:<path>" for bundle files), sorted.
func (e *Engine) Modules() []string {
	s := e.state.Load()
	out := make([]string, len(s.moduleNames))
	copy(out, s.moduleNames)
	return out
}

// HasSessionRule reports whether the policy in force defines
// data.pgveil.session.
func (e *Engine) HasSessionRule() bool { return e.state.Load().session != nil }

// LastError returns the error of the latest reload attempt if that attempt
// failed (the policy on disk or in the bundle does not compile, or could not
// be read; Stats().LastErrorAt says when); nil once a later attempt
// succeeds or finds the content equal to the revision in force.
func (e *Engine) LastError() error {
	if f := e.lastErr.Load(); f != nil {
		return f.err
	}
	return nil
}

// Stats is a snapshot of the engine's counters, for metrics.
type Stats struct {
	Revision       string
	BundleRevision string
	LoadedAt       time.Time
	// Decisions counts Decide calls; CacheHits those answered from the
	// cache; Evaluations the policy evaluations (statements and sessions).
	Decisions, CacheHits, Evaluations uint64
	// EvalErrors counts evaluations that refused because the policy failed,
	// was undefined or malformed; Timeouts those that took too long.
	EvalErrors, Timeouts uint64
	// Sessions counts DecideSession calls.
	Sessions uint64
	// Reloads counts installed revisions after the first; ReloadErrors the
	// failed attempts (each also logged at ERROR).
	Reloads, ReloadErrors uint64
	// CacheLen is the number of cached decisions.
	CacheLen int
	// LastErrorAt is when the latest reload attempt failed, zero when it
	// succeeded (see LastError).
	LastErrorAt time.Time
}

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	s := e.state.Load()
	st := Stats{
		Revision: s.revision, BundleRevision: s.bundleRevision, LoadedAt: s.loadedAt,
		Decisions: e.decisions.Load(), CacheHits: e.hits.Load(), Evaluations: e.evaluations.Load(),
		EvalErrors: e.evalErrors.Load(), Timeouts: e.timeouts.Load(), Sessions: e.sessions.Load(),
		Reloads: e.reloads.Load(), ReloadErrors: e.reloadErrors.Load(),
	}
	if e.cache != nil {
		st.CacheLen = e.cache.Len()
	}
	if f := e.lastErr.Load(); f != nil {
		st.LastErrorAt = f.at
	}
	return st
}

// Reload reads the files again and, if a bundle is configured, asks the
// bundle server for a new revision; if the content differs from the
// revision in force it compiles it and swaps it in atomically. Statements
// being decided keep the revision they started with; new ones get the new
// one. On failure the previous revision stays in force, the error is
// logged at ERROR, counted and kept for LastError, and returned.
func (e *Engine) Reload(ctx context.Context) error {
	_, err := e.reload(ctx, len(e.cfg.Paths) > 0, e.cfg.Bundle.URL != "")
	return err
}

// reload is Reload for the parts named. It reports whether a new revision
// was installed.
func (e *Engine) reload(ctx context.Context, readDisk, fetch bool) (bool, error) {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	fset, b := e.files, e.bundle
	if readDisk {
		fp := statFingerprint(e.seed, e.cfg.Paths)
		f, err := readFiles(e.cfg.Paths)
		if err != nil {
			return false, e.fail(err)
		}
		fset, e.fprint = f, fp
	}
	if fetch {
		etag := ""
		if b != nil {
			etag = b.etag
		}
		nb, err := fetchBundle(ctx, e.cfg.Bundle, etag)
		switch {
		case errors.Is(err, errNotModified):
		case err != nil:
			return false, e.fail(err)
		default:
			b = nb
		}
	}
	cur := e.state.Load()
	rev, _ := revisionOf(fset, b)
	if rev == cur.revision {
		// Nothing changed, or a broken edit was reverted.
		e.files, e.bundle, e.failedRev = fset, b, ""
		e.lastErr.Store(nil)
		return false, nil
	}
	if rev == e.failedRev {
		// Already reported; the revision in force stays.
		f := e.lastErr.Load()
		if f != nil {
			return false, f.err
		}
	}
	st, err := compileState(ctx, fset, b, e.caps, e.cfg.Now())
	if err != nil {
		e.failedRev = rev
		return false, e.fail(err)
	}
	e.files, e.bundle, e.failedRev = fset, b, ""
	e.state.Store(st)
	e.lastErr.Store(nil)
	e.reloads.Add(1)
	if e.cache != nil {
		// Entries of the old revision can never hit again; drop them now
		// rather than letting them age out.
		e.cache.Purge()
	}
	e.cfg.Logger.Info("policy reloaded", "revision", st.revision, "previous", cur.revision, "modules", len(st.moduleNames))
	return true, nil
}

// fail records a failed reload: counter, LastError and one ERROR line.
func (e *Engine) fail(err error) error {
	err = fmt.Errorf("policy reload: %w", err)
	e.reloadErrors.Add(1)
	e.lastErr.Store(&reloadFailure{err: err, at: e.cfg.Now()})
	e.cfg.Logger.Error("policy reload failed; the previous revision stays in force",
		"revision", e.state.Load().revision, "err", err)
	return err
}

// Run follows policy changes until ctx is done: it checks the files of
// Paths every PollInterval (a stat of each; they are read and compiled
// only when something changed) and polls the bundle every Bundle.Poll
// with If-None-Match. Failures are reported (see Reload) and the loop goes
// on. The caller owns the goroutine that runs Run; Run waits for the bundle
// poller it starts and returns ctx.Err().
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if e.cfg.Bundle.URL != "" {
		// Owner: Run, which waits for it; it exits when ctx is done.
		wg.Go(func() {
			t := time.NewTicker(e.cfg.Bundle.Poll)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					_, _ = e.reload(ctx, false, true) // reported by reload
				}
			}
		})
	}
	if len(e.cfg.Paths) > 0 {
		t := time.NewTicker(e.cfg.PollInterval)
		defer t.Stop()
		e.reloadMu.Lock()
		last := e.fprint
		e.reloadMu.Unlock()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-t.C:
				fp := statFingerprint(e.seed, e.cfg.Paths)
				if fp == last {
					continue
				}
				last = fp
				_, _ = e.reload(ctx, true, false) // reported by reload
			}
		}
	} else {
		<-ctx.Done()
	}
	wg.Wait()
	return ctx.Err()
}

// catalog returns the current catalog's input parts.
func (e *Engine) catalog() *catalogInput {
	cat := e.cfg.Catalog()
	if ci := e.cat.Load(); ci != nil && ci.cat == cat {
		return ci
	}
	ci := newCatalogInput(cat)
	e.cat.Store(ci)
	return ci
}

// Decide returns the decision for one statement (proxy.Decider). A
// decision is cached (see key.go); its Reveal, Masks and RowFilters are
// shared with the cache and must not be modified.
//
// When the policy cannot produce a valid decision (evaluation error,
// timeout, undefined or malformed output, an unenforceable row filter),
// Decide returns a refusal with a generic reason and an error wrapping
// ErrEvaluation, ErrTimeout, ErrUndefined, ErrMalformed or ErrRowFilters
// with the detail, for the log. Such refusals are not cached. Every
// decision carries the revision of the policy that produced it.
func (e *Engine) Decide(ctx context.Context, id *rules.Identity, st *rules.Statement) (rules.Decision, error) {
	s := e.state.Load()
	e.decisions.Add(1)
	if st == nil {
		err := fmt.Errorf("%w: no statement", ErrEvaluation)
		e.evalErrors.Add(1)
		return deniedFor(s.revision, err), err
	}
	ci := e.catalog()
	now := e.cfg.Now()
	var (
		kb   *[]byte
		hash uint64
	)
	if e.cache != nil {
		kb, hash = e.keys.encode(s.revision, ci.cat.Revision(), minuteOf(now), id, st)
		defer e.keys.put(kb)
		if ent, ok := e.cache.Get(hash); ok && bytes.Equal(ent.key, *kb) {
			e.hits.Add(1)
			return ent.d, nil
		}
	}
	input := buildInput(id, st, ci, now)
	d, _, err := e.eval(ctx, s, &s.decision, input, now, false)
	if err == nil && !e.cfg.RowFilters {
		err = checkRowFilters(&d, st)
	}
	if err != nil {
		e.evalErrors.Add(1)
		return deniedFor(s.revision, err), err
	}
	if e.cache != nil {
		e.cache.Add(hash, cacheEntry{key: bytes.Clone(*kb), d: d})
	}
	return d, nil
}

// DecideSession decides whether a session may start
// (proxy.SessionDecider), by evaluating data.pgveil.session with an input
// that has no statement. A policy that defines no session rule accepts
// every session Postgres authenticated; one that defines it is held to the
// same fail-closed rules as statement decisions (undefined, malformed, an
// error or a timeout refuse, with an error as Decide describes). Session
// decisions are not cached: they are made once per connection.
func (e *Engine) DecideSession(ctx context.Context, id *rules.Identity) (rules.Decision, error) {
	s := e.state.Load()
	e.sessions.Add(1)
	if s.session == nil {
		return rules.Decision{Allow: true, Revision: s.revision}, nil
	}
	now := e.cfg.Now()
	d, _, err := e.eval(ctx, s, s.session, buildInput(id, nil, e.catalog(), now), now, true)
	if err != nil {
		e.evalErrors.Add(1)
		return deniedFor(s.revision, err), err
	}
	return d, nil
}

// noMetrics skips OPA's per-evaluation metrics (a map per call).
var noMetrics = metrics.NoOp()

// minuteOf is the minute of t since the epoch (input.now's precision).
func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

// eval evaluates one prepared query with the timeout and parses its result.
// It also returns the raw result (nil when undefined).
func (e *Engine) eval(ctx context.Context, s *state, pq *rego.PreparedEvalQuery, input ast.Value, now time.Time, session bool) (rules.Decision, any, error) {
	e.evaluations.Add(1)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(input), rego.EvalTime(now.UTC().Truncate(time.Minute)),
		rego.EvalMetrics(noMetrics))
	if err != nil {
		if ctx.Err() != nil {
			e.timeouts.Add(1)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return rules.Decision{}, nil, fmt.Errorf("%w after %s (revision %s)", ErrTimeout, e.cfg.Timeout, s.revision)
			}
			return rules.Decision{}, nil, fmt.Errorf("%w: %w", ErrEvaluation, ctx.Err())
		}
		return rules.Decision{}, nil, fmt.Errorf("%w (revision %s): %w", ErrEvaluation, s.revision, err)
	}
	query := decisionQuery
	if session {
		query = sessionQuery
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return rules.Decision{}, nil, fmt.Errorf("%w: %s has no value for this input (revision %s); add a default rule", ErrUndefined, query, s.revision)
	}
	if len(rs) > 1 {
		return rules.Decision{}, nil, fmt.Errorf("%w: %s has %d values", ErrMalformed, query, len(rs))
	}
	raw := rs[0].Expressions[0].Value
	d, err := parseDecision(raw, session)
	if err != nil {
		return rules.Decision{}, raw, fmt.Errorf("%s (revision %s): %w", query, s.revision, err)
	}
	d.Revision = s.revision
	return d, raw, nil
}
