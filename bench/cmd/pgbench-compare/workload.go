package main

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// wideTableSQL creates and fills bench_wide (10,000 rows).
//
//go:embed bench_wide.sql
var wideTableSQL string

// workload is what pgbench runs: a built-in script or a custom one.
type workload struct {
	// builtin is the pgbench -b name, or "" for a custom script.
	builtin string
	// script is the custom script's text (pgbench -f).
	script string
	// rows is the number of rows one transaction returns, for the report.
	rows int
}

// The wide scripts select every column so that the proxy relays (and, with a
// masking target, rewrites) all ten. wide100 uses the primary key so that
// the server's work is small next to the relay's; wide10k is a full scan of
// the 10,000-row table, a bulk read.
var workloads = map[string]workload{
	"select-only": {builtin: "select-only", rows: 1},
	"tpcb-like":   {builtin: "tpcb-like", rows: 1},
	// wide1 is a 1-row read of personal data (with a masking target: three
	// masked columns, one audit span per statement).
	"wide1": {rows: 1, script: `\set id random(1, 10000)
SELECT id, name, email, phone, birth_date, created_at, amount, score, active, note FROM bench_wide WHERE id = :id;
`},
	"wide100": {rows: 100, script: `\set lo random(1, 9901)
SELECT id, name, email, phone, birth_date, created_at, amount, score, active, note FROM bench_wide WHERE id BETWEEN :lo AND :lo + 99;
`},
	"wide10k": {rows: 10000, script: `SELECT id, name, email, phone, birth_date, created_at, amount, score, active, note FROM bench_wide;
`},
}

func workloadNames() []string {
	names := make([]string, 0, len(workloads))
	for n := range workloads {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// writeScripts writes the custom scripts into dir and returns the pgbench
// arguments that select each workload.
func writeScripts(dir string) (map[string][]string, error) {
	args := make(map[string][]string, len(workloads))
	for name, w := range workloads {
		if w.builtin != "" {
			args[name] = []string{"-b", w.builtin}
			continue
		}
		path := filepath.Join(dir, name+".sql")
		if err := os.WriteFile(path, []byte(w.script), 0o644); err != nil {
			return nil, fmt.Errorf("write pgbench script: %w", err)
		}
		args[name] = []string{"-f", path}
	}
	return args, nil
}

// expandConfig replaces the harness's placeholders in an extra target's
// config, so that a masking config can reach the throwaway database (whose
// port is only known at run time). Only these exact ${NAME} tokens are
// replaced; any other $ is left alone.
func expandConfig(text string, vars map[string]string) string {
	pairs := make([]string, 0, 2*len(vars))
	for k, v := range vars {
		pairs = append(pairs, "${"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(text)
}
