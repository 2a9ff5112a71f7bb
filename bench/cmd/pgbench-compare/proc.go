package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a long-running child (pgbouncer, pgveil) whose output goes to a
// log file in the work dir. Its waiter goroutine is owned by the proc and
// joined by stop.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

// startProc starts bin in its own process group, so that the Ctrl-C the
// terminal sends to the foreground group reaches only the harness, which then
// stops the children in order. Pdeathsig kills the child if the harness dies
// without cleaning up. cred, if not nil, runs it as another user.
func startProc(name, logPath string, cred *syscall.Credential, bin string, args ...string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	defer logFile.Close() // the child has its own descriptor
	if cred != nil {
		if err := logFile.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("%s: log file: %w", name, err)
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady waits until addr accepts TCP connections, failing early (with
// the log's tail) if the process exits.
func (p *proc) waitReady(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited during start (%v):\n%s", p.name, p.waitErr, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting on %s after %s:\n%s", p.name, addr, timeout, p.logTail())
		}
	}
}

// stop asks the process to exit (SIGTERM: pgveil drains, pgbouncer shuts
// down at once) and kills it if it has not within 10 seconds. It returns an
// error only if the process had died before it was asked to stop.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s had exited (%v):\n%s", p.name, p.waitErr, p.logTail())
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// alive reports an error if the process has exited.
func (p *proc) alive() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v):\n%s", p.name, p.waitErr, p.logTail())
	default:
		return nil
	}
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go's users run on (sysconf is not
// reachable without cgo), which gives the CPU figures a 10 ms resolution per
// run.
const clockTicks = 100

// cpuTime returns the user plus system CPU time the process has used so
// far. For a multi-threaded process (pgveil) /proc/<pid>/stat sums all its
// threads, including exited ones.
func (p *proc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("%s cpu time: %w", p.name, err)
	}
	ticks, err := parseStatCPU(b)
	if err != nil {
		return 0, fmt.Errorf("%s cpu time: %w", p.name, err)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// parseStatCPU returns utime+stime (fields 14 and 15) from a /proc/<pid>/stat
// line. The command name (field 2) may contain spaces and parentheses, so
// fields are counted from the last ')'.
func parseStatCPU(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed stat line")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, errors.New("short stat line")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("malformed stat line: %w", err)
	}
	return utime + stime, nil
}

func (p *proc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(string(b), 20)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort returns a loopback port that was free a moment ago. The child
// binds it right after; on a machine where nothing else grabs ports that
// race is harmless, and a lost race fails loudly in waitReady.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// serviceUser returns the credentials to run a daemon that refuses root
// (pgbouncer) as: the postgres OS user when running as root, else nil (the
// current user).
func serviceUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres OS user for pgbouncer: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres OS user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// workDir is the harness's temporary directory: pgbench scripts and logs,
// pgbouncer's config, the pgveil binary and every child's log.
type workDir struct{ path string }

// newWorkDir creates the directory readable by all, so that pgbouncer, run as
// the postgres user, can read its config. The one secret in it, pgbouncer's
// auth_file, is mode 0600 and owned by that user.
func newWorkDir() (workDir, error) {
	dir, err := os.MkdirTemp("", "pgbench-compare-")
	if err != nil {
		return workDir{}, fmt.Errorf("work dir: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return workDir{}, fmt.Errorf("work dir: %w", err)
	}
	return workDir{dir}, nil
}

func (w workDir) join(elem ...string) string {
	return filepath.Join(append([]string{w.path}, elem...)...)
}

func (w workDir) remove() { os.RemoveAll(w.path) }
