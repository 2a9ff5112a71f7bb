package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Defaults for Options fields left zero.
const (
	// DefaultSuperuser is the bootstrap superuser's name when
	// Options.Superuser is empty.
	DefaultSuperuser = "postgres"
	// DefaultStartTimeout bounds Start when Options.StartTimeout is zero.
	DefaultStartTimeout = 30 * time.Second
)

// Names inside the server's directory.
const (
	dirPrefix    = "pgtest-"
	ownerFile    = "pgtest.owner" // pid of the process that ran Start
	keepFile     = "pgtest.keep"  // present when Stop kept the directory
	logFileName  = "server.log"
	caFileName   = "ca.crt"
	certFileName = "server.crt"
	keyFileName  = "server.key"
	dataDirName  = "data"
	sockDirName  = "sock"
	hostAddr     = "127.0.0.1"
	// maxSocketPath is sizeof(sockaddr_un.sun_path) on Linux minus the NUL.
	maxSocketPath = 107
	// portAttempts bounds how often Start picks another port when the one it
	// chose was taken between choosing and binding.
	portAttempts = 3
)

// Options configures Start. The zero value starts a server with the
// defaults that the package documentation lists.
type Options struct {
	// Superuser is the name of the bootstrap superuser. If empty,
	// DefaultSuperuser ("postgres").
	Superuser string
	// Password is the superuser's password. If empty, Start generates a
	// random one (SuperPassword returns it).
	Password string
	// HBA holds pg_hba.conf lines placed before the default
	// scram-sha-256 lines, one entry per line, for example
	// "host all md5_user 127.0.0.1/32 md5" or
	// "hostssl all tls_user 127.0.0.1/32 scram-sha-256" followed by
	// "hostnossl all tls_user 127.0.0.1/32 reject". Lines of type local
	// can lock the harness itself out: it connects over the Unix socket.
	HBA []string
	// Settings are postgresql.conf parameters, written after (so they
	// override) the harness defaults. Values are written quoted, which
	// PostgreSQL accepts for parameters of every type. Nil means none.
	Settings map[string]string
	// Durable keeps fsync, synchronous_commit and full_page_writes on. If
	// false, they are off, which is several times faster and loses nothing a
	// throwaway server needs.
	Durable bool
	// Logf receives the harness's progress lines (never statements or data).
	// If nil, they are discarded.
	Logf func(format string, args ...any)
	// BinDir is the directory holding initdb and postgres. If empty, they
	// are searched as Available does.
	BinDir string
	// Dir is the parent of the server's temporary directory. If empty,
	// os.TempDir(). When running as root it must be searchable by the
	// postgres OS user.
	Dir string
	// Keep leaves the directory in place after Stop, for debugging.
	Keep bool
	// StartTimeout bounds how long Start waits for initdb and for the server
	// to accept connections. If zero, DefaultStartTimeout.
	StartTimeout time.Duration
}

// Server is a running throwaway PostgreSQL server. Its methods are safe for
// concurrent use.
type Server struct {
	opts    Options // defaults applied
	bin     string
	owner   *osUser // nil: run as the current user
	ca      *authority
	dir     string
	port    int
	logFile *os.File

	proc *os.Process
	// done is closed when the postmaster has exited; waitErr is then set.
	done    chan struct{}
	waitErr error

	hbaMu sync.Mutex
	hba   []string // extra lines before the defaults

	stopOnce sync.Once
	stopErr  error
}

// osUser is the OS account the server runs as when Start runs as root.
type osUser struct {
	name     string
	uid, gid uint32
}

// Start initialises a fresh cluster in a new temporary directory, starts
// postgres on a free loopback port and waits until it accepts connections.
// ctx bounds the start (as does Options.StartTimeout), not the server's life:
// the server runs until Stop. On error nothing is left behind.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if opts.Superuser == "" {
		opts.Superuser = DefaultSuperuser
	}
	if opts.Password == "" {
		opts.Password = randomHex(16)
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if err := checkLine("password", opts.Password); err != nil {
		return nil, err
	}
	for _, l := range opts.HBA {
		if err := checkLine("hba line", l); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	began := time.Now()

	bin, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	owner, err := serverOwner()
	if err != nil {
		return nil, err
	}
	parent := opts.Dir
	if parent == "" {
		parent = os.TempDir()
	}
	if parent, err = filepath.Abs(parent); err != nil {
		return nil, fmt.Errorf("pgtest: dir: %w", err)
	}
	if owner != nil {
		if err := checkSearchable(parent, owner); err != nil {
			return nil, err
		}
	}
	removeStale(parent, opts.Logf)
	dir, err := os.MkdirTemp(parent, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{opts: opts, bin: bin, owner: owner, dir: dir, hba: slices.Clone(opts.HBA)}
	defer func() {
		if err != nil {
			s.opts.Keep = false // nothing worth keeping without a server
			err = errors.Join(err, s.Stop())
		}
	}()
	if len(s.sockDir())+len("/.s.PGSQL.65535") > maxSocketPath {
		return nil, fmt.Errorf("pgtest: socket path under %s is too long for a Unix socket; set Options.Dir", dir)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := s.chown(dir); err != nil {
		return nil, err
	}
	if err := s.mkdirOwned(s.sockDir()); err != nil {
		return nil, err
	}
	if err := s.writeTLSFiles(); err != nil {
		return nil, err
	}
	if err := s.initdb(ctx); err != nil {
		return nil, err
	}
	if err := s.writeConfig(); err != nil {
		return nil, err
	}
	if err := s.writeHBA(s.hba); err != nil {
		return nil, err
	}
	s.logFile, err = os.OpenFile(filepath.Join(dir, logFileName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := s.run(ctx); err != nil {
		return nil, err
	}
	opts.Logf("pgtest: postgres from %s ready on %s in %v (dir %s)", bin, s.Addr(), time.Since(began).Round(time.Millisecond), dir)
	return s, nil
}

// run starts postgres on a free port and waits until it is ready, trying
// another port if the chosen one was taken in the meantime.
func (s *Server) run(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.port = port
		logStart, _ := s.logFile.Seek(0, io.SeekEnd)
		if err := s.launch(); err != nil {
			return err
		}
		err = s.waitReady(ctx)
		if err == nil {
			return nil
		}
		exited := s.exited()
		if exited && attempt < portAttempts && portTaken(s.logSince(logStart)) {
			s.opts.Logf("pgtest: port %d was taken, retrying", port)
			continue
		}
		if !exited {
			_ = s.shutdown()
		}
		return fmt.Errorf("pgtest: start postgres: %w\n--- server log (tail) ---\n%s", err, s.logTail())
	}
}

// launch starts the postmaster. The goroutine it starts owns the postmaster
// process: it starts it, waits for it, and exits when the postmaster exits,
// which Stop ensures. It stays locked to its OS thread for that whole time
// because Linux sends the parent-death signal when the thread that forked the
// child exits, not the process (golang/go#27505): were the thread to exit
// early, the server would be shut down under the tests.
func (s *Server) launch() error {
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(), "-p", strconv.Itoa(s.port))
	cmd.Stdout, cmd.Stderr = s.logFile, s.logFile
	cmd.SysProcAttr.Setpgid = true              // keep terminal signals (^C) away: Stop decides
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT // immediate shutdown if we die
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer close(done)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		s.waitErr = err // published by close(done)
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		<-done
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.proc, s.done = cmd.Process, done
	return nil
}

// waitReady polls, as pg_isready does, until a login succeeds, the
// postmaster exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	delay := 10 * time.Millisecond
	var last error
	for {
		if s.exited() {
			return fmt.Errorf("postgres exited: %v", s.waitErr)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := s.connect(cctx, "postgres")
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		last = err
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("not ready: %w (last attempt: %v)", ctx.Err(), last)
		case <-s.done:
			t.Stop()
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

func (s *Server) exited() bool {
	if s.done == nil {
		return true
	}
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Stop shuts the server down (fast shutdown: sessions are terminated) and
// removes its directory unless Options.Keep. It escalates to SIGQUIT and
// SIGKILL if the server does not exit in time. It is safe to call more than
// once and concurrently; later calls return the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	var errs []error
	if s.proc != nil {
		errs = append(errs, s.shutdown())
	}
	if s.logFile != nil {
		errs = append(errs, s.logFile.Close())
	}
	if s.opts.Keep {
		errs = append(errs, os.WriteFile(filepath.Join(s.dir, keepFile), nil, 0o644))
		s.opts.Logf("pgtest: kept %s (server log %s)", s.dir, filepath.Join(s.dir, logFileName))
	} else if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: remove dir: %w", err))
	}
	return errors.Join(errs...)
}

// shutdown signals the postmaster until it exits: SIGINT is PostgreSQL's
// fast shutdown, SIGQUIT its immediate shutdown, SIGKILL the last resort.
func (s *Server) shutdown() error {
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, 15 * time.Second}, {syscall.SIGQUIT, 5 * time.Second}, {syscall.SIGKILL, 5 * time.Second}}
	for _, st := range steps {
		if s.exited() {
			return nil
		}
		if err := s.proc.Signal(st.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("pgtest: signal postgres: %w", err)
		}
		t := time.NewTimer(st.wait)
		select {
		case <-s.done:
			t.Stop()
			return nil
		case <-t.C:
			s.opts.Logf("pgtest: postgres did not exit after %v, escalating", st.sig)
		}
	}
	return fmt.Errorf("pgtest: postgres (pid %d) did not exit after SIGKILL", s.proc.Pid)
}

// Host returns the address the server listens on: "127.0.0.1".
func (s *Server) Host() string { return hostAddr }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Addr returns "127.0.0.1:port", for net.Dial and proxy configs.
func (s *Server) Addr() string { return net.JoinHostPort(hostAddr, strconv.Itoa(s.port)) }

// Superuser returns the bootstrap superuser's name.
func (s *Server) Superuser() string { return s.opts.Superuser }

// SuperPassword returns the bootstrap superuser's password.
func (s *Server) SuperPassword() string { return s.opts.Password }

// CAFile returns the path of the PEM file holding the throwaway CA
// certificate that signed the server certificate, for sslrootcert.
func (s *Server) CAFile() string { return filepath.Join(s.dir, caFileName) }

// CAPEM returns the CA certificate in PEM form. The caller may modify the
// returned slice.
func (s *Server) CAPEM() []byte { return bytes.Clone(s.ca.pem) }

// IssueCert returns a new certificate and PKCS #8 key (PEM) signed by the
// server's CA, valid as a server certificate for hosts (IP addresses or DNS
// names) and as a client certificate with subject CN=commonName. Use it for
// a proxy under test that clients verify with CAFile, or for client
// certificates.
func (s *Server) IssueCert(commonName string, hosts ...string) (certPEM, keyPEM []byte, err error) {
	certPEM, keyPEM, err = s.ca.issue(time.Now(), commonName, hosts)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: issue certificate: %w", err)
	}
	return certPEM, keyPEM, nil
}

// DSN returns a postgres:// URL for user on database over TCP. params are
// extra "key=value" connection parameters; sslmode is "disable" unless params
// set it. For verify-full, pass "sslmode=verify-full" and
// "sslrootcert="+s.CAFile(). An empty database means "postgres".
func (s *Server) DSN(user, password, database string, params ...string) string {
	if database == "" {
		database = "postgres"
	}
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(user, password),
		Host:   s.Addr(),
		Path:   "/" + database,
	}
	q := url.Values{}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		q.Add(k, v)
	}
	if !q.Has("sslmode") {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// SuperDSN returns DSN for the bootstrap superuser on database, in plaintext.
func (s *Server) SuperDSN(database string) string {
	return s.DSN(s.opts.Superuser, s.opts.Password, database)
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, dataDirName) }
func (s *Server) sockDir() string { return filepath.Join(s.dir, sockDirName) }

// connect opens a harness connection as the superuser over the Unix socket,
// so that the TCP pg_hba lines stay entirely under the tests' control.
func (s *Server) connect(ctx context.Context, database string) (*pgconn.PgConn, error) {
	if database == "" {
		database = "postgres"
	}
	dsn := fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		quoteDSN(s.sockDir()), s.port, quoteDSN(s.opts.Superuser), quoteDSN(s.opts.Password), quoteDSN(database))
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgtest: connect: %w", err)
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgtest: connect: %w", err)
	}
	return conn, nil
}

// command returns a command that runs as the server's OS user in the
// server's directory, with an environment free of PG* variables (which would
// redirect initdb or postgres) and with the C locale (stable messages).
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if s.owner != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: s.owner.uid, Gid: s.owner.gid}
	}
	return cmd
}

func (s *Server) initdb(ctx context.Context) error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := s.writeOwned(pwfile, []byte(s.opts.Password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	args := []string{
		"-D", s.dataDir(),
		"-U", s.opts.Superuser,
		"--pwfile", pwfile,
		"--auth-local=scram-sha-256",
		"--auth-host=scram-sha-256",
		"-E", "UTF8",
		"--locale=C",
		"--no-instructions",
	}
	if !s.opts.Durable {
		args = append(args, "--no-sync")
	}
	cmd := s.command(filepath.Join(s.bin, "initdb"), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w", err)
	}
	// The goroutine below is owned by this function: it exits when initdb
	// does, and the function waits for it before returning.
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			return fmt.Errorf("pgtest: initdb: %w\n%s", err, tail(out.Bytes(), 20))
		}
		return nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-waited
		return fmt.Errorf("pgtest: initdb: %w", ctx.Err())
	}
}

// settingName is what writeConfig accepts as a parameter name.
var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

func (s *Server) writeConfig() error {
	settings := map[string]string{
		"listen_addresses":        hostAddr,
		"unix_socket_directories": s.sockDir(),
		"ssl":                     "on",
		"ssl_cert_file":           filepath.Join(s.dir, certFileName),
		"ssl_key_file":            filepath.Join(s.dir, keyFileName),
		"ssl_ca_file":             s.CAFile(), // lets tests use clientcert=verify-full
		"password_encryption":     "scram-sha-256",
		"timezone":                "UTC",
		"log_timezone":            "UTC",
	}
	if !s.opts.Durable {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	var b strings.Builder
	b.WriteString("\n# pgtest\n")
	write := func(m map[string]string) error {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v := m[k]
			if !settingName.MatchString(k) {
				return fmt.Errorf("pgtest: invalid setting name %q", k)
			}
			if err := checkLine("setting "+k, v); err != nil {
				return err
			}
			fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(v, "'", "''"))
		}
		return nil
	}
	if err := write(settings); err != nil {
		return err
	}
	b.WriteString("# Options.Settings\n")
	if err := write(s.opts.Settings); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.dataDir(), "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("pgtest: config: %w", err)
	}
	_, err = f.WriteString(b.String())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgtest: config: %w", err)
	}
	return nil
}

func (s *Server) writeTLSFiles() error {
	now := time.Now()
	ca, err := newAuthority(now)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	s.ca = ca
	certPEM, keyPEM, err := ca.issue(now, "localhost", []string{hostAddr, "::1", "localhost"})
	if err != nil {
		return fmt.Errorf("pgtest: server certificate: %w", err)
	}
	if err := s.writeOwned(s.CAFile(), ca.pem, 0o644); err != nil {
		return err
	}
	if err := s.writeOwned(filepath.Join(s.dir, certFileName), certPEM, 0o600); err != nil {
		return err
	}
	// PostgreSQL refuses a key file that others can read.
	return s.writeOwned(filepath.Join(s.dir, keyFileName), keyPEM, 0o600)
}

// writeOwned writes a file that the server's OS user owns.
func (s *Server) writeOwned(path string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile's perm is masked by umask
		return fmt.Errorf("pgtest: %w", err)
	}
	return s.chown(path)
}

func (s *Server) mkdirOwned(path string) error {
	if err := os.Mkdir(path, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return s.chown(path)
}

func (s *Server) chown(path string) error {
	if s.owner == nil {
		return nil
	}
	if err := os.Chown(path, int(s.owner.uid), int(s.owner.gid)); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// serverOwner returns the postgres OS user when running as root (postgres
// refuses to run as root), and nil otherwise.
func serverOwner() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs the postgres OS user to run the server: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: postgres OS user: %w", err)
	}
	return &osUser{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

// checkSearchable tells whether u can reach entries of dir (execute
// permission on dir and every ancestor), which the server needs for its data
// directory. A root-only TMPDIR such as /root/tmp fails here with a hint
// instead of with an obscure initdb error.
func checkSearchable(dir string, u *osUser) error {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		if ok {
			searchable := mode&0o001 != 0 ||
				(st.Uid == u.uid && mode&0o100 != 0) ||
				(st.Gid == u.gid && mode&0o010 != 0)
			if !searchable {
				return fmt.Errorf("pgtest: %s is not searchable by the %s OS user that runs the server; set Options.Dir (or TMPDIR) to a directory it can reach, such as /tmp", p, u.name)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// removeStale removes directories that an earlier Start in parent left
// behind because its process died without Stop (the server itself exited on
// the parent-death signal). A directory is stale when its owner process is
// gone and it was not kept on purpose; directories without an owner file
// (someone else's, or one being created right now) are left alone.
func removeStale(parent string, logf func(string, ...any)) {
	dirs, _ := filepath.Glob(filepath.Join(parent, dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, keepFile)); err == nil {
			continue
		}
		if pm, err := os.ReadFile(filepath.Join(d, dataDirName, "postmaster.pid")); err == nil {
			line, _, _ := strings.Cut(string(pm), "\n")
			if p, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && processAlive(p) {
				continue // a server still runs there: not ours to judge
			}
		}
		if err := os.RemoveAll(d); err == nil {
			logf("pgtest: removed stale %s", d)
		}
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// freePort asks the kernel for a free loopback port. Another process can
// take it before postgres binds it; run retries on another port then.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(hostAddr, "0"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	return port, nil
}

func portTaken(log []byte) bool {
	return bytes.Contains(log, []byte("Address already in use")) ||
		bytes.Contains(log, []byte("could not create any TCP/IP sockets"))
}

// logSince returns the server log from offset on (at most 64 KiB).
func (s *Server) logSince(offset int64) []byte {
	f, err := os.Open(filepath.Join(s.dir, logFileName))
	if err != nil {
		return nil
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(io.NewSectionReader(f, offset, 1<<16), 1<<16))
	return b
}

// logTail returns the last lines of the server log, for start errors. During
// startup the log holds no statements or data.
func (s *Server) logTail() string {
	f, err := os.Open(filepath.Join(s.dir, logFileName))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const window = 8 << 10
	off := max(fi.Size()-window, 0)
	b, _ := io.ReadAll(io.NewSectionReader(f, off, window))
	return tail(b, 25)
}

func tail(b []byte, lines int) string {
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// quoteDSN quotes a keyword/value connection string value.
func quoteDSN(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// checkLine rejects values that would break out of their line in a config
// file.
func checkLine(what, v string) error {
	if strings.ContainsAny(v, "\n\r\x00") {
		return fmt.Errorf("pgtest: %s contains a line break or NUL", what)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
