package main

// What the GDPR commands (retention, subject) share: the config file, the
// rules, the control connection, the operator and the audit trail.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/audit"
	"github.com/pgveil/pgveil/rules"
)

// gdprEnv is an open GDPR command environment; close releases it.
type gdprEnv struct {
	cfg      *fileConfig
	catalog  *rules.Catalog
	conn     *pgx.Conn
	tracer   *audit.Tracer
	operator string
}

// openGDPR loads the config and rules, opens the audit trail and connects
// to control_dsn as application app ("pgveil retention").
func openGDPR(ctx context.Context, configPath, operator, app string, stderr io.Writer) (*gdprEnv, error) {
	if configPath == "" {
		return nil, errors.New("--config is required (the file that names control_dsn and rules)")
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	if cfg.ControlDSN == "" {
		return nil, fmt.Errorf("%s: control_dsn is required: the connection the job works through", configPath)
	}
	if cfg.Rules == "" {
		return nil, fmt.Errorf("%s: rules is required: the classification the job applies", configPath)
	}
	cat, err := rules.LoadCatalog(cfg.path(cfg.Rules))
	if err != nil {
		return nil, err
	}
	op, err := operatorName(operator)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tracer, err := jobTracer(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	if cfg.Audit.Exporter == "" || cfg.Audit.Exporter == "none" {
		fmt.Fprintln(stderr, "warning: audit.exporter is none: this action is not recorded in an audit trail")
	}
	conn, err := connectControl(ctx, cfg.ControlDSN, app)
	if err != nil {
		shutdownTracer(tracer)
		return nil, err
	}
	return &gdprEnv{cfg: cfg, catalog: cat, conn: conn, tracer: tracer, operator: op}, nil
}

// close closes the connection and flushes the audit trail (to the
// collector, or to the spool when it is down).
func (e *gdprEnv) close() error {
	e.conn.Close(context.Background())
	return shutdownTracer(e.tracer)
}

func shutdownTracer(t *audit.Tracer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	return nil
}

// connectControl connects to dsn with application_name app.
func connectControl(ctx context.Context, dsn, app string) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included.
		return nil, errors.New("control_dsn: not a valid connection string")
	}
	cc.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// jobTracer builds the audit trail from the config's audit section, as the
// proxy does, with pseudonyms keyed by masking.hash_key_file.
func jobTracer(ctx context.Context, cfg *fileConfig, logger *slog.Logger) (*audit.Tracer, error) {
	ac, err := auditTrailConfig(cfg, logger)
	if err != nil {
		return nil, err
	}
	if cfg.Masking.HashKeyFile != "" {
		key, err := loadHashKey(cfg, logger)
		if err != nil {
			return nil, err
		}
		ac.PseudonymKey = key
	}
	t, err := audit.New(ctx, ac)
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	return t, nil
}

// operatorName returns who runs the command: the flag, else the OS user.
func operatorName(flagValue string) (string, error) {
	if s := strings.TrimSpace(flagValue); s != "" {
		return s, nil
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, nil
	}
	if s := os.Getenv("USER"); s != "" {
		return s, nil
	}
	return "", errors.New("cannot tell who you are: pass --operator NAME")
}

// pgveilVersion is the module version the binary was built from.
func pgveilVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// repeatedFlag is a repeatable string flag.
type repeatedFlag []string

func (l *repeatedFlag) String() string { return strings.Join(*l, ",") }

func (l *repeatedFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// writeFileAtomic writes what write produces to path through a temporary
// file in the same directory, renamed into place only when write succeeds,
// so a failed export leaves no truncated file behind. The file is created
// 0600: it holds personal data.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
