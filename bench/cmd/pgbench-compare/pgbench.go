package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runResult is one pgbench run: one case through one target in one
// repetition. Latencies come from pgbench's per-transaction log, TPS from
// pgbench itself (which excludes connection set-up), and the CPU time from
// the proxy process's /proc/<pid>/stat read right before and right after.
type runResult struct {
	Rep int `json:"rep"`
	benchCase
	Target string `json:"target"`
	// Position is the target's place (0-based) in this repetition's order.
	Position     int     `json:"position"`
	Seconds      float64 `json:"wall_seconds"`
	Load1        float64 `json:"load1_before"` // 1-minute load average at the start
	TPS          float64 `json:"tps"`
	Transactions int64   `json:"transactions"`
	Failed       int64   `json:"failed"`
	AvgUS        float64 `json:"latency_avg_us"`
	MedianUS     float64 `json:"latency_median_us"`
	P99US        float64 `json:"latency_p99_us"`
	// ProxyCPUSeconds and CPUPerTxUS are nil for direct, which has no proxy.
	ProxyCPUSeconds *float64 `json:"proxy_cpu_seconds,omitempty"`
	CPUPerTxUS      *float64 `json:"proxy_cpu_us_per_tx,omitempty"`
}

func (r runResult) brief() string {
	s := fmt.Sprintf("%9.1f tps  avg %8.0f µs  p50 %8.0f µs", r.TPS, r.AvgUS, r.MedianUS)
	if r.CPUPerTxUS != nil {
		s += fmt.Sprintf("  cpu %8.1f µs/tx", *r.CPUPerTxUS)
	}
	return s
}

// runner holds what every pgbench run shares.
type runner struct {
	o       options
	pgbench string
	env     []string
	scripts map[string][]string // workload → pgbench arguments
	logs    string              // directory for per-run logs
	seq     int                 // numbers the runs' log prefixes
}

func runMatrix(ctx context.Context, o options, t tools, w workDir, d *database, targets []*target, logf func(string, ...any)) ([]runResult, error) {
	scripts, err := writeScripts(w.path)
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, pgbench: t.pgbench, env: d.clientEnv(), scripts: scripts, logs: w.join("logs")}
	if err := os.MkdirAll(r.logs, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	if err := r.warmup(ctx, targets, logf); err != nil {
		return nil, err
	}
	total := o.Reps * len(o.Cases) * len(targets)
	runs := make([]runResult, 0, total)
	for rep := range o.Reps {
		order := rotate(targets, rep)
		for ci, c := range o.Cases {
			// Every target replays the same random sequence within a
			// repetition, and a different one in the next.
			seed := int64(rep*1000 + ci + 1)
			for pos, tg := range order {
				res, err := r.measure(ctx, c, tg, seed)
				if err != nil {
					return nil, fmt.Errorf("rep %d, %s via %s: %w", rep+1, c, tg.Name, err)
				}
				res.Rep, res.Position = rep, pos
				runs = append(runs, res)
				logf("[%d/%d] rep %d %-24s %-10s %s", len(runs), total, rep+1, c, tg.Name, res.brief())
			}
		}
	}
	return runs, nil
}

// rotate returns targets starting at index rep mod len, so that each
// target runs first, second, ... in turn: whichever position is favoured
// (a warm cache, a quiet moment) is shared out.
func rotate(targets []*target, rep int) []*target {
	k := rep % len(targets)
	return append(slices.Clone(targets[k:]), targets[:k]...)
}

// warmup runs each workload once through each target, untimed, so that the
// first measured run finds Postgres's caches, pgbouncer's server pool and
// the proxies' runtimes in the same state as the later ones.
func (r *runner) warmup(ctx context.Context, targets []*target, logf func(string, ...any)) error {
	if r.o.Warmup <= 0 {
		return nil
	}
	for _, wl := range distinctWorkloads(r.o.Cases) {
		c := benchCase{Workload: wl, Mode: "simple"}
		for _, x := range r.o.Cases {
			if x.Workload == wl {
				c.Clients = max(c.Clients, x.Clients)
			}
		}
		for _, tg := range targets {
			args := r.args(c, tg, 0, r.o.Warmup, 0, "")
			if _, err := runPgbench(ctx, r.pgbench, args, r.env); err != nil {
				return fmt.Errorf("warm-up %s via %s: %w", c, tg.Name, err)
			}
		}
	}
	logf("warm-up done")
	return nil
}

// measure runs one case through one target and computes its result.
func (r *runner) measure(ctx context.Context, c benchCase, tg *target, seed int64) (runResult, error) {
	r.seq++
	dir := filepath.Join(r.logs, strconv.Itoa(r.seq))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return runResult{}, fmt.Errorf("log dir: %w", err)
	}
	defer os.RemoveAll(dir) // a 10 s select-only run logs ~10 MB
	args := r.args(c, tg, seed, r.o.Duration, r.o.Transactions, filepath.Join(dir, "tx"))

	load := load1()
	cpu0, err := tg.cpu()
	if err != nil {
		return runResult{}, err
	}
	start := time.Now()
	out, err := runPgbench(ctx, r.pgbench, args, r.env)
	wall := time.Since(start)
	if err != nil {
		return runResult{}, err
	}
	cpu1, err := tg.cpu()
	if err != nil {
		return runResult{}, err
	}
	res := runResult{benchCase: c, Target: tg.Name, Seconds: wall.Seconds(), Load1: load}
	if err := parseSummary(out, &res); err != nil {
		return res, err
	}
	if err := readLatencies(dir, &res); err != nil {
		return res, err
	}
	if tg.proc != nil && res.Transactions > 0 {
		s := (cpu1 - cpu0).Seconds()
		perTx := s * 1e6 / float64(res.Transactions)
		res.ProxyCPUSeconds, res.CPUPerTxUS = &s, &perTx
	}
	return res, nil
}

// args builds the pgbench command line. -n skips pgbench's VACUUM before
// each run, which would otherwise be part of every target's run but not
// its measurement. logPrefix "" means no per-transaction log.
func (r *runner) args(c benchCase, tg *target, seed int64, d time.Duration, tx int, logPrefix string) []string {
	host, port, _ := net.SplitHostPort(tg.Addr)
	args := []string{"-h", host, "-p", port, "-U", benchUser, "-n",
		"-M", c.Mode, "-c", strconv.Itoa(c.Clients), "-j", strconv.Itoa(r.o.threads(c.Clients))}
	if r.o.Rate > 0 {
		args = append(args, "-R", strconv.Itoa(r.o.Rate))
	}
	if tx > 0 {
		args = append(args, "-t", strconv.Itoa(tx))
	} else {
		args = append(args, "-T", strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))))
	}
	if seed != 0 {
		args = append(args, "--random-seed="+strconv.FormatInt(seed, 10))
	}
	if logPrefix != "" {
		args = append(args, "-l", "--log-prefix="+logPrefix)
	}
	args = append(args, r.scripts[c.Workload]...)
	return append(args, benchDB)
}

// runPgbench runs pgbench and returns its standard output. On
// cancellation it gets SIGINT, like a Ctrl-C in a terminal, and is killed
// if it lingers.
func runPgbench(ctx context.Context, bin string, args, env []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 3 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("pgbench %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.String()+stdout.String(), 15))
	}
	return stdout.Bytes(), nil
}

func (tg *target) cpu() (time.Duration, error) {
	if tg.proc == nil {
		return 0, nil
	}
	if err := tg.proc.alive(); err != nil {
		return 0, err
	}
	return tg.proc.cpuTime()
}

var (
	reTPS       = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	reProcessed = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	reFailed    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
)

// parseSummary reads TPS and counts from pgbench's summary.
func parseSummary(out []byte, res *runResult) error {
	m := reTPS.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("no tps in pgbench output:\n%s", tail(string(out), 15))
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return fmt.Errorf("pgbench tps: %w", err)
	}
	res.TPS = tps
	if m := reProcessed.FindSubmatch(out); m != nil {
		res.Transactions, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if m := reFailed.FindSubmatch(out); m != nil { // PostgreSQL 15 and later
		res.Failed, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d transactions failed", res.Failed)
	}
	return nil
}

// readLatencies reads pgbench's per-transaction logs (one file per thread:
// tx.<pid>, tx.<pid>.1, ...) and fills the latency statistics.
func readLatencies(dir string, res *runResult) error {
	files, err := filepath.Glob(filepath.Join(dir, "tx.*"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no pgbench transaction log in %s", dir)
	}
	var lat []int64
	for _, f := range files {
		if lat, err = appendLatencies(lat, f); err != nil {
			return err
		}
	}
	if len(lat) == 0 {
		return errors.New("pgbench logged no transactions")
	}
	res.AvgUS, res.MedianUS, res.P99US = latencyStats(lat)
	return nil
}

// appendLatencies appends the third field of each log line, the
// transaction's latency in µs. Lines of failed or skipped transactions
// carry a word there instead; parseSummary has already refused runs with
// failures, so those lines are an error here too.
func appendLatencies(lat []int64, path string) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return lat, fmt.Errorf("pgbench log: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 3 {
			continue
		}
		us, err := strconv.ParseInt(string(fields[2]), 10, 64)
		if err != nil {
			return lat, fmt.Errorf("pgbench log %s: transaction not completed: %q", filepath.Base(path), sc.Text())
		}
		lat = append(lat, us)
	}
	if err := sc.Err(); err != nil {
		return lat, fmt.Errorf("pgbench log: %w", err)
	}
	return lat, nil
}

// latencyStats returns the mean, median and 99th percentile (nearest rank)
// of lat, which it sorts.
func latencyStats(lat []int64) (avg, median, p99 float64) {
	slices.Sort(lat)
	var sum int64
	for _, v := range lat {
		sum += v
	}
	n := len(lat)
	avg = float64(sum) / float64(n)
	if n%2 == 1 {
		median = float64(lat[n/2])
	} else {
		median = float64(lat[n/2-1]+lat[n/2]) / 2
	}
	p99 = float64(lat[max(0, (99*n+99)/100-1)])
	return avg, median, p99
}
