package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// machine is what a reader needs to judge the numbers.
type machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Postgres  string `json:"postgres"`
	Pgbouncer string `json:"pgbouncer"`
	Pgbench   string `json:"pgbench"`
}

func collectMachine(ctx context.Context, t tools, d *database) machine {
	return machine{
		CPU:       cpuModel(),
		Cores:     runtime.NumCPU(),
		Kernel:    readTrimmed("/proc/sys/kernel/osrelease"),
		Go:        runtime.Version(),
		Postgres:  d.version,
		Pgbouncer: firstLine(ctx, t.pgbouncer, "--version"),
		Pgbench:   firstLine(ctx, t.pgbench, "--version"),
	}
}

func (m machine) oneLine() string {
	return fmt.Sprintf("%s, %d cores, Linux %s, %s, PostgreSQL %s, %s, %s",
		m.CPU, m.Cores, m.Kernel, m.Go, m.Postgres, m.Pgbouncer, m.Pgbench)
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// load1 is the 1-minute load average, recorded with each run: a run made
// while something else was busy on the machine shows up there.
func load1() float64 {
	f := strings.Fields(readTrimmed("/proc/loadavg"))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return string(bytes.TrimSpace(b))
}

func firstLine(ctx context.Context, bin string, args ...string) string {
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		return "unknown " + bin
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
