// Package pgtest starts a throwaway PostgreSQL server from the system's
// PostgreSQL binaries, for integration tests and for `pgveil demo`.
//
// It does not import testing: the small TB interface stands in for
// *testing.T, so that the same code runs the demo.
//
// # What Start guarantees
//
//   - The binaries are initdb and postgres (PostgreSQL 13 or newer) found on
//     PATH or, failing that, in the highest-versioned
//     /usr/lib/postgresql/*/bin (Options.BinDir overrides both).
//   - Everything lives in one fresh temporary directory: the data directory,
//     the Unix socket, the server log, the TLS files. Stop removes it.
//   - When the process runs as root, the server runs as the `postgres` OS
//     user and the directory belongs to it; otherwise it runs as the current
//     user.
//   - The server listens on 127.0.0.1 only, on a free port, and on a Unix
//     socket inside the directory. It has TLS on (ssl=on) with an ECDSA P-256
//     certificate for 127.0.0.1, ::1 and localhost that a throwaway CA signed
//     when Start ran; CAFile and CAPEM give clients what they need for
//     sslmode=verify-full, and IssueCert signs more certificates (for a proxy
//     under test, or client certificates).
//   - Authentication is SCRAM-SHA-256 for every connection type, after the
//     Options.HBA lines (and those that AddHBA or SetHBA add later), which
//     come first. password_encryption is scram-sha-256.
//   - fsync, synchronous_commit and full_page_writes are off unless
//     Options.Durable; timezone is UTC.
//   - Start returns only once the server accepts connections, or fails within
//     Options.StartTimeout (default 30 s) with the tail of the server log.
//   - The postmaster is started in its own process group, with a parent-death
//     signal (SIGQUIT, immediate shutdown): if the process that started it
//     dies for any reason, including a panic or SIGKILL, the kernel tells the
//     server to exit. A directory that such a crash leaves behind is removed
//     by the next Start in the same parent directory.
//
// The harness logs (Options.Logf) only its own progress: ports, paths and
// timings, never statements or data.
//
// # Test binaries
//
// Main runs a test binary around one shared server and implements the
// project's CI rule: when the PostgreSQL binaries are missing, the tests are
// skipped with a message on a laptop and the run fails under CI=true. Tests
// call Require to get the server (or be skipped):
//
//	func TestMain(m *testing.M) {
//		code := pgtest.Main(m, pgtest.Options{}, func(s *pgtest.Server) error {
//			ctx := context.Background()
//			if err := s.CreateRole(ctx, "alice", "alice-pw", "md5"); err != nil {
//				return err
//			}
//			return s.AddHBA(ctx, "host all alice 127.0.0.1/32 md5")
//		})
//		if code == 0 {
//			if err := goleak.Find(); err != nil { // after Main stopped the server
//				fmt.Fprintln(os.Stderr, err)
//				code = 1
//			}
//		}
//		os.Exit(code)
//	}
//
//	func TestSomething(t *testing.T) {
//		srv := pgtest.Require(t)       // skips without PostgreSQL (laptop only)
//		db := srv.TempDatabase(t, "")  // dropped when the test ends
//		conn, err := pgx.Connect(ctx, srv.DSN("alice", "alice-pw", db))
//		...
//	}
//
// Main also stops the server on SIGINT and SIGTERM and then re-raises the
// signal. Set PGVEIL_TEST_KEEP=1 to keep the directory (its path is printed)
// for debugging.
//
// # Concurrency
//
// A Server's methods are safe for concurrent use by parallel tests. pg_hba
// changes (AddHBA, SetHBA) are serialised and apply to the whole server.
package pgtest
