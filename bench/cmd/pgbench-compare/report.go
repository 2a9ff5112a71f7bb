package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// report is the JSON written to the results dir: the settings, the
// machine, every run, and the summary that the Markdown table shows.
type report struct {
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Machine  machine      `json:"machine"`
	Settings settings     `json:"settings"`
	Targets  []string     `json:"targets"`
	Summary  []summaryRow `json:"summary"`
	Runs     []runResult  `json:"runs"`
}

type settings struct {
	Preset       string        `json:"preset"`
	Reps         int           `json:"reps"`
	Duration     string        `json:"duration"`
	Transactions int           `json:"transactions_per_client,omitempty"`
	Warmup       string        `json:"warmup"`
	Scale        int           `json:"scale"`
	Threads      int           `json:"threads,omitempty"`
	Cases        []benchCase   `json:"cases"`
	ExtraTargets []extraTarget `json:"extra_targets,omitempty"`
}

// summaryRow is one case through one target, over all repetitions. Values
// are medians over repetitions; ratios and differences are medians of the
// per-repetition ratios and differences, so that drift between repetitions
// (which hits every target of a repetition alike) cancels out. Pointers are
// nil where a comparison does not apply.
type summaryRow struct {
	benchCase
	Target       string  `json:"target"`
	Reps         int     `json:"reps"`
	TPS          float64 `json:"tps"`
	TPSSpreadPct float64 `json:"tps_spread_pct"` // (max-min)/median
	AvgUS        float64 `json:"latency_avg_us"`
	MedianUS     float64 `json:"latency_median_us"`

	VsDirect      *float64 `json:"tps_vs_direct,omitempty"`
	VsPgbouncer   *float64 `json:"tps_vs_pgbouncer,omitempty"`
	VsPgveil      *float64 `json:"tps_vs_pgveil,omitempty"` // extra targets only
	AddedMedianUS *float64 `json:"added_median_latency_us,omitempty"`
	CPUPerTxUS    *float64 `json:"proxy_cpu_us_per_tx,omitempty"`
	CPUVsBouncer  *float64 `json:"cpu_vs_pgbouncer,omitempty"`
}

func newReport(o options, m machine, targets []*target, runs []runResult, started time.Time) *report {
	r := &report{
		Started: started, Finished: time.Now().UTC(), Machine: m, Runs: runs,
		Settings: settings{
			Preset: o.Preset, Reps: o.Reps, Duration: o.Duration.String(), Transactions: o.Transactions,
			Warmup: o.Warmup.String(), Scale: o.Scale, Threads: o.Threads, Cases: o.Cases, ExtraTargets: o.Targets,
		},
	}
	for _, t := range targets {
		r.Targets = append(r.Targets, t.Name)
	}
	r.Summary = summarize(o.Cases, r.Targets, runs)
	return r
}

// summarize builds one row per case and target, in matrix order.
func summarize(cases []benchCase, targets []string, runs []runResult) []summaryRow {
	type key struct {
		c benchCase
		t string
	}
	byRep := map[key]map[int]runResult{}
	for _, r := range runs {
		k := key{r.benchCase, r.Target}
		if byRep[k] == nil {
			byRep[k] = map[int]runResult{}
		}
		byRep[k][r.Rep] = r
	}
	var rows []summaryRow
	for _, c := range cases {
		get := func(t string) map[int]runResult { return byRep[key{c, t}] }
		for _, t := range targets {
			if rs := get(t); len(rs) > 0 {
				rows = append(rows, summarizeOne(c, t, rs, get))
			}
		}
	}
	return rows
}

func summarizeOne(c benchCase, t string, rs map[int]runResult, get func(string) map[int]runResult) summaryRow {
	row := summaryRow{benchCase: c, Target: t, Reps: len(rs)}
	var tps, avg, p50, cpu []float64
	for _, r := range rs {
		tps = append(tps, r.TPS)
		avg = append(avg, r.AvgUS)
		p50 = append(p50, r.MedianUS)
		if r.CPUPerTxUS != nil {
			cpu = append(cpu, *r.CPUPerTxUS)
		}
	}
	row.TPS, row.AvgUS, row.MedianUS = median(tps), median(avg), median(p50)
	if row.TPS > 0 {
		row.TPSSpreadPct = (slices.Max(tps) - slices.Min(tps)) / row.TPS * 100
	}
	if len(cpu) > 0 {
		row.CPUPerTxUS = ptr(median(cpu))
	}
	tpsOf := func(r runResult) float64 { return r.TPS }
	if t != targetDirect {
		row.VsDirect = pairedRatio(rs, get(targetDirect), tpsOf)
		row.AddedMedianUS = pairedDiff(rs, get(targetDirect), func(r runResult) float64 { return r.MedianUS })
	}
	if t != targetDirect && t != targetPgbouncer {
		row.VsPgbouncer = pairedRatio(rs, get(targetPgbouncer), tpsOf)
		row.CPUVsBouncer = pairedRatio(rs, get(targetPgbouncer), func(r runResult) float64 {
			if r.CPUPerTxUS == nil {
				return 0
			}
			return *r.CPUPerTxUS
		})
	}
	if t != targetDirect && t != targetPgbouncer && t != targetPgveil {
		row.VsPgveil = pairedRatio(rs, get(targetPgveil), tpsOf)
	}
	return row
}

// pairedRatio is the median over repetitions of f(a)/f(b), using only
// repetitions present in both with f(b) > 0; nil if there are none.
func pairedRatio(a, b map[int]runResult, f func(runResult) float64) *float64 {
	var v []float64
	for rep, ra := range a {
		if rb, ok := b[rep]; ok && f(rb) > 0 {
			v = append(v, f(ra)/f(rb))
		}
	}
	if len(v) == 0 {
		return nil
	}
	return ptr(median(v))
}

// pairedDiff is the median over repetitions of f(a)-f(b).
func pairedDiff(a, b map[int]runResult, f func(runResult) float64) *float64 {
	var v []float64
	for rep, ra := range a {
		if rb, ok := b[rep]; ok {
			v = append(v, f(ra)-f(rb))
		}
	}
	if len(v) == 0 {
		return nil
	}
	return ptr(median(v))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ptr(f float64) *float64 { return &f }

// writeJSON writes the report to dir/pgbench-compare-<UTC time>.json.
func (r *report) writeJSON(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results dir: %w", err)
	}
	path := filepath.Join(dir, "pgbench-compare-"+r.Started.Format("20060102T150405Z")+".json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write results: %w", err)
	}
	return path, nil
}

// writeMarkdown prints the table, the latency headline, the checks
// and the machine, ready to paste into the README.
func (r *report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	s := r.Settings
	length := s.Duration
	if s.Transactions > 0 {
		length = fmt.Sprintf("%d transactions per client", s.Transactions)
	}
	fmt.Fprintf(&b, "### pgbench: %s\n\n", strings.Join(r.Targets, " vs "))
	fmt.Fprintf(&b, "Medians of %d interleaved repetitions of %s per run (pgbench -i -s %d; target order rotated per repetition). "+
		"Ratios and added latency are medians of per-repetition ratios and differences. "+
		"CPU is the proxy process's user+system time per transaction.\n\n", s.Reps, length, s.Scale)
	r.writeTable(&b)
	r.writeLatencyHeadline(&b)
	r.writeChecks(&b)
	fmt.Fprintf(&b, "\nMachine: %s.\n", r.Machine.oneLine())
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *report) writeTable(b *strings.Builder) {
	extra := len(r.Targets) > 3
	head := "| workload | mode | clients | target | TPS | spread | × direct | × pgbouncer |"
	align := "|---|---|---:|---|---:|---:|---:|---:|"
	if extra {
		head += " × pgveil |"
		align += "---:|"
	}
	b.WriteString(head + " avg latency µs | median latency µs | + median µs | proxy CPU µs/tx | CPU × pgbouncer |\n")
	b.WriteString(align + "---:|---:|---:|---:|---:|\n")
	var prev benchCase
	for _, row := range r.Summary {
		w, m, c := "", "", ""
		if row.benchCase != prev { // print the case once per group
			w, m, c = row.Workload, row.Mode, fmt.Sprint(row.Clients)
			prev = row.benchCase
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %.0f%% | %s | %s |", w, m, c, row.Target,
			fmtTPS(row.TPS), row.TPSSpreadPct, fmtRatio(row.VsDirect), fmtRatio(row.VsPgbouncer))
		if extra {
			fmt.Fprintf(b, " %s |", fmtRatio(row.VsPgveil))
		}
		fmt.Fprintf(b, " %.0f | %.0f | %s | %s | %s |\n", row.AvgUS, row.MedianUS,
			fmtSigned(row.AddedMedianUS), fmtCPU(row.CPUPerTxUS), fmtRatio(row.CPUVsBouncer))
	}
}

// writeLatencyHeadline states the added median latency of the cheapest
// statement at one client, where the proxy's own cost is least hidden.
func (r *report) writeLatencyHeadline(b *strings.Builder) {
	var parts []string
	for _, row := range r.Summary {
		if row.Workload == "select-only" && row.Clients == 1 && row.AddedMedianUS != nil {
			parts = append(parts, fmt.Sprintf("%s %+.0f µs (%s)", row.Target, *row.AddedMedianUS, row.Mode))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(b, "\nAdded median latency over direct, 1-row select-only at 1 client: %s.\n", strings.Join(parts, ", "))
	}
}

// writeChecks evaluates the bench criteria of issues 2 and 3: pgveil at
// least as fast as pgbouncer on select-only and the 10,000-row script,
// using no more CPU per transaction, adding < 30 µs median latency at one
// client; masking targets within 10% of pass-through on 10,000 rows.
func (r *report) writeChecks(b *strings.Builder) {
	var lines []string
	check := func(ok bool, format string, args ...any) {
		mark := "✗"
		if ok {
			mark = "✓"
		}
		lines = append(lines, fmt.Sprintf("- %s %s", mark, fmt.Sprintf(format, args...)))
	}
	for _, row := range r.Summary {
		if row.Target == targetDirect || row.Target == targetPgbouncer {
			continue
		}
		name := row.Target + " " + row.benchCase.String()
		if (row.Workload == "select-only" || row.Workload == "wide10k") && row.VsPgbouncer != nil {
			check(*row.VsPgbouncer >= 1, "%s: TPS %.3f× pgbouncer (want ≥ 1)", name, *row.VsPgbouncer)
		}
		if row.CPUVsBouncer != nil {
			check(*row.CPUVsBouncer <= 1, "%s: CPU/tx %.3f× pgbouncer (want ≤ 1)", name, *row.CPUVsBouncer)
		}
		if row.Workload == "select-only" && row.Clients == 1 && row.AddedMedianUS != nil {
			check(*row.AddedMedianUS < 30, "%s: %+.0f µs median latency over direct (want < 30)", name, *row.AddedMedianUS)
		}
		if row.Workload == "wide10k" && row.VsPgveil != nil {
			check(*row.VsPgveil >= 0.9, "%s: TPS %.3f× pgveil pass-through (want ≥ 0.9)", name, *row.VsPgveil)
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(b, "\nChecks:\n\n%s\n", strings.Join(lines, "\n"))
	}
}

func fmtTPS(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func fmtRatio(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%.2f", *v)
}

func fmtSigned(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%+.0f", *v)
}

func fmtCPU(v *float64) string {
	if v == nil {
		return ""
	}
	if *v >= 100 {
		return fmt.Sprintf("%.0f", *v)
	}
	return fmt.Sprintf("%.1f", *v)
}
