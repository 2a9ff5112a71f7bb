package audit

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Exporters (Config.Exporter).
const (
	ExporterOTLPGRPC = "otlp-grpc"
	ExporterOTLPHTTP = "otlp-http"
	ExporterFile     = "file"
	ExporterNone     = "none"
)

// Failure modes (Config.OnFailure).
const (
	OnFailureDeny  = "deny"
	OnFailureAllow = "allow"
)

// Defaults of Config.
const (
	DefaultGRPCEndpoint  = "127.0.0.1:4317"
	DefaultHTTPEndpoint  = "127.0.0.1:4318"
	DefaultSpoolMaxBytes = 256 << 20
	DefaultQueueSize     = 4096
	DefaultBatchSize     = 512
	DefaultExportTimeout = 10 * time.Second
)

// Config is the audit: section of pgveil.yaml, as plain data; cmd fills it
// and New builds everything from it. The zero value of each field is the
// documented default.
type Config struct {
	// Exporter is where spans go: "otlp-grpc", "otlp-http", "file" or
	// "none". Empty means "none": no spans are recorded and Ready always
	// succeeds (the proxy then has no audit trail).
	Exporter string
	// Endpoint is the OTLP receiver: "host:port", or a URL
	// ("https://collector:4318", whose scheme decides TLS and whose path, for
	// HTTP, replaces /v1/traces). If empty, 127.0.0.1:4317 for gRPC and
	// 127.0.0.1:4318 for HTTP.
	Endpoint string
	// Headers are sent with every OTLP request (authentication tokens).
	Headers map[string]string
	// Insecure sends OTLP in plaintext. If false, TLS is used, verified
	// against CAFile or, if CAFile is empty, the system's roots.
	Insecure bool
	// CAFile is a PEM file of the CAs that verify the receiver.
	CAFile string
	// File is the JSON-lines file of the "file" exporter (one OTLP/JSON
	// ExportTraceServiceRequest per line, as the Collector's file exporter
	// writes). Required with exporter "file".
	File string
	// SpoolDir is the durable spool: spans go there while the exporter
	// fails or cannot keep up, and are replayed in order when it recovers.
	// If empty there is no spool: spans wait in memory (bounded), and under
	// deny Ready refuses as soon as the exporter fails.
	SpoolDir string
	// SpoolMaxBytes bounds the spool. If zero, 256 MiB. The spool counts as
	// full at 7/8 of it: Ready then refuses (deny) and, past the bound,
	// spans are dropped and counted (allow).
	SpoolMaxBytes int64
	// OnFailure is "deny" (the default when empty): while the trail cannot
	// be written, Ready returns ErrUnavailable and the proxy refuses
	// personal-data statements; or "allow": statements run, and spans
	// beyond the bounds are dropped and counted.
	OnFailure string

	// PseudonymKey is the secret that keys subject pseudonyms (see
	// Pseudonymizer), at least 16 bytes; cmd passes the key of
	// masking.hash_key_file (a separate key is derived from it). If nil, a
	// random per-process key is used and auditors cannot compute pseudonyms
	// (New logs a warning).
	PseudonymKey []byte
	// ServiceName is the resource's service.name. If empty, "pgveil".
	ServiceName string
	// ServiceInstanceID is the resource's service.instance.id (the sidecar
	// instance). If empty, it is left out.
	ServiceInstanceID string
	// MaxAttributeLength and MaxSubjectKeys are the Tracer's bounds; zero
	// means DefaultMaxAttributeLength and DefaultMaxSubjectKeys.
	MaxAttributeLength int
	MaxSubjectKeys     int
	// QueueSize bounds the spans waiting between the sessions and the
	// exporter; if zero, 4096. BatchSize bounds the spans of one upload and
	// of one spool record; if zero, 512.
	QueueSize int
	BatchSize int
	// ExportTimeout bounds one upload. If zero, 10 s.
	ExportTimeout time.Duration
	// Logger receives the trail's state changes (exporter down, recovered,
	// spool full, spans dropped). It never receives span contents. If nil,
	// logs are discarded.
	Logger *slog.Logger

	// retry is the back-off between failed uploads; tests shorten it.
	retryMin, retryMax time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Exporter == "" {
		c.Exporter = ExporterNone
	}
	switch c.Exporter {
	case ExporterOTLPGRPC:
		if c.Endpoint == "" {
			c.Endpoint = DefaultGRPCEndpoint
		}
	case ExporterOTLPHTTP:
		if c.Endpoint == "" {
			c.Endpoint = DefaultHTTPEndpoint
		}
	case ExporterFile:
		if c.File == "" {
			return c, errors.New("audit config: exporter file needs file")
		}
	case ExporterNone:
	default:
		return c, fmt.Errorf("audit config: exporter %q: want otlp-grpc, otlp-http, file or none", c.Exporter)
	}
	switch c.OnFailure {
	case "":
		c.OnFailure = OnFailureDeny
	case OnFailureDeny, OnFailureAllow:
	default:
		return c, fmt.Errorf("audit config: on_failure %q: want deny or allow", c.OnFailure)
	}
	if c.SpoolMaxBytes == 0 {
		c.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if c.SpoolMaxBytes < 4096 {
		return c, fmt.Errorf("audit config: spool_max_bytes %d: want at least 4096", c.SpoolMaxBytes)
	}
	if c.PseudonymKey != nil && len(c.PseudonymKey) < MinPseudonymKeyLen {
		return c, fmt.Errorf("audit config: pseudonym key: %d bytes, need at least %d", len(c.PseudonymKey), MinPseudonymKeyLen)
	}
	if c.ServiceName == "" {
		c.ServiceName = "pgveil"
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.QueueSize < 0 || c.BatchSize < 0 {
		return c, errors.New("audit config: queue and batch sizes must be positive")
	}
	if c.ExportTimeout == 0 {
		c.ExportTimeout = DefaultExportTimeout
	}
	if c.retryMin == 0 {
		c.retryMin = 100 * time.Millisecond
	}
	if c.retryMax == 0 {
		c.retryMax = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// New builds the audit trail that cfg describes: a dedicated
// TracerProvider that samples every span (a parent's sampled flag is
// ignored: an access is never sampled away), the export pipeline with its
// spool, and a Tracer on top. The spool is opened (and its crash leftovers
// checked) before New returns, and its records start replaying at once.
// Shutdown releases everything.
func New(ctx context.Context, cfg Config) (*Tracer, error) {
	return newTracer(ctx, cfg, nil)
}

// newTracer is New; tests pass up to replace the exporter.
func newTracer(ctx context.Context, cfg Config, up uploader) (*Tracer, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var opts []Option
	if c.PseudonymKey != nil {
		ps, err := NewPseudonymizer(c.PseudonymKey)
		if err != nil {
			return nil, err
		}
		opts = append(opts, WithPseudonymizer(ps))
	} else if c.Exporter != ExporterNone {
		c.Logger.Warn("audit: no pseudonym key configured; subject pseudonyms use a random per-process key and cannot be searched by auditors")
	}
	opts = append(opts, WithMaxAttributeLength(c.MaxAttributeLength), WithMaxSubjectKeys(c.MaxSubjectKeys))
	if c.Exporter == ExporterNone {
		// Nothing is recorded, but events are still counted for metrics.
		return NewTracer(nil, opts...), nil
	}

	if up == nil {
		if up, err = newUploader(c); err != nil {
			return nil, err
		}
	}
	var sp *spool
	var rep spoolOpenReport
	if c.SpoolDir != "" {
		sp, rep, err = openSpool(c.SpoolDir, c.SpoolMaxBytes)
		if err != nil {
			return nil, err
		}
		if rep.Records > 0 || rep.Corrupt > 0 || rep.TmpRemoved > 0 {
			c.Logger.Info("audit spool opened with a backlog; replaying it",
				"records", rep.Records, "spans", rep.Spans, "corrupt_set_aside", rep.Corrupt, "half_written_removed", rep.TmpRemoved)
		}
	}
	if err := up.Start(ctx); err != nil {
		if sp != nil {
			sp.close()
		}
		return nil, fmt.Errorf("audit: start exporter: %w", err)
	}

	resAttrs := []attribute.KeyValue{semconv.ServiceName(c.ServiceName)}
	if c.ServiceInstanceID != "" {
		resAttrs = append(resAttrs, semconv.ServiceInstanceID(c.ServiceInstanceID))
	}
	res := sdkresource.NewWithAttributes(semconv.SchemaURL, resAttrs...)

	maxAttr := c.MaxAttributeLength
	if maxAttr <= 0 {
		maxAttr = DefaultMaxAttributeLength
	}
	pipe := newPipeline(pipelineConfig{
		queueSize:   c.QueueSize,
		batchSize:   c.BatchSize,
		maxPending:  max(c.QueueSize, c.BatchSize*2),
		recordBytes: int(min(max(c.SpoolMaxBytes/16, 4096), 4<<20)),
		spillDelay:  100 * time.Millisecond,
		linger:      defaultLinger,
		minBackoff:  c.retryMin,
		maxBackoff:  c.retryMax,
		deny:        c.OnFailure == OnFailureDeny,
		env:         newEnvelope(res, semconv.SchemaURL),
		logger:      c.Logger,
	}, up, sp)
	// Records a crash damaged are lost spans: count them.
	pipe.corrupt.Add(int64(rep.Corrupt))
	pipe.dropped.Add(rep.CorruptSpans)

	// Set in full rather than from NewSpanLimits, which reads OTEL_*
	// environment variables; the Tracer cuts values first, this is the
	// backstop.
	limits := sdktrace.SpanLimits{
		AttributeValueLengthLimit:   maxAttr,
		AttributeCountLimit:         128,
		EventCountLimit:             16,
		LinkCountLimit:              16,
		AttributePerEventCountLimit: 16,
		AttributePerLinkCountLimit:  16,
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(pipe),
		sdktrace.WithResource(res),
		sdktrace.WithRawSpanLimits(limits),
	)
	t := NewTracer(tp, opts...)
	t.pipe = pipe
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("audit: seed span ids: %w", err)
	}
	t.ids = rand.NewChaCha8(seed)
	t.async = newBuilder(t, c.QueueSize, &pipe.dropped)
	t.shutdown = func(ctx context.Context) error {
		t.async.stop() // every queued event reaches the pipeline first
		return tp.Shutdown(ctx)
	}
	return t, nil
}

// Stats returns the export pipeline's counters; zero for a Tracer made by
// NewTracer or with exporter "none".
func (t *Tracer) Stats() PipelineStats {
	if t.pipe == nil {
		return PipelineStats{Writable: true}
	}
	s := t.pipe.stats()
	s.Queued += int64(t.async.len())
	if t.pipe.cfg.deny && t.async.nearlyFull() {
		s.Writable = false
	}
	return s
}

// ParseBytes parses a size such as "256MiB", "1GB", "64k" or "1048576"
// (bytes). Units: B, k/K/KB (1000), KiB (1024), M/MB, MiB, G/GB, GiB;
// case-insensitive. For cmd's spool_max_bytes.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9') {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (256MiB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	var mult int64
	switch strings.ToLower(strings.TrimSpace(t[i:])) {
	case "", "b":
		mult = 1
	case "k", "kb":
		mult = 1000
	case "kib":
		mult = 1 << 10
	case "m", "mb":
		mult = 1000 * 1000
	case "mib":
		mult = 1 << 20
	case "g", "gb":
		mult = 1000 * 1000 * 1000
	case "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q", s, t[i:])
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mult, nil
}

// defaultLinger is how long a batch that is not full waits for more spans
// (pipelineConfig.linger). At 100 personal-data statements a second or more
// it groups about ten or more spans per upload and per fsync; below that
// rate an upload per span is cheap enough. Measured on a 2-core VM, 1-row
// personal-data query: without it the file exporter's fsync per span made
// the audit trail cost +40% latency (bench BenchmarkPostgresMaskingAudited).
const defaultLinger = 100 * time.Millisecond
