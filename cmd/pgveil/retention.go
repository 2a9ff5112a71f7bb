package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pgveil/pgveil/rules/retention"
)

// runRetention is `pgveil retention run`: apply the rules' retention
// clauses to the stored data (package rules/retention).
func runRetention(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "run" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			retentionUsage(stdout)
			return 0
		}
		retentionUsage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("retention run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML): control_dsn, rules, audit")
	dryRun := fs.Bool("dry-run", false, "count what would change, write nothing")
	nowFlag := fs.String("now", "", "measure ages from this instant (RFC 3339 or YYYY-MM-DD, UTC); default: now")
	batch := fs.Int("batch", retention.DefaultBatchSize, "rows per transaction")
	operator := fs.String("operator", "", "who runs the job, for the audit trail (default: the OS user)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var tables repeatedFlag
	fs.Var(&tables, "table", "only this table (schema.table); repeatable")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pgveil retention run --config pgveil.yaml [--dry-run] [--now T] [--batch N] [--table T]...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pgveil retention run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var now time.Time
	if *nowFlag != "" {
		t, err := parseInstant(*nowFlag)
		if err != nil {
			fmt.Fprintf(stderr, "pgveil retention run: --now: %v\n", err)
			return 2
		}
		now = t
	}
	env, err := openGDPR(ctx, *configPath, *operator, "pgveil retention", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil retention run: %v\n", err)
		return 1
	}
	rep, runErr := retention.Run(ctx, env.conn, retention.Config{
		Catalog:   env.catalog,
		Tracer:    env.tracer,
		Operator:  env.operator,
		Now:       now,
		BatchSize: *batch,
		DryRun:    *dryRun,
		Tables:    tables,
	})
	closeErr := env.close()
	if rep != nil {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(rep)
		} else {
			printRetention(stdout, rep)
		}
	}
	switch {
	case runErr != nil && errors.Is(runErr, context.Canceled):
		fmt.Fprintln(stderr, "pgveil retention run: interrupted; the committed batches stay, run again to finish")
		return 1
	case runErr != nil:
		fmt.Fprintf(stderr, "pgveil retention run: %v\n", runErr)
		return 1
	case closeErr != nil:
		fmt.Fprintf(stderr, "pgveil retention run: %v\n", closeErr)
		return 1
	}
	return 0
}

func retentionUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: pgveil retention run --config pgveil.yaml [--dry-run] [--now T] [--batch N] [--table T]...")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Applies the rules' retention clauses to the stored data: rows older than a")
	fmt.Fprintln(w, "clause's age get its masks, in batches. Idempotent and safe to interrupt,")
	fmt.Fprintln(w, "repeat or run from several instances at once.")
}

// parseInstant parses an RFC 3339 time or a date (midnight UTC).
func parseInstant(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)", s)
}

// printRetention writes the report for people.
func printRetention(w io.Writer, rep *retention.Report) {
	mode := ""
	if rep.DryRun {
		mode = " (dry run: nothing written)"
	}
	fmt.Fprintf(w, "retention at %s%s\n", rep.Now.UTC().Format(time.RFC3339), mode)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, t := range rep.Tables {
		var clauses []string
		for _, c := range t.Clauses {
			clauses = append(clauses, fmt.Sprintf("after %s (before %s)", c.After, c.Cutoff.UTC().Format(time.DateOnly)))
		}
		fmt.Fprintf(tw, "%s\t%d rows\t%d batches\t%s, in %s\n", t.Table, t.Rows, t.Batches, strings.Join(clauses, "; "), t.Method)
		masks := map[string][]string{}
		for _, c := range t.Clauses {
			for col, m := range c.Redact {
				masks[col] = append(masks[col], m)
			}
		}
		for _, c := range t.Columns {
			fmt.Fprintf(tw, "  %s\t%d values\t%s\t\n", c.Column, c.Values, strings.Join(masks[c.Column], ", "))
		}
	}
	tw.Flush()
}
