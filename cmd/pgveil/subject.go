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

	"github.com/pgveil/pgveil/rules/subject"
)

// runSubject is `pgveil subject ACTION --id X`: data-subject requests
// (package rules/subject).
func runSubject(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	actions := map[string]bool{"export": true, "erase": true, "rectify": true, "restrict": true, "unrestrict": true}
	if len(args) == 0 || !actions[args[0]] {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			subjectUsage(stdout)
			return 0
		}
		if len(args) > 0 {
			fmt.Fprintf(stderr, "pgveil subject: unknown action %q\n\n", args[0])
		}
		subjectUsage(stderr)
		return 2
	}
	action := args[0]
	name := "pgveil subject " + action
	fs := flag.NewFlagSet("subject "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML): control_dsn, rules, audit")
	id := fs.String("id", "", "the data subject's id: the value of the rules' subject_key columns")
	operator := fs.String("operator", "", "who carries out the request, for the audit trail (default: the OS user)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var out, table, reason *string
	var dryRun *bool
	var sets repeatedFlag
	switch action {
	case "export":
		out = fs.String("out", "", "write the export to this file (mode 0600) instead of standard output")
	case "erase":
		dryRun = fs.Bool("dry-run", false, "report what would happen, change nothing")
	case "rectify":
		fs.Var(&sets, "set", "column=value to set; repeatable")
		table = fs.String("table", "", "the table (schema.table); needed when a column is classified in several")
	case "restrict":
		reason = fs.String("reason", "", "why processing is restricted (recorded with the restriction)")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: pgveil subject %s --config pgveil.yaml --id X [flags]\n", action)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		return 2
	}
	if *id == "" {
		fmt.Fprintf(stderr, "%s: --id is required\n", name)
		return 2
	}
	var assigns []subject.Assignment
	for _, s := range sets {
		col, val, ok := strings.Cut(s, "=")
		if !ok || col == "" {
			fmt.Fprintf(stderr, "%s: --set wants column=value, got a value without \"=\"\n", name)
			return 2
		}
		assigns = append(assigns, subject.Assignment{Column: col, Value: val})
	}
	if action == "rectify" && len(assigns) == 0 {
		fmt.Fprintf(stderr, "%s: --set column=value is required\n", name)
		return 2
	}

	env, err := openGDPR(ctx, *configPath, *operator, "pgveil subject", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	p, err := subject.New(subject.Config{Catalog: env.catalog, Tracer: env.tracer, Operator: env.operator, Version: pgveilVersion()})
	if err != nil {
		env.close()
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	var report any
	switch action {
	case "export":
		var sum *subject.ExportSummary
		if *out == "" {
			sum, err = p.Export(ctx, env.conn, *id, stdout)
		} else {
			err = writeFileAtomic(*out, func(w io.Writer) error {
				var err error
				sum, err = p.Export(ctx, env.conn, *id, w)
				return err
			})
		}
		if err == nil {
			fmt.Fprintf(stderr, "exported %d rows of subject %s from %d tables\n", sum.Rows, sum.Subject, len(sum.Tables))
		}
	case "erase":
		var rep *subject.EraseReport
		rep, err = p.Erase(ctx, env.conn, *id, *dryRun)
		if err == nil {
			report = rep
			if !*asJSON {
				printErase(stdout, rep)
			}
		}
	case "rectify":
		var rep *subject.RectifyReport
		rep, err = p.Rectify(ctx, env.conn, *id, *table, assigns)
		if err == nil {
			report = rep
			if !*asJSON {
				fmt.Fprintf(stdout, "subject %s: rectified %s in %s (%d rows)\n", rep.Subject, strings.Join(rep.Columns, ", "), rep.Table, rep.Rows)
			}
		}
	case "restrict", "unrestrict":
		var rep *subject.RestrictReport
		if action == "restrict" {
			rep, err = p.Restrict(ctx, env.conn, *id, *reason)
		} else {
			rep, err = p.Unrestrict(ctx, env.conn, *id)
		}
		if err == nil {
			report = rep
			if !*asJSON {
				printRestriction(stdout, action, rep)
			}
		}
	}
	closeErr := env.close()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if report != nil && *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(report)
	}
	if closeErr != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, closeErr)
		return 1
	}
	return 0
}

func subjectUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: pgveil subject ACTION --config pgveil.yaml --id X [--operator NAME] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  export      every row of the subject, as one JSON document [--out FILE]")
	fmt.Fprintln(w, "  erase       delete or redact the subject's personal data, keeping legal holds [--dry-run]")
	fmt.Fprintln(w, "  rectify     set classified columns: --set column=value [--set ...] [--table T]")
	fmt.Fprintln(w, "  restrict    put the subject on the restriction list [--reason TEXT]")
	fmt.Fprintln(w, "  unrestrict  take the subject off the restriction list")
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "pgveil subject ACTION -h" for an action's flags.`)
}

// printErase writes an erasure report for people.
func printErase(w io.Writer, rep *subject.EraseReport) {
	mode := ""
	if rep.DryRun {
		mode = " (dry run: rolled back, nothing changed)"
	}
	fmt.Fprintf(w, "subject %s: erasure%s\n", rep.Subject, mode)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, a := range rep.Actions {
		unit := "rows"
		if a.Rows == 1 {
			unit = "row"
		}
		detail := a.Reason
		if len(a.Columns) > 0 {
			detail = strings.Join(a.Columns, ", ") + " erased: " + a.Reason
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d %s\t%s\n", a.Action, a.Table, a.Rows, unit, detail)
	}
	tw.Flush()
}

func printRestriction(w io.Writer, action string, rep *subject.RestrictReport) {
	switch {
	case action == "restrict" && rep.Changed:
		fmt.Fprintf(w, "subject %s: processing restricted\n", rep.Subject)
	case action == "restrict":
		fmt.Fprintf(w, "subject %s: already restricted since %s by %s\n", rep.Subject, rep.Since.UTC().Format(time.RFC3339), rep.Operator)
	case rep.Changed:
		fmt.Fprintf(w, "subject %s: restriction lifted (restricted since %s)\n", rep.Subject, rep.Since.UTC().Format(time.RFC3339))
	default:
		fmt.Fprintf(w, "subject %s: was not restricted\n", rep.Subject)
	}
}
