package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pgveil/pgveil/proxy/pgtest"
)

// Test roles, one per authentication method the proxy must relay.
const (
	scramUser = "scram_user"
	md5User   = "md5_user"
	pwUser    = "password_user"
	trustUser = "trust_user"
	testPW    = "s3cret-pw"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{
		HBA: []string{
			"host all md5_user 127.0.0.1/32 md5",
			"hostssl all md5_user 127.0.0.1/32 md5",
			"host all password_user 127.0.0.1/32 password",
			"host all trust_user 127.0.0.1/32 trust",
		},
		Settings: map[string]string{"max_connections": "200"},
	}, func(s *pgtest.Server) error {
		ctx := context.Background()
		for _, r := range []struct{ name, method string }{
			{scramUser, "scram-sha-256"}, {md5User, "md5"}, {pwUser, "scram-sha-256"}, {trustUser, "scram-sha-256"},
		} {
			if err := s.CreateRole(ctx, r.name, testPW, r.method); err != nil {
				return err
			}
		}
		return s.Exec(ctx, "postgres", `GRANT pg_read_all_data, pg_write_all_data TO scram_user, md5_user, password_user, trust_user;
			GRANT CREATE ON SCHEMA public TO scram_user, md5_user, password_user, trust_user;`)
	})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testProxy is a proxy under test, in process, on a loopback port.
type testProxy struct {
	srv  *Server
	addr string
	logs *logBuffer
	// caFile verifies the proxy's certificate when TLS is on.
	caFile string
}

type proxyOpt func(*Config)

// startProxy runs a proxy in front of the test Postgres and stops it (with
// a drain) when the test ends.
func startProxy(t testing.TB, pg *pgtest.Server, opts ...proxyOpt) *testProxy {
	t.Helper()
	logs := &logBuffer{}
	cfg := Config{
		Upstream: pg.Addr(),
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil && !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testProxy{srv: srv, addr: ln.Addr().String(), logs: logs, caFile: pg.CAFile()}
}

// withTLS gives the proxy a certificate signed by the harness CA.
func withTLS(t testing.TB, pg *pgtest.Server, require bool) proxyOpt {
	certPEM, keyPEM, err := pg.IssueCert("pgveil-test", "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		c.AllowPlaintext = !require
	}
}

// withUpstreamTLS makes the proxy connect to Postgres over verified TLS.
func withUpstreamTLS(t testing.TB, pg *pgtest.Server) proxyOpt {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pg.CAPEM()) {
		t.Fatal("bad CA PEM")
	}
	return func(c *Config) {
		c.UpstreamTLS = UpstreamTLS{Mode: UpstreamTLSVerifyFull, Config: &tls.Config{RootCAs: pool}}
	}
}

// dsn returns a connection string for user through the proxy (or, with
// addr = the Postgres address, directly).
func dsn(addr, user, db string, params ...string) string {
	host, port, _ := net.SplitHostPort(addr)
	s := fmt.Sprintf("postgres://%s:%s@%s:%s/%s?sslmode=disable", user, testPW, host, port, db)
	if len(params) > 0 {
		s = strings.Replace(s, "sslmode=disable", strings.Join(params, "&"), 1)
	}
	return s
}

// logBuffer collects the proxy's log output for assertions (no personal
// data may appear in it).
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
