package audit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
)

// newUploader builds the client of cfg.Exporter. The OTLP clients' own
// retries are off: a failed upload goes back to the pipeline, which spools
// and retries in order.
func newUploader(cfg Config) (uploader, error) {
	switch cfg.Exporter {
	case ExporterOTLPGRPC:
		return newGRPCUploader(cfg)
	case ExporterOTLPHTTP:
		return newHTTPUploader(cfg)
	case ExporterFile:
		return &fileUploader{path: cfg.File}, nil
	}
	return nil, fmt.Errorf("audit: exporter %q: want otlp-grpc, otlp-http, file or none", cfg.Exporter)
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("audit: ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("audit: ca %s: no PEM certificates", cfg.CAFile)
		}
		t.RootCAs = pool
	}
	return t, nil
}

func newGRPCUploader(cfg Config) (uploader, error) {
	opts := []otlptracegrpc.Option{
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
		otlptracegrpc.WithTimeout(cfg.ExportTimeout),
		// gRPC's default reconnect back-off grows to 120 s; after an outage
		// the spool should drain within seconds of the collector's return.
		otlptracegrpc.WithDialOption(grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: cfg.ExportTimeout,
		})),
	}
	if strings.Contains(cfg.Endpoint, "://") {
		opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
	} else {
		opts = append(opts, otlptracegrpc.WithEndpoint(cfg.Endpoint))
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracegrpc.WithHeaders(cfg.Headers))
	}
	if cfg.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	} else {
		t, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(t)))
	}
	return otlptracegrpc.NewClient(opts...), nil
}

func newHTTPUploader(cfg Config) (uploader, error) {
	// A transport of our own (the exporter's default is shared by every
	// exporter in the process), so that Stop can close its idle
	// connections and their goroutines.
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
		otlptracehttp.WithHTTPClient(&http.Client{Transport: tr, Timeout: cfg.ExportTimeout}),
	}
	if strings.Contains(cfg.Endpoint, "://") {
		opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint))
	} else {
		opts = append(opts, otlptracehttp.WithEndpoint(cfg.Endpoint))
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	if cfg.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	} else {
		t, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = t
	}
	return &httpUploader{Client: otlptracehttp.NewClient(opts...), tr: tr}, nil
}

// httpUploader closes the transport's idle connections on Stop.
type httpUploader struct {
	otlptrace.Client
	tr *http.Transport
}

func (u *httpUploader) Stop(ctx context.Context) error {
	err := u.Client.Stop(ctx)
	u.tr.CloseIdleConnections()
	return err
}

// fileUploader appends each batch as one OTLP/JSON line (the Collector
// file exporter's format) and fsyncs it before acknowledging. A failed
// write (disk full) is an export failure: the batch goes to the spool, which
// should then live on another file system. The file is opened in append
// mode, so logrotate's copytruncate works; pgveil never truncates it.
type fileUploader struct {
	path string
	mu   sync.Mutex // Stop may race with the last upload
	f    *os.File
	buf  []byte
}

func (u *fileUploader) Start(context.Context) error {
	f, err := os.OpenFile(u.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: file exporter: %w", err)
	}
	u.f = f
	return nil
}

func (u *fileUploader) UploadTraces(_ context.Context, rss []*tracepb.ResourceSpans) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.f == nil {
		return errors.New("audit: file exporter stopped")
	}
	var err error
	u.buf, err = appendOTLPJSON(u.buf[:0], rss)
	if err != nil {
		return fmt.Errorf("audit: file exporter: %w", err)
	}
	// The length before the write, read each time because logrotate's
	// copytruncate may have emptied the file since the last one.
	fi, err := u.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: file exporter: %w", err)
	}
	if _, err := u.f.Write(u.buf); err != nil {
		// Cut a half-written line off, so that the retry's line is not
		// glued to it (best effort: the disk may be full).
		_ = u.f.Truncate(fi.Size())
		return fmt.Errorf("audit: file exporter: %w", err)
	}
	if err := u.f.Sync(); err != nil {
		return fmt.Errorf("audit: file exporter: %w", err)
	}
	// Keep the buffer across uploads (a lingering batch of a busy proxy is
	// a few MiB); drop it only when an unusual burst made it huge.
	if cap(u.buf) > 32<<20 {
		u.buf = nil
	}
	return nil
}

func (u *fileUploader) Stop(context.Context) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.f == nil {
		return nil
	}
	err := u.f.Close()
	u.f = nil
	return err
}
