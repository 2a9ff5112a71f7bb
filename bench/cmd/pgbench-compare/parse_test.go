package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A comm with spaces and a parenthesis must not shift the fields.
	stat := "4242 (pg veil) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 567 0 0 20 0 9 0 100 0 0\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 1234+567 {
		t.Fatalf("parseStatCPU = %d, %v; want 1801", got, err)
	}
	for _, bad := range []string{"", "1 (x S 1", "1 (x) S 1 2 3"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q): no error", bad)
		}
	}
}

func TestLatencyStats(t *testing.T) {
	for _, tc := range []struct {
		in            []int64
		avg, med, p99 float64
	}{
		{[]int64{5}, 5, 5, 5},
		{[]int64{4, 1, 3, 2}, 2.5, 2.5, 4},
		{[]int64{30, 10, 20}, 20, 20, 30},
	} {
		avg, med, p99 := latencyStats(slices.Clone(tc.in))
		if avg != tc.avg || med != tc.med || p99 != tc.p99 {
			t.Errorf("latencyStats(%v) = %v, %v, %v; want %v, %v, %v", tc.in, avg, med, p99, tc.avg, tc.med, tc.p99)
		}
	}
	// p99 of 1..200 by nearest rank is the 198th value.
	lat := make([]int64, 200)
	for i := range lat {
		lat[i] = int64(200 - i)
	}
	if _, _, p99 := latencyStats(lat); p99 != 198 {
		t.Errorf("p99 of 1..200 = %v, want 198", p99)
	}
}

const pgbenchOutput = `transaction type: <builtin: select only>
scaling factor: 10
query mode: simple
number of clients: 1
number of threads: 1
maximum number of tries: 1
duration: 3 s
number of transactions actually processed: 30012
number of failed transactions: 0 (0.000%)
latency average = 0.099 ms
initial connection time = 5.123 ms
tps = 10049.283551 (without initial connection time)
`

func TestParseSummary(t *testing.T) {
	var r runResult
	if err := parseSummary([]byte(pgbenchOutput), &r); err != nil {
		t.Fatal(err)
	}
	if r.TPS != 10049.283551 || r.Transactions != 30012 || r.Failed != 0 {
		t.Fatalf("got %+v", r)
	}
	failed := strings.Replace(pgbenchOutput, "failed transactions: 0", "failed transactions: 3", 1)
	if err := parseSummary([]byte(failed), &r); err == nil {
		t.Error("failed transactions not reported")
	}
	if err := parseSummary([]byte("pgbench: error: connection refused\n"), &r); err == nil {
		t.Error("missing tps not reported")
	}
}

func TestReadLatencies(t *testing.T) {
	dir := t.TempDir()
	// Two threads' logs: client_id transaction_no time script_no time_epoch time_us.
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tx.77", "0 0 100 0 1700000000 1\n0 1 300 0 1700000000 2\n")
	write("tx.77.1", "1 0 200 0 1700000000 3\n")
	var r runResult
	if err := readLatencies(dir, &r); err != nil {
		t.Fatal(err)
	}
	if r.AvgUS != 200 || r.MedianUS != 200 || r.P99US != 300 {
		t.Fatalf("got avg %v median %v p99 %v", r.AvgUS, r.MedianUS, r.P99US)
	}
	write("tx.77.2", "2 0 failed 0 1700000000 4\n")
	if err := readLatencies(dir, &r); err == nil {
		t.Error("failed transaction line not reported")
	}
	if err := readLatencies(t.TempDir(), &r); err == nil {
		t.Error("missing log not reported")
	}
}

func TestRotate(t *testing.T) {
	ts := []*target{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	for rep, want := range []string{"abc", "bca", "cab", "abc"} {
		var got string
		for _, tg := range rotate(ts, rep) {
			got += tg.Name
		}
		if got != want {
			t.Errorf("rotate(rep %d) = %s, want %s", rep, got, want)
		}
	}
}

func TestSummarizePairsByRepetition(t *testing.T) {
	c := benchCase{"select-only", "simple", 1}
	cpu := func(v float64) *float64 { return &v }
	run := func(rep int, target string, tps, p50 float64, cpuPerTx *float64) runResult {
		return runResult{Rep: rep, benchCase: c, Target: target, TPS: tps, MedianUS: p50, CPUPerTxUS: cpuPerTx}
	}
	// The machine is twice as fast in rep 1: paired ratios stay exact.
	runs := []runResult{
		run(0, targetDirect, 1000, 100, nil), run(0, targetPgbouncer, 600, 150, cpu(40)), run(0, targetPgveil, 900, 120, cpu(20)),
		run(1, targetDirect, 2000, 50, nil), run(1, targetPgbouncer, 1200, 75, cpu(40)), run(1, targetPgveil, 1800, 60, cpu(20)),
		run(2, targetDirect, 1000, 100, nil), run(2, targetPgbouncer, 600, 150, cpu(40)), run(2, targetPgveil, 900, 120, cpu(20)),
	}
	rows := summarize([]benchCase{c}, []string{targetDirect, targetPgbouncer, targetPgveil}, runs)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	veil := rows[2]
	if veil.Target != targetPgveil || veil.TPS != 900 || *veil.VsDirect != 0.9 || *veil.VsPgbouncer != 1.5 ||
		*veil.AddedMedianUS != 20 || *veil.CPUPerTxUS != 20 || *veil.CPUVsBouncer != 0.5 || veil.VsPgveil != nil {
		t.Fatalf("pgveil row: %+v", veil)
	}
	if rows[0].VsDirect != nil || rows[1].VsPgbouncer != nil || rows[1].CPUPerTxUS == nil {
		t.Fatalf("direct/pgbouncer rows: %+v %+v", rows[0], rows[1])
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--quick"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Reps != 3 || o.Duration != 3*time.Second || len(o.Cases) != 3 {
		t.Fatalf("quick: %+v", o)
	}
	o, err = parseFlags([]string{"--quick", "--reps", "7", "--workloads", "wide10k", "--clients", "1,8", "--modes", "simple"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []benchCase{{"wide10k", "simple", 1}, {"wide10k", "simple", 8}}
	if o.Reps != 7 || !slices.Equal(o.Cases, want) {
		t.Fatalf("explicit matrix: reps %d cases %v", o.Reps, o.Cases)
	}
	if o, _ := parseFlags(nil, io.Discard); estimate(o, 3) > 15*time.Minute {
		t.Errorf("default run estimated at %s, want under 15 min", estimate(o, 3))
	}
	for _, bad := range [][]string{
		{"--workloads", "nope"}, {"--modes", "binary"}, {"--clients", "x"}, {"--preset", "huge"},
		{"--target", "pgveil=x.yaml"}, {"--target", "noequals"}, {"--duration", "100ms"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%v): no error", bad)
		}
	}
}

func TestExpandConfig(t *testing.T) {
	got := expandConfig("upstream: ${UPSTREAM}\nrules: ${CONFIG_DIR}/r.yaml\nkeep: $HOME ${OTHER}\n",
		map[string]string{"UPSTREAM": "127.0.0.1:5", "CONFIG_DIR": "/c"})
	want := "upstream: 127.0.0.1:5\nrules: /c/r.yaml\nkeep: $HOME ${OTHER}\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
