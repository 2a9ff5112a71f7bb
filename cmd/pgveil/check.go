package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/policy"
	"github.com/pgveil/pgveil/proxy/analyze"
	"github.com/pgveil/pgveil/rules"
)

// runCheck implements `pgveil check --config F`: it validates the config,
// loads the rules and resolves them against the database (control_dsn),
// compiles the policy and runs its Rego unit tests like `opa test`. It
// exits 1 when anything fails, 2 on bad usage.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML) to check (required)")
	run := fs.String("run", "", "run only the Rego tests whose names match this regular expression")
	verbose := fs.Bool("v", false, "print the output of passing tests too")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pgveil check --config pgveil.yaml [--run REGEX] [-v]")
		fmt.Fprintln(stderr, "\nValidates the config, resolves the rules against the database (control_dsn),")
		fmt.Fprintln(stderr, "compiles the policy and runs its Rego unit tests (test_* rules), like opa test.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	c := &checker{out: stdout}
	c.run(ctx, *configPath, *run, *verbose)
	if c.failed {
		fmt.Fprintln(stdout, "\npgveil check: FAILED")
		return 1
	}
	fmt.Fprintln(stdout, "\npgveil check: ok")
	return 0
}

// checker prints one line per check and remembers failures.
type checker struct {
	out    io.Writer
	failed bool
}

func (c *checker) ok(format string, args ...any) {
	fmt.Fprintf(c.out, "ok    "+format+"\n", args...)
}

func (c *checker) fail(format string, args ...any) {
	c.failed = true
	fmt.Fprintf(c.out, "FAIL  "+format+"\n", args...)
}

func (c *checker) note(format string, args ...any) {
	fmt.Fprintf(c.out, "--    "+format+"\n", args...)
}

func (c *checker) run(ctx context.Context, path, run string, verbose bool) {
	cfg, err := loadConfig(path)
	if err != nil {
		c.fail("%v", err)
		return
	}
	if _, err := cfg.proxyConfig(); err != nil {
		c.fail("config %s: %v", path, err)
	} else {
		c.ok("config %s", path)
	}

	cat, err := loadRules(cfg)
	switch {
	case err != nil:
		c.fail("%v", err)
	case cfg.Rules == "":
		c.note("rules: none configured (nothing is classified)")
	default:
		n := 0
		for range cat.Columns() {
			n++
		}
		c.ok("rules %s: %d tables, %d classified columns (revision %s)", cfg.path(cfg.Rules), cat.NumTables(), n, cat.Revision())
	}

	if cfg.ControlDSN == "" {
		c.note("database: no control_dsn, so the rules are not resolved against the schema")
	} else if err == nil {
		c.checkSchema(ctx, cfg, cat)
	}

	pcfg := enginePolicyConfig(cfg, cat, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if len(pcfg.Paths) == 0 && pcfg.Bundle.URL == "" {
		c.note("policy: none configured (pass-through)")
		return
	}
	e, err := policy.NewEngine(ctx, pcfg)
	if err != nil {
		c.fail("%v", err)
		return
	}
	session := "no session rule (every authenticated session is accepted)"
	if e.HasSessionRule() {
		session = "with a session rule"
	}
	c.ok("policy: revision %s, %d modules, %s", e.Revision(), len(e.Modules()), session)

	results, err := e.RunTests(ctx, run)
	if err != nil {
		c.fail("policy tests: %v", err)
		return
	}
	if len(results) == 0 {
		c.note("policy tests: none found (write test_* rules next to the policy)")
		return
	}
	fmt.Fprintln(c.out)
	var passed, failed, skipped int
	for _, r := range results {
		name := r.Package + "." + r.Name
		switch {
		case r.Skip:
			skipped++
			fmt.Fprintf(c.out, "SKIP  %s (%s)\n", name, r.Location)
		case r.Failed():
			failed++
			c.failed = true
			fmt.Fprintf(c.out, "FAIL  %s (%s)\n", name, r.Location)
			if r.Err != nil {
				fmt.Fprintf(c.out, "      error: %v\n", r.Err)
			}
		default:
			passed++
			fmt.Fprintf(c.out, "PASS  %s (%s)\n", name, r.Duration.Round(time.Microsecond))
		}
		if r.Output != "" && (verbose || r.Failed()) {
			fmt.Fprintf(c.out, "      %s\n", indent(r.Output, "      "))
		}
	}
	fmt.Fprintf(c.out, "\n%d passed, %d failed", passed, failed)
	if skipped > 0 {
		fmt.Fprintf(c.out, ", %d skipped", skipped)
	}
	fmt.Fprintln(c.out)
}

// checkSchema resolves the classification against the database.
func (c *checker) checkSchema(ctx context.Context, cfg *fileConfig, cat *rules.Catalog) {
	snap, err := loadSnapshot(ctx, cfg.ControlDSN, cat)
	if err != nil {
		c.fail("database: %v", err)
		return
	}
	if un := snap.Unresolved(); len(un) > 0 {
		for _, ref := range un {
			c.fail("rules: %s is classified but the database has no such column", ref)
		}
		return
	}
	c.ok("database: every classified column exists (%d relations)", len(snap.Schema().Relations))
}

// loadRules loads the config's rules file; nil (the empty catalog) when
// there is none.
func loadRules(cfg *fileConfig) (*rules.Catalog, error) {
	if cfg.Rules == "" {
		return nil, nil
	}
	cat, err := rules.LoadCatalog(cfg.path(cfg.Rules))
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return cat, nil
}

// enginePolicyConfig turns the file's policy section into a policy.Config.
func enginePolicyConfig(cfg *fileConfig, cat *rules.Catalog, logger *slog.Logger) policy.Config {
	pc := policy.Config{
		Timeout: time.Duration(cfg.Policy.Timeout),
		Bundle:  policy.BundleConfig{URL: cfg.Policy.Bundle.URL, Poll: time.Duration(cfg.Policy.Bundle.Poll)},
		Catalog: func() *rules.Catalog { return cat },
		Logger:  logger,
		// The proxy enforces row filters (proxy/rowfilter.go).
		RowFilters: true,
	}
	for _, p := range cfg.Policy.Paths {
		pc.Paths = append(pc.Paths, cfg.path(p))
	}
	return pc
}

// loadSnapshot reads the schema over the control connection and combines
// it with the classification.
func loadSnapshot(ctx context.Context, dsn string, cat *rules.Catalog) (*analyze.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to control_dsn: %w", err)
	}
	defer conn.Close(context.Background())
	schema, err := analyze.LoadSchema(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	var cl analyze.Classifier
	if cat != nil {
		cl = cat
	}
	return analyze.NewSnapshot(schema, cl, analyze.Trust{}), nil
}

func indent(s, prefix string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == '\n' {
			out = append(out, prefix...)
		}
	}
	return string(out)
}
