package otelcoltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DistVersion is the collector distribution version of
// audit/otelcol/manifest.yaml (dist.version); a test checks they agree.
const DistVersion = "0.165.0"

// Environment variables this package reads. They are test-harness switches,
// read here rather than in cmd/ as proxy/pgtest does.
const (
	// EnvBinary names the collector binary, overriding the build cache.
	EnvBinary = "PGVEIL_OTELCOL"
	// EnvCache is build.sh's cache root (default $HOME/.cache/pgveil).
	EnvCache = "PGVEIL_CACHE"
	// EnvCI, when true, makes a missing binary a failure instead of a skip.
	EnvCI = "CI"
)

// ErrNoBinary is returned (wrapped) by Binary when the collector is not
// built.
var ErrNoBinary = errors.New("otelcol-pgveil not found")

// Binary returns the path of the collector binary: $PGVEIL_OTELCOL, else
// the one audit/otelcol/build.sh caches.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("otelcoltest: %w: %s=%s: %v", ErrNoBinary, EnvBinary, p, err)
		}
		return p, nil
	}
	root := os.Getenv(EnvCache)
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("otelcoltest: %w: no $HOME and no $%s", ErrNoBinary, EnvCache)
		}
		root = filepath.Join(home, ".cache", "pgveil")
	}
	p := filepath.Join(root, "otelcol-"+DistVersion, "otelcol-pgveil")
	if err := executable(p); err != nil {
		return "", fmt.Errorf("otelcoltest: %w at %s: run audit/otelcol/build.sh (about 2 minutes cold) or set %s", ErrNoBinary, p, EnvBinary)
	}
	return p, nil
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// TB is the part of testing.TB this package uses.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Require returns the collector binary, or skips the test without it (and
// fails it under CI=true).
func Require(t TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv(EnvCI)); ci {
			t.Fatalf("%v\n(%s=true: the audit integration tests must run; .ci/run builds the collector)", err, EnvCI)
		}
		t.Skipf("%v (under %s=true this fails)", err, EnvCI)
	}
	return bin
}

// Options configure a Collector. The zero value is usable.
type Options struct {
	// Binary is the collector; if empty, Binary() finds it.
	Binary string
	// Dir holds the config, the spans file and nothing else. If empty, a
	// new temporary directory (removed by Close).
	Dir string
	// Batch puts the batch processor (100 ms) in the pipeline, as the demo
	// config has. Without it, an acknowledged span is already in the file.
	Batch bool
	// Logf receives the collector's log lines (with Verbose) and this
	// package's own messages. If nil, they are discarded.
	Logf func(format string, args ...any)
	// Verbose forwards every collector log line to Logf.
	Verbose bool
}

// Collector is a collector process, stopped and started at will.
type Collector struct {
	opts     Options
	dir      string
	ownDir   bool
	config   string
	spans    string
	grpcPort int
	httpPort int

	mu   sync.Mutex
	proc *process // nil while stopped
}

type process struct {
	cmd    *exec.Cmd
	log    *logTail
	exited chan struct{} // closed when Wait returned
	err    error         // Wait's result, valid after exited
}

// Run starts a collector for a test and stops it (and removes its
// directory) when the test ends. It skips or fails the test without the
// binary (Require).
func Run(t TB, opts Options) *Collector {
	t.Helper()
	if opts.Binary == "" {
		opts.Binary = Require(t)
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("otelcoltest: close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("%v", err)
	}
	return c
}

// New prepares a collector (config file, free ports) without starting it.
func New(opts Options) (*Collector, error) {
	if opts.Binary == "" {
		bin, err := Binary()
		if err != nil {
			return nil, err
		}
		opts.Binary = bin
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	c := &Collector{opts: opts, dir: opts.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "otelcoltest-")
		if err != nil {
			return nil, fmt.Errorf("otelcoltest: %w", err)
		}
		c.dir, c.ownDir = d, true
	}
	ports, err := freePorts(2)
	if err != nil {
		c.removeDir()
		return nil, err
	}
	c.grpcPort, c.httpPort = ports[0], ports[1]
	c.spans = filepath.Join(c.dir, "spans.jsonl")
	c.config = filepath.Join(c.dir, "otelcol.yaml")
	if err := os.WriteFile(c.config, []byte(c.configYAML()), 0o600); err != nil {
		c.removeDir()
		return nil, fmt.Errorf("otelcoltest: %w", err)
	}
	return c, nil
}

func (c *Collector) configYAML() string {
	processors := ""
	pipeline := ""
	if c.opts.Batch {
		processors = "processors:\n  batch:\n    timeout: 100ms\n    send_batch_size: 512\n"
		pipeline = "      processors: [batch]\n"
	}
	return fmt.Sprintf(`# written by otelcoltest
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
%sexporters:
  file:
    path: %s
    format: json
    append: true
    flush_interval: 50ms
service:
  pipelines:
    traces:
      receivers: [otlp]
%s      exporters: [file]
  telemetry:
    logs:
      level: info
    metrics:
      level: none
`, c.grpcPort, c.httpPort, processors, strconv.Quote(c.spans), pipeline)
}

// freePorts returns n distinct loopback ports that are free now, chosen at
// random below the kernel's ephemeral range. A restarted collector must get
// its ports back after being down for a while; a port the kernel hands out
// for ":0" listeners or outgoing connections (as other tests running in
// parallel use) could be taken in the meantime, these are not.
func freePorts(n int) ([]int, error) {
	lo, hi := 20000, ephemeralLow()-1
	if hi-lo < 1000 {
		lo, hi = 10000, 20000
	}
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, errors.New("otelcoltest: no free port found")
		}
		port := lo + rand.IntN(hi-lo)
		if slices.Contains(ports, port) {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, port)
	}
	return ports, nil
}

// ephemeralLow is the start of the kernel's ephemeral port range (Linux
// /proc/sys/net/ipv4/ip_local_port_range; 32768 if unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 1024 {
				return n
			}
		}
	}
	return 32768
}

// GRPCEndpoint is the OTLP/gRPC receiver, "127.0.0.1:port".
func (c *Collector) GRPCEndpoint() string { return "127.0.0.1:" + strconv.Itoa(c.grpcPort) }

// HTTPEndpoint is the OTLP/HTTP receiver, "127.0.0.1:port" (requests go to
// /v1/traces).
func (c *Collector) HTTPEndpoint() string { return "127.0.0.1:" + strconv.Itoa(c.httpPort) }

// SpansFile is the JSON-lines file the collector writes.
func (c *Collector) SpansFile() string { return c.spans }

// Running reports whether the process is running.
func (c *Collector) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return false
	}
	select {
	case <-c.proc.exited:
		return false
	default:
		return true
	}
}

// readyLine is what the collector logs once every component runs.
const readyLine = "Everything is ready"

// Start starts the process (again) and waits until it is ready or ctx
// ends. Starting a running collector is a no-op.
func (c *Collector) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		select {
		case <-c.proc.exited:
			c.proc = nil
		default:
			return nil
		}
	}
	lt := &logTail{ready: make(chan struct{}), logf: c.opts.Logf, verbose: c.opts.Verbose}
	cmd := exec.Command(c.opts.Binary, "--config", c.config)
	cmd.Dir = c.dir
	cmd.Stdout = lt
	cmd.Stderr = lt
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("otelcoltest: start %s: %w", c.opts.Binary, err)
	}
	p := &process{cmd: cmd, log: lt, exited: make(chan struct{})}
	// Owner: the Collector. The goroutine exits when the process does;
	// Stop (and Close) wait for it through p.exited.
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	c.proc = p

	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	select {
	case <-lt.ready:
	case <-p.exited:
		return fmt.Errorf("otelcoltest: collector exited during start (%v):\n%s", p.err, lt.tail())
	case <-ctx.Done():
		c.stopLocked()
		return fmt.Errorf("otelcoltest: collector start: %w:\n%s", ctx.Err(), lt.tail())
	case <-deadline.C:
		c.stopLocked()
		return fmt.Errorf("otelcoltest: collector not ready after 30s:\n%s", lt.tail())
	}
	// "Everything is ready" comes after the receivers listen; check anyway.
	for {
		conn, err := net.DialTimeout("tcp", c.GRPCEndpoint(), time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-ctx.Done():
			c.stopLocked()
			return fmt.Errorf("otelcoltest: collector gRPC port: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	c.opts.Logf("otelcoltest: collector ready (pid %d, grpc %s, http %s)", cmd.Process.Pid, c.GRPCEndpoint(), c.HTTPEndpoint())
	return nil
}

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 15
// s). Stopping a stopped collector is a no-op.
func (c *Collector) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopLocked()
}

func (c *Collector) stopLocked() error {
	p := c.proc
	if p == nil {
		return nil
	}
	c.proc = nil
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("otelcoltest: collector ignored SIGTERM for 15s; killed")
	}
	c.opts.Logf("otelcoltest: collector stopped")
	return nil
}

// Close stops the collector and removes the directory New created.
func (c *Collector) Close() error {
	err := c.Stop()
	c.removeDir()
	return err
}

func (c *Collector) removeDir() {
	if c.ownDir {
		os.RemoveAll(c.dir)
	}
}

// Log returns the tail of the running (or last) process's log.
func (c *Collector) Log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return ""
	}
	return c.proc.log.tail()
}

// Spans reads every span the collector has written so far.
func (c *Collector) Spans() ([]Span, error) { return ReadSpans(c.spans) }

// WaitSpans polls the spans file until it holds at least n spans, or ctx
// ends (then it returns what it read and the context's error).
func (c *Collector) WaitSpans(ctx context.Context, n int) ([]Span, error) {
	for {
		spans, err := c.Spans()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return spans, err
		}
		if len(spans) >= n {
			return spans, nil
		}
		select {
		case <-ctx.Done():
			return spans, fmt.Errorf("otelcoltest: %d spans of %d after waiting: %w", len(spans), n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logTail keeps the last lines of the collector's output and signals the
// ready line.
type logTail struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	ready   chan struct{}
	isReady bool
	logf    func(string, ...any)
	verbose bool
}

const tailLines = 40

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if len(l.lines) == tailLines {
			copy(l.lines, l.lines[1:])
			l.lines = l.lines[:tailLines-1]
		}
		l.lines = append(l.lines, line)
		if l.verbose {
			l.logf("otelcol: %s", line)
		}
		if !l.isReady && strings.Contains(line, readyLine) {
			l.isReady = true
			close(l.ready)
		}
	}
	if len(l.partial) > 64<<10 {
		l.partial = l.partial[:0] // a runaway line; keep the buffer bounded
	}
	return len(p), nil
}

func (l *logTail) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
