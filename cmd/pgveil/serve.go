package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pgveil/pgveil/audit"
	"github.com/pgveil/pgveil/proxy"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML); see README, Configuration")
	listen := fs.String("listen", "", "listen address HOST:PORT (overrides the file)")
	upstream := fs.String("upstream", "", "Postgres address HOST:PORT (overrides the file)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides the file)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pgveil serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg := &fileConfig{}
	if *configPath != "" {
		c, err := loadConfig(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "pgveil serve: %v\n", err)
			return 2
		}
		cfg = c
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *upstream != "" {
		cfg.Upstream = *upstream
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:6432"
	}
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil serve: %v\n", err)
		return 2
	}
	if err := serve(ctx, cfg, logger, nil); err != nil {
		logger.Error("pgveil stopped", "err", err)
		return 1
	}
	return 0
}

// serve runs the proxy described by cfg until ctx ends, then drains. ready,
// if not nil, receives the listen address once the proxy accepts.
func serve(ctx context.Context, cfg *fileConfig, logger *slog.Logger, ready func(addr string)) error {
	pc, err := cfg.proxyConfig()
	if err != nil {
		return err
	}
	pc.Logger = logger
	enf, err := newEnforcement(ctx, cfg, logger)
	if err != nil {
		return err
	}
	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(context.Background())
	defer func() {
		stopBG()
		bg.Wait()
		if enf != nil {
			enf.close()
		}
	}()
	if enf != nil {
		enf.configure(&pc)
		bg.Add(1)
		// Owner: serve. Stops when bgCtx is cancelled on the way out.
		go func() { defer bg.Done(); enf.run(bgCtx) }()
	}
	tracer, err := newAuditTrail(ctx, cfg, enf, logger)
	if err != nil {
		return err
	}
	if tracer != nil {
		pc.Tracer = tracer
		defer func() {
			// After the proxy: the last sessions' events are flushed or
			// spooled.
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tracer.Shutdown(sctx); err != nil {
				logger.Error("audit trail shutdown", "err", err)
			}
		}()
	}
	var srv *proxy.Server
	metrics, err := audit.NewMetrics(audit.MetricsConfig{Stats: func() proxy.Stats { return srv.Stats() }, Tracer: tracer})
	if err != nil {
		return err
	}
	pc.Observer = metrics
	if srv, err = proxy.NewServer(pc); err != nil {
		return err
	}
	if cfg.Metrics.Listen != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics.listen: %w", err)
		}
		bg.Add(1)
		// Owner: serve. Returns when bgCtx is cancelled on the way out.
		go func() {
			defer bg.Done()
			if err := metrics.Serve(bgCtx, mln); err != nil && bgCtx.Err() == nil {
				logger.Error("metrics endpoint stopped", "err", err)
			}
		}()
		logger.Info("metrics", "listen", mln.Addr().String(), "path", "/metrics")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("pgveil listening", "addr", ln.Addr().String(), "upstream", pc.Upstream,
		"tls", pc.TLS != nil, "upstream_tls", pc.UpstreamTLS.Mode)
	if ready != nil {
		ready(ln.Addr().String())
	}
	serveErr := make(chan error, 1)
	// Owner: serve. Serve returns once Shutdown closes the listener.
	go func() { serveErr <- srv.Serve(context.Background(), ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	drain := time.Duration(cfg.Shutdown.DrainTimeout)
	if drain == 0 {
		drain = 30 * time.Second
	}
	logger.Info("draining: refusing new connections, letting running statements finish", "timeout", drain)
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("drain deadline passed, closed the remaining sessions")
	}
	if err := <-serveErr; err != nil && !errors.Is(err, proxy.ErrServerClosed) {
		return err
	}
	logger.Info("pgveil stopped")
	return nil
}

func newLogger(c logConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "", "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.Format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.Format)
}
