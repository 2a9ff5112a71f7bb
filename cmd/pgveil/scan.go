package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/discover"
)

// runScan is `pgveil scan`: find personal data in a live database and
// propose rules for it, or (--check) fail when the rules miss some
// (package rules/discover).
func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML): its control_dsn and rules are the defaults of --dsn and --rules")
	dsn := fs.String("dsn", "", "the database to scan (a role that can read every table, such as a member of pg_read_all_data)")
	rulesPath := fs.String("rules", "", "the current rules file, to compare with")
	sample := fs.Int("sample", discover.DefaultSampleRows, "rows to sample per table")
	minConf := fs.Float64("min-confidence", discover.DefaultMinConfidence, "confidence (0-1) from which a column counts as personal data")
	check := fs.Bool("check", false, "exit 1 and list the columns when the database holds likely personal data that the rules do not classify")
	out := fs.String("out", "", "write the proposed rules to this file instead of standard output")
	asJSON := fs.Bool("json", false, "print every column's finding as JSON instead of the proposed rules")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pgveil scan --dsn DSN [--rules rules.yaml] [--sample N]")
		fmt.Fprintln(stderr, "       pgveil scan --check --config pgveil.yaml")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pgveil scan: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *configPath != "" {
		cfg, err := loadConfig(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "pgveil scan: %v\n", err)
			return 1
		}
		if *dsn == "" {
			*dsn = cfg.ControlDSN
		}
		if *rulesPath == "" && cfg.Rules != "" {
			*rulesPath = cfg.path(cfg.Rules)
		}
	}
	if *dsn == "" {
		fmt.Fprintln(stderr, "pgveil scan: --dsn (or --config with a control_dsn) is required")
		return 2
	}
	if *check && *rulesPath == "" {
		fmt.Fprintln(stderr, "pgveil scan: --check needs the rules to compare with (--rules, or --config with rules)")
		return 2
	}
	var cat *rules.Catalog
	if *rulesPath != "" {
		c, err := rules.LoadCatalog(*rulesPath)
		if err != nil {
			fmt.Fprintf(stderr, "pgveil scan: %v\n", err)
			return 1
		}
		cat = c
	}
	conn, err := connectControl(ctx, *dsn, "pgveil scan")
	if err != nil {
		fmt.Fprintf(stderr, "pgveil scan: %v\n", err)
		return 1
	}
	res, err := discover.Scan(ctx, conn, discover.Config{SampleRows: *sample, Catalog: cat, MinConfidence: *minConf})
	conn.Close(context.Background())
	if err != nil {
		fmt.Fprintf(stderr, "pgveil scan: %v\n", err)
		return 1
	}
	for _, t := range res.Tables {
		if t.SampleError != "" {
			fmt.Fprintf(stderr, "warning: %s: values not sampled (%s): judged by names and types only\n", t.Table, t.SampleError)
		}
	}
	missing := res.Missing()
	if *check {
		if len(missing) > 0 {
			fmt.Fprintf(stderr, "pgveil scan: %d columns look like personal data but the rules do not classify them:\n%s", len(missing), discover.FormatMissing(missing))
			fmt.Fprintln(stderr, `Classify them in the rules (run "pgveil scan" without --check for a proposal).`)
			return 1
		}
		n := 0
		for _, t := range res.Tables {
			for _, f := range t.Columns {
				if res.Personal(f) {
					n++
				}
			}
		}
		fmt.Fprintf(stdout, "ok: the rules classify every column that looks like personal data (%d columns in %d tables scanned)\n", n, len(res.Tables))
		return 0
	}
	write := func(w io.Writer) error {
		if *asJSON {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}
		return res.WriteRules(w)
	}
	if *out != "" {
		err = writeFileAtomic(*out, write)
	} else {
		err = write(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pgveil scan: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "scanned %d tables; %d columns the rules do not classify look like personal data (marked NEW)\n", len(res.Tables), len(missing))
	return 0
}
