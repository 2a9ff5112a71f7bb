package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// reloadTimeout bounds how long SetHBA waits for the server to apply a
// reload.
const reloadTimeout = 10 * time.Second

// Exec runs sql, which may hold several statements, as the superuser on
// database ("" means "postgres") with the simple query protocol, in a fresh
// connection over the Unix socket. The statements run as one implicit
// transaction unless sql contains its own BEGIN/COMMIT.
func (s *Server) Exec(ctx context.Context, database, sql string) error {
	conn, err := s.connect(ctx, database)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		return fmt.Errorf("pgtest: exec: %w", err)
	}
	return nil
}

// CreateDatabase creates database name, owned by the superuser, as a copy of
// template ("" means template1). A template must have no open connections.
func (s *Server) CreateDatabase(ctx context.Context, name, template string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if err := s.Exec(ctx, "", sql); err != nil {
		return fmt.Errorf("pgtest: create database: %w", err)
	}
	return nil
}

// dbSeq makes TempDatabase names unique within the process; the random part
// makes them unique across processes that share a Server (there are none
// today, but names are cheap).
var dbSeq atomic.Uint64

// TempDatabase creates a fresh database for one test, as a copy of template
// ("" means template1; see CreateDatabase), and drops it (terminating its
// sessions) when the test ends. It returns the database name. Failures are
// fatal to the test.
func (s *Server) TempDatabase(t TB, template string) string {
	t.Helper()
	name := "pgtest_" + strconv.FormatUint(dbSeq.Add(1), 10) + "_" + randomHex(4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.CreateDatabase(ctx, name, template); err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// WITH (FORCE) (PostgreSQL 13) ends the test's leftover sessions.
		if err := s.Exec(ctx, "", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop temp database: %v", err)
		}
	})
	return name
}

// CreateRole creates a LOGIN role with password, stored with the hash that
// method names: "scram-sha-256" (also for "") or "md5". The stored hash
// decides which pg_hba methods can authenticate the role: a role with an md5
// hash cannot pass a scram-sha-256 line, so add a line for it first, e.g.
//
//	s.AddHBA(ctx, "host all "+name+" 127.0.0.1/32 md5")
//
// ("password" lines accept either hash; "trust" needs none). CreateRole
// changes no pg_hba line itself. Grant privileges with Exec.
func (s *Server) CreateRole(ctx context.Context, name, password, method string) error {
	switch method {
	case "", "scram-sha-256":
		method = "scram-sha-256"
	case "md5":
	default:
		return fmt.Errorf("pgtest: create role: unknown password method %q (want scram-sha-256 or md5)", method)
	}
	if strings.ContainsRune(password, 0) {
		return fmt.Errorf("pgtest: create role: password contains NUL")
	}
	// Both statements run in one session, so password_encryption applies to
	// the CREATE ROLE only.
	sql := "SET password_encryption = " + quoteLiteral(method) + ";\n" +
		"CREATE ROLE " + pgx.Identifier{name}.Sanitize() + " LOGIN PASSWORD " + quoteLiteral(password)
	if err := s.Exec(ctx, "", sql); err != nil {
		return fmt.Errorf("pgtest: create role: %w", err)
	}
	return nil
}

// AddHBA appends lines to the test's pg_hba.conf lines (which precede the
// default scram-sha-256 lines, so they win for what they match) and reloads
// the server. When AddHBA returns, new connections are authenticated by the
// new file. Lines are checked by the server first: if one is invalid, nothing
// changes and the error says which.
func (s *Server) AddHBA(ctx context.Context, lines ...string) error {
	s.hbaMu.Lock()
	defer s.hbaMu.Unlock()
	return s.setHBALocked(ctx, append(slices.Clone(s.hba), lines...))
}

// SetHBA replaces the test's pg_hba.conf lines (Options.HBA and any AddHBA
// lines) with lines and reloads the server, as AddHBA does. SetHBA() with no
// lines restores the defaults.
func (s *Server) SetHBA(ctx context.Context, lines ...string) error {
	s.hbaMu.Lock()
	defer s.hbaMu.Unlock()
	return s.setHBALocked(ctx, slices.Clone(lines))
}

func (s *Server) setHBALocked(ctx context.Context, lines []string) error {
	for _, l := range lines {
		if err := checkLine("hba line", l); err != nil {
			return err
		}
	}
	conn, err := s.connect(ctx, "")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := s.writeHBA(lines); err != nil {
		return err
	}
	// pg_hba_file_rules parses the file on disk; a reload would only log
	// the errors and keep the old rules.
	res, err := conn.Exec(ctx, "SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL").ReadAll()
	if err == nil && len(res) == 1 && len(res[0].Rows) > 0 {
		var msgs []string
		for _, r := range res[0].Rows {
			msgs = append(msgs, "line "+string(r[0])+": "+string(r[1]))
		}
		err = fmt.Errorf("invalid pg_hba lines: %s", strings.Join(msgs, "; "))
	}
	if err != nil {
		if rerr := s.writeHBA(s.hba); rerr != nil {
			err = fmt.Errorf("%w (restoring the old file: %v)", err, rerr)
		}
		return fmt.Errorf("pgtest: set hba: %w", err)
	}
	if err := s.reload(ctx, conn); err != nil {
		return err
	}
	s.hba = lines
	return nil
}

// reload asks the postmaster to re-read its configuration and waits until it
// has: a backend started after the postmaster processed SIGHUP inherits the
// new pg_conf_load_time, and the postmaster reloads pg_hba.conf in the same
// step, before it accepts the next connection.
func (s *Server) reload(ctx context.Context, conn *pgconn.PgConn) error {
	res, err := conn.Exec(ctx, "SELECT pg_conf_load_time()::text; SELECT pg_reload_conf()").ReadAll()
	if err != nil {
		return fmt.Errorf("pgtest: reload: %w", err)
	}
	before := string(res[0].Rows[0][0])
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		c, err := s.connect(ctx, "")
		if err != nil {
			return fmt.Errorf("pgtest: reload: %w", err)
		}
		res, err := c.Exec(ctx, "SELECT pg_conf_load_time()::text").ReadAll()
		c.Close(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("pgtest: reload: %w", err)
		}
		if string(res[0].Rows[0][0]) != before {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: reload: server did not reload: %w", ctx.Err())
		case <-time.After(delay):
		}
	}
}

// writeHBA replaces pg_hba.conf atomically (write and rename) with lines
// followed by the defaults.
func (s *Server) writeHBA(lines []string) error {
	var b strings.Builder
	b.WriteString("# Written by pgtest. TYPE DATABASE USER ADDRESS METHOD\n# Test lines (Options.HBA, AddHBA, SetHBA):\n")
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString("# Defaults: the harness connects over the Unix socket.\n" +
		"local all all scram-sha-256\n" +
		"host all all 127.0.0.1/32 scram-sha-256\n" +
		"host all all ::1/128 scram-sha-256\n")
	path := filepath.Join(s.dataDir(), "pg_hba.conf")
	tmp := path + ".pgtest"
	if err := s.writeOwned(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// quoteLiteral quotes a string literal for standard_conforming_strings=on
// (the default since PostgreSQL 9.1).
func quoteLiteral(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}
