package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgveil/pgveil/audit"
	"github.com/pgveil/pgveil/policy"
	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/analyze"
	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/subject"
)

// restrictionTable is the suppression list that `pgveil subject restrict`
// maintains and the proxy enforces.
const restrictionTable = "pgveil.restricted_subjects"

// schemaRefresh is how often the schema snapshot is re-read (new tables,
// renamed columns, view definitions).
const schemaRefresh = 30 * time.Second

// enforcement is everything an inspecting proxy needs besides the wire:
// the classification (hot-reloaded), the schema snapshots, the analyzer,
// the policy engine and the role lookup. Its background loops are owned by
// run, which returns when ctx ends and they have stopped.
type enforcement struct {
	catalog atomic.Pointer[rules.Catalog]
	pool    *pgxpool.Pool
	store   *analyze.Store
	an      *analyze.Analyzer
	engine  *policy.Engine
	roles   *policy.RoleLookup
	hashKey []byte
	log     *slog.Logger

	rulesPath string
	rulesMod  time.Time

	// restricted is whether pgveil.restricted_subjects has any row, as
	// last polled (watchRestrictions). It starts true: fail closed until
	// the first poll says otherwise.
	restricted atomic.Bool
	// restrictionFilters are subject.RestrictionFilters as last computed
	// (at start and with each schema refresh by watchRestrictions); nil
	// until then.
	restrictionFilters atomic.Pointer[map[string]string]
}

// restrictionPoll is how often the restriction list is checked for
// emptiness: a restriction takes effect for new statements within it.
const restrictionPoll = time.Second

// newEnforcement builds the inspecting half of pgveil from the config. It
// returns nil when the config has no rules and no policy (a pure
// pass-through proxy).
func newEnforcement(ctx context.Context, cfg *fileConfig, logger *slog.Logger) (*enforcement, error) {
	hasPolicy := len(cfg.Policy.Paths) > 0 || cfg.Policy.Bundle.URL != ""
	if cfg.Rules == "" && !hasPolicy {
		return nil, nil
	}
	switch {
	case cfg.Rules == "":
		return nil, errors.New("config: a policy needs rules (the classification of personal data)")
	case !hasPolicy:
		return nil, errors.New("config: rules need a policy (policy.paths or policy.bundle.url) to decide who sees what")
	case cfg.ControlDSN == "":
		return nil, errors.New("config: control_dsn is required with rules: pgveil reads the schema and role memberships through it")
	}
	e := &enforcement{log: logger, rulesPath: cfg.path(cfg.Rules)}
	e.restricted.Store(true)
	cat, err := rules.LoadCatalog(e.rulesPath)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	e.catalog.Store(cat)
	if st, err := os.Stat(e.rulesPath); err == nil {
		e.rulesMod = st.ModTime()
	}
	if e.hashKey, err = loadHashKey(cfg, logger); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.ControlDSN)
	if err != nil {
		return nil, fmt.Errorf("control_dsn: %w", err)
	}
	pcfg.MaxConns = 4
	if e.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("control_dsn: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	e.store, err = analyze.NewStore(e.pool, analyze.StoreConfig{
		Classifier: e.classifier(),
		OnRefresh: func(r analyze.RefreshResult, err error) {
			if err != nil {
				logger.Error("schema refresh failed; keeping the previous snapshot", "err", err)
				return
			}
			for _, c := range r.Unresolved {
				// A classified column that no longer resolves: its table's
				// columns are masked until the rules are fixed.
				logger.Error("classified column does not exist in the database; masking the whole table until the rules are fixed",
					"table", c.Table, "column", c.Column)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = e.store.Refresh(rctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("read the database schema through control_dsn: %w", err)
	}
	if e.an, err = analyze.New(analyze.Config{Snapshots: e.store}); err != nil {
		return nil, err
	}
	polcfg := enginePolicyConfig(cfg, nil, logger)
	polcfg.Catalog = e.catalog.Load
	if e.engine, err = policy.NewEngine(ctx, polcfg); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if e.roles, err = policy.NewRoleLookup(policy.RoleLookupConfig{DB: e.pool, Logger: logger}); err != nil {
		return nil, err
	}
	if err := ensureRestrictionTable(ctx, e.pool); err != nil {
		return nil, err
	}
	logger.Info("enforcing", "rules", e.rulesPath, "rules_revision", cat.Revision(), "policy_revision", e.engine.Revision(),
		"relations", len(e.store.Current().Schema().Relations))
	ok = true
	return e, nil
}

// configure puts the enforcement into a proxy config.
func (e *enforcement) configure(pc *proxy.Config) {
	pc.Decider = e.engine
	pc.Analyzer = e.an
	pc.Schema = e.store
	pc.Rules = e.catalog.Load
	pc.Roles = e.roles
	pc.HashKey = e.hashKey
	pc.RestrictionTable = restrictionTable
	pc.RestrictionActive = e.restricted.Load
	pc.RestrictionFilters = func() map[string]string {
		if m := e.restrictionFilters.Load(); m != nil {
			return *m
		}
		return nil
	}
}

// classifier classifies through the current catalog, with its
// `unclassified: mask` rule.
func (e *enforcement) classifier() analyze.Classifier {
	return analyze.ClassifierFunc(func(table, column string) (string, bool) {
		return e.catalog.Load().Classify(rules.ColumnRef{Table: table, Column: column})
	})
}

// run owns the background loops: schema refresh, policy reload, rules
// reload. It returns when ctx ends and all of them have stopped.
func (e *enforcement) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); e.store.Run(ctx, schemaRefresh) }()
	go func() { defer wg.Done(); e.engine.Run(ctx) }()
	go func() { defer wg.Done(); e.watchRules(ctx) }()
	go func() { defer wg.Done(); e.watchRestrictions(ctx) }()
	wg.Wait()
}

// watchRestrictions polls whether any subject is restricted. A failed
// poll counts as "restricted" (the filter is applied: fail closed).
func (e *enforcement) watchRestrictions(ctx context.Context) {
	t := time.NewTicker(restrictionPoll)
	defer t.Stop()
	var filtersAt time.Time
	for {
		if time.Since(filtersAt) >= schemaRefresh {
			// Which tables hold a subject's rows, through foreign keys too.
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			m, err := subject.RestrictionFilters(fctx, e.pool, e.catalog.Load())
			cancel()
			switch {
			case err == nil:
				e.restrictionFilters.Store(&m)
				filtersAt = time.Now()
			case ctx.Err() == nil:
				e.log.Warn("computing the restriction filters failed; restricting tables with a subject key only", "err", err)
				filtersAt = time.Now()
			}
		}
		qctx, cancel := context.WithTimeout(ctx, restrictionPoll)
		var exists bool
		err := e.pool.QueryRow(qctx, "SELECT EXISTS (SELECT 1 FROM "+restrictionTable+")").Scan(&exists)
		cancel()
		if err != nil && ctx.Err() == nil {
			e.log.Warn("reading the restriction list failed; filtering every statement", "err", err)
		}
		e.restricted.Store(err != nil || exists)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchRules reloads the rules file when it changes. A file that fails to
// load leaves the previous classification in force and is reported.
func (e *enforcement) watchRules(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(e.rulesPath)
		if err != nil || st.ModTime().Equal(e.rulesMod) {
			continue
		}
		e.rulesMod = st.ModTime()
		cat, err := rules.LoadCatalog(e.rulesPath)
		if err != nil {
			e.log.Error("rules reload failed; the previous rules stay in force", "err", err)
			continue
		}
		e.catalog.Store(cat)
		if _, err := e.store.SetClassifier(ctx, e.classifier()); err != nil {
			e.log.Error("rules reload: rebuilding the schema snapshot failed", "err", err)
		}
		e.log.Info("rules reloaded", "revision", cat.Revision())
	}
}

func (e *enforcement) close() {
	if e.roles != nil {
		e.roles.Close()
	}
	if e.pool != nil {
		e.pool.Close()
	}
}

// loadHashKey reads the hash mask's key. Without one, pseudonyms are keyed
// by a random key per process: still unlinkable to the values, but not
// stable across restarts or instances.
func loadHashKey(cfg *fileConfig, logger *slog.Logger) ([]byte, error) {
	if cfg.Masking.HashKeyFile == "" {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		logger.Warn("masking.hash_key_file is not set: hash pseudonyms use a random key and change when pgveil restarts")
		return key, nil
	}
	b, err := os.ReadFile(cfg.path(cfg.Masking.HashKeyFile))
	if err != nil {
		return nil, fmt.Errorf("masking.hash_key_file: %w", err)
	}
	if len(b) < rules.MinHashKeyLen {
		return nil, fmt.Errorf("masking.hash_key_file: the key must be at least %d bytes", rules.MinHashKeyLen)
	}
	return b, nil
}

// ensureRestrictionTable creates the suppression list if it is missing, so
// that the proxy's row filter always has a table to read.
func ensureRestrictionTable(ctx context.Context, pool *pgxpool.Pool) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("control_dsn: %w", err)
	}
	defer c.Release()
	if err := subject.EnsureRestrictedTable(ctx, c.Conn()); err != nil {
		return fmt.Errorf("create %s (the control_dsn role needs CREATE on the database the first time, or create it beforehand): %w", restrictionTable, err)
	}
	return nil
}

// newAuditTrail builds the audit trail of the config's audit section, or
// returns nil when there is none (exporter empty or none).
func newAuditTrail(ctx context.Context, cfg *fileConfig, enf *enforcement, logger *slog.Logger) (*audit.Tracer, error) {
	a := cfg.Audit
	if a.Exporter == "" || a.Exporter == "none" {
		if enf != nil {
			logger.Warn("audit.exporter is none: personal-data accesses are not recorded")
		}
		return nil, nil
	}
	ac, err := auditTrailConfig(cfg, logger)
	if err != nil {
		return nil, err
	}
	if cfg.Masking.HashKeyFile != "" && enf != nil {
		ac.PseudonymKey = enf.hashKey
	}
	t, err := audit.New(ctx, ac)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	logger.Info("audit trail", "exporter", a.Exporter, "endpoint", a.Endpoint, "spool", ac.SpoolDir, "on_failure", ac.OnFailure)
	return t, nil
}

// auditTrailConfig maps the config file's audit section to an audit.Config
// (without the pseudonym key, which the caller adds).
func auditTrailConfig(cfg *fileConfig, logger *slog.Logger) (audit.Config, error) {
	a := cfg.Audit
	ac := audit.Config{
		Exporter:    a.Exporter,
		Endpoint:    a.Endpoint,
		Headers:     a.Headers,
		CAFile:      cfg.path(a.CA),
		File:        cfg.path(a.File),
		SpoolDir:    cfg.path(a.SpoolDir),
		OnFailure:   a.OnFailure,
		ServiceName: "pgveil",
		Logger:      logger,
	}
	if a.Insecure != nil {
		ac.Insecure = *a.Insecure
	} else {
		// Unset: plaintext to a receiver on the same machine (a local
		// Collector, the usual sidecar setup), TLS to anything else.
		ac.Insecure = loopbackEndpoint(a.Endpoint)
	}
	if a.SpoolMax != "" {
		n, err := audit.ParseBytes(a.SpoolMax)
		if err != nil {
			return ac, fmt.Errorf("config: audit.spool_max_bytes: %w", err)
		}
		ac.SpoolMaxBytes = n
	}
	return ac, nil
}

// loopbackEndpoint reports whether an OTLP endpoint is on this machine.
func loopbackEndpoint(ep string) bool {
	if ep == "" {
		return true // the default, 127.0.0.1
	}
	if u, err := url.Parse(ep); err == nil && u.Host != "" {
		if u.Scheme == "http" {
			return true
		}
		ep = u.Host
	}
	host, _, err := net.SplitHostPort(ep)
	if err != nil {
		host = ep
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
