// Command pgbench-compare runs pgbench side by side, in one interleaved run,
// against Postgres directly, through pgbouncer (session mode) and through
// pgveil (pass-through, plus any --target configs such as masking), and
// prints a Markdown table of medians with ratios to direct and to pgbouncer.
//
// Everything it needs is started here and torn down on exit, including on
// Ctrl-C: a throwaway Postgres (proxy/pgtest), pgbouncer from the Debian
// package and pgveil built from this checkout. See bench/README.md.
//
// Why interleaved: on a small, shared VM the machine's speed drifts by more
// than the differences we measure. Running every target for every case in
// each repetition, in a rotating order, and quoting medians of paired ratios,
// cancels most of that drift.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runMain returns the exit code: 0, 1 on failure, 2 on bad flags, 130 when
// interrupted (after cleaning up).
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, errHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "pgbench-compare: %v\n", err)
		return 2
	}
	err = run(ctx, o, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "pgbench-compare: interrupted; everything it started is stopped")
		return 130
	default:
		fmt.Fprintf(stderr, "pgbench-compare: %v\n", err)
		return 1
	}
}

// run sets up the database and the targets, runs the matrix and reports.
// Every deferred stop runs on error and on interruption alike.
func run(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	tools, err := findTools(o)
	if err != nil {
		return err
	}
	if l := load1(); l > float64(runtime.NumCPU())/2 {
		logf("warning: load average %.1f on %d CPUs before starting: something else is running, expect noisy numbers", l, runtime.NumCPU())
	}
	work, err := newWorkDir()
	if err != nil {
		return err
	}
	defer work.remove()

	pg, err := startDatabase(ctx, o, tools, logf)
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := pg.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	targets, stopTargets, err := startTargets(ctx, o, tools, work, pg, logf)
	defer stopTargets()
	if err != nil {
		return err
	}
	machine := collectMachine(ctx, tools, pg)
	logf("%s; estimated run time %s", machine.oneLine(), estimate(o, len(targets)).Round(time.Second))

	started := time.Now().UTC()
	runs, err := runMatrix(ctx, o, tools, work, pg, targets, logf)
	if err != nil {
		return err
	}
	rep := newReport(o, machine, targets, runs, started)
	path, err := rep.writeJSON(o.ResultsDir)
	if err != nil {
		return err
	}
	logf("raw results: %s", path)
	return rep.writeMarkdown(stdout)
}
