// Command pgveil is a PostgreSQL sidecar proxy that masks personal data in
// result rows per a Rego policy, records every personal-data access as an
// OpenTelemetry span, and carries out GDPR duties on stored data.
//
// Usage:
//
//	pgveil serve --config pgveil.yaml
//	pgveil serve --listen 127.0.0.1:6432 --upstream 127.0.0.1:5432
//	pgveil demo
//
// Run "pgveil help" for every command.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	setMaxProcs()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// setMaxProcs gives pgveil half of the CPUs Go would use (at least one)
// unless GOMAXPROCS is set. pgveil is a sidecar: it shares its machine with
// the application and often with Postgres, and a relay that spreads its
// sessions over every CPU pays for cross-CPU wake-ups. Measured on 2 cores,
// 8 pgbench clients, select-only: 1.33x pgbouncer's CPU per transaction
// with GOMAXPROCS=2, 1.11-1.15x with 1 (bench/README.md).
func setMaxProcs() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(max(1, runtime.GOMAXPROCS(0)/2))
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "run the proxy", runServe},
		{"demo", "run the proxy on a throwaway Postgres with the demo dataset", runDemo},
		{"check", "validate the config, rules and policy, and run the policy's tests", runCheck},
		{"explain", "show the policy input, decision and masks for a statement", runExplain},
		{"audit", "audit trail tools: the pseudonym of a data subject", runAudit},
		{"retention", "apply the rules' retention clauses to stored data", runRetention},
		{"subject", "data-subject requests: export, erase, rectify, restrict, unrestrict", runSubject},
		{"scan", "find personal data in a database and propose rules (--check: CI gate)", runScan},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			// SIGINT and SIGTERM cancel ctx; a second signal kills the
			// process the default way.
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "pgveil: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: pgveil <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "pgveil <command> -h" for a command's flags.`)
}
