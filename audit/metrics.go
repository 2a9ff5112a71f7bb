package audit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

// MetricsConfig says where the operations metrics come from. Every field
// may be left zero; its metrics are then absent.
type MetricsConfig struct {
	// Stats reads the proxy's cumulative counters (proxy.Server.Stats); it
	// is called once per scrape.
	Stats func() proxy.Stats
	// Tracer is the audit trail whose event and export counters are
	// exported.
	Tracer *Tracer
	// ServiceName is the resource's service.name (the target_info metric).
	// If empty, "pgveil".
	ServiceName string
	// LatencyBuckets are the statement latency histogram's bucket bounds in
	// seconds. If nil, 100 µs to 10 s in roughly ×2.5 steps.
	LatencyBuckets []float64
}

// Metrics are pgveil's operations metrics, built on the OpenTelemetry
// metrics SDK and exposed in the Prometheus text format by Handler (Serve
// runs an HTTP server for metrics.listen). Counters the proxy and the audit
// trail already keep are read at scrape time through observable
// instruments; only statement latencies are recorded as they happen, through
// ObserveStatement (Metrics implements proxy.StatementObserver).
//
// Metric names (Prometheus form):
//
//	pgveil_connections_accepted_total, pgveil_connections_refused_total
//	pgveil_sessions_total, pgveil_sessions_active, pgveil_cancels_total
//	pgveil_statements_total
//	pgveil_refusals_total{cause="policy|opaque|audit|session"}
//	pgveil_masked_rows_total, pgveil_masked_values_total
//	pgveil_statement_duration_seconds{kind,outcome}        histogram
//	pgveil_audit_events_total{outcome}                      personal-data statements and refused sessions
//	pgveil_audit_decisions_total{decision="allow|deny"}
//	pgveil_audit_spans_total{result="exported|replayed|spooled|dropped"}
//	pgveil_audit_export_errors_total, pgveil_audit_spool_corrupt_records_total
//	pgveil_audit_spool_bytes, pgveil_audit_spool_spans, pgveil_audit_queue_spans
//	pgveil_audit_writable, pgveil_audit_exporter_up          0 or 1
//
// No label holds personal data or a value chosen by a client: labels are
// statement kinds, outcomes, causes and results, all from fixed sets.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	handler  http.Handler
	latency  metric.Float64Histogram
	// recordOpts holds one prebuilt attribute set per (kind, outcome), as
	// the variadic slice Record takes, so that ObserveStatement allocates
	// nothing.
	recordOpts map[obsKey][]metric.RecordOption
}

var _ proxy.StatementObserver = (*Metrics)(nil)

type obsKey struct {
	kind    rules.Kind
	outcome string
}

// allKinds are the statement kinds the histogram is labelled with.
var allKinds = []rules.Kind{
	rules.KindSelect, rules.KindInsert, rules.KindUpdate, rules.KindDelete, rules.KindMerge,
	rules.KindCopyTo, rules.KindCopyFrom, rules.KindCreateTableAs, rules.KindCreateView,
	rules.KindDeclare, rules.KindFetch, rules.KindClosePortal, rules.KindPrepare, rules.KindExecute,
	rules.KindDeallocate, rules.KindExplain, rules.KindDo, rules.KindCall, rules.KindTransaction,
	rules.KindSet, rules.KindShow, rules.KindListen, rules.KindNotify, rules.KindDDL,
	rules.KindUtility, rules.KindEmpty, rules.KindUnknown,
}

// Metric attribute keys (Prometheus labels).
const (
	labelKind     = attribute.Key("kind")
	labelOutcome  = attribute.Key("outcome")
	labelCause    = attribute.Key("cause")
	labelResult   = attribute.Key("result")
	labelDecision = attribute.Key("decision")
)

// NewMetrics builds the metrics. It registers them with a registry of its
// own (never Prometheus' global one), together with the Go runtime and
// process collectors.
func NewMetrics(cfg MetricsConfig) (*Metrics, error) {
	reg := promclient.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithoutScopeInfo(),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	name := cfg.ServiceName
	if name == "" {
		name = "pgveil"
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exp),
		sdkmetric.WithResource(sdkresource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(name))),
	)
	m := &Metrics{
		provider:   mp,
		handler:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		recordOpts: make(map[obsKey][]metric.RecordOption, len(allKinds)*len(outcomes)),
	}
	meter := mp.Meter(ScopeName)
	if err := m.build(meter, cfg); err != nil {
		_ = mp.Shutdown(context.Background())
		return nil, fmt.Errorf("audit metrics: %w", err)
	}
	for _, k := range allKinds {
		for _, o := range outcomes {
			m.recordOpts[obsKey{k, o}] = []metric.RecordOption{
				metric.WithAttributeSet(attribute.NewSet(labelKind.String(string(k)), labelOutcome.String(o))),
			}
		}
	}
	return m, nil
}

func (m *Metrics) build(meter metric.Meter, cfg MetricsConfig) error {
	buckets := cfg.LatencyBuckets
	if buckets == nil {
		buckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	}
	var err error
	m.latency, err = meter.Float64Histogram("pgveil.statement.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Statement latency through the proxy, from receiving the statement to its completion, by kind and outcome."),
		metric.WithExplicitBucketBoundaries(buckets...))
	if err != nil {
		return err
	}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}

	if cfg.Stats != nil {
		accepted := counter("pgveil.connections.accepted", "{connection}", "Client connections accepted.")
		refused := counter("pgveil.connections.refused", "{connection}", "Client connections refused before a session started.")
		sessions := counter("pgveil.sessions", "{session}", "Sessions started (upstream authenticated).")
		active := gauge("pgveil.sessions.active", "{session}", "Sessions running now.")
		cancels := counter("pgveil.cancels", "{request}", "Cancel requests forwarded.")
		statements := counter("pgveil.statements", "{statement}", "Statements analysed.")
		refusals := counter("pgveil.refusals", "{refusal}", "Statements and sessions refused, by cause.")
		maskedRows := counter("pgveil.masked.rows", "{row}", "Rows rewritten by masking.")
		maskedValues := counter("pgveil.masked.values", "{value}", "Values masked (a lower bound).")
		if err := errors.Join(errs...); err != nil {
			return err
		}
		causes := [...]metric.ObserveOption{
			metric.WithAttributeSet(attribute.NewSet(labelCause.String("policy"))),
			metric.WithAttributeSet(attribute.NewSet(labelCause.String("opaque"))),
			metric.WithAttributeSet(attribute.NewSet(labelCause.String("audit"))),
			metric.WithAttributeSet(attribute.NewSet(labelCause.String("session"))),
		}
		_, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			s := cfg.Stats()
			o.ObserveInt64(accepted, s.Accepted)
			o.ObserveInt64(refused, s.Refused)
			o.ObserveInt64(sessions, s.Sessions)
			o.ObserveInt64(active, s.Active)
			o.ObserveInt64(cancels, s.Cancels)
			o.ObserveInt64(statements, s.Statements)
			o.ObserveInt64(refusals, s.DeniedPolicy, causes[0])
			o.ObserveInt64(refusals, s.DeniedOpaque, causes[1])
			o.ObserveInt64(refusals, s.DeniedAudit, causes[2])
			o.ObserveInt64(refusals, s.DeniedSession, causes[3])
			o.ObserveInt64(maskedRows, s.MaskedRows)
			o.ObserveInt64(maskedValues, s.MaskedValues)
			return nil
		}, accepted, refused, sessions, active, cancels, statements, refusals, maskedRows, maskedValues)
		if err != nil {
			return err
		}
	}

	if t := cfg.Tracer; t != nil {
		events := counter("pgveil.audit.events", "{event}", "Audit events (personal-data statements and refused sessions), by outcome.")
		decisions := counter("pgveil.audit.decisions", "{decision}", "Policy decisions of audited events.")
		spans := counter("pgveil.audit.spans", "{span}", "Audit spans by result: exported (directly), replayed (from the spool), spooled (written to the spool), dropped (lost).")
		exportErrors := counter("pgveil.audit.export.errors", "{error}", "Failed audit span uploads.")
		corrupt := counter("pgveil.audit.spool.corrupt_records", "{record}", "Spool records set aside because they failed their check.")
		spoolBytes := gauge("pgveil.audit.spool.bytes", "By", "Bytes in the audit spool.")
		spoolSpans := gauge("pgveil.audit.spool.spans", "{span}", "Spans in the audit spool, waiting for replay.")
		queued := gauge("pgveil.audit.queue.spans", "{span}", "Audit spans waiting in memory.")
		writable := gauge("pgveil.audit.writable", "", "1 while the audit trail can be written, 0 while personal-data statements are refused (on_failure: deny) or spans are dropped (allow).")
		up := gauge("pgveil.audit.exporter.up", "", "1 while audit span uploads succeed.")
		if err := errors.Join(errs...); err != nil {
			return err
		}
		outcomeOpts := make([]metric.ObserveOption, numOutcomes)
		for i, o := range outcomes {
			outcomeOpts[i] = metric.WithAttributeSet(attribute.NewSet(labelOutcome.String(o)))
		}
		allow := metric.WithAttributeSet(attribute.NewSet(labelDecision.String(DecisionAllow)))
		deny := metric.WithAttributeSet(attribute.NewSet(labelDecision.String(DecisionDeny)))
		results := [...]metric.ObserveOption{
			metric.WithAttributeSet(attribute.NewSet(labelResult.String("exported"))),
			metric.WithAttributeSet(attribute.NewSet(labelResult.String("replayed"))),
			metric.WithAttributeSet(attribute.NewSet(labelResult.String("spooled"))),
			metric.WithAttributeSet(attribute.NewSet(labelResult.String("dropped"))),
		}
		_, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			for i := range outcomes {
				o.ObserveInt64(events, t.events[i].Load(), outcomeOpts[i])
			}
			o.ObserveInt64(decisions, t.decisions[0].Load(), allow)
			o.ObserveInt64(decisions, t.decisions[1].Load(), deny)
			s := t.Stats()
			o.ObserveInt64(spans, s.Exported, results[0])
			o.ObserveInt64(spans, s.Replayed, results[1])
			o.ObserveInt64(spans, s.Spooled, results[2])
			o.ObserveInt64(spans, s.Dropped, results[3])
			o.ObserveInt64(exportErrors, s.ExportErrors)
			o.ObserveInt64(corrupt, s.CorruptRecords)
			o.ObserveInt64(spoolBytes, s.SpoolBytes)
			o.ObserveInt64(spoolSpans, s.SpoolSpans)
			o.ObserveInt64(queued, s.Queued)
			o.ObserveInt64(writable, boolInt(s.Writable))
			o.ObserveInt64(up, boolInt(!s.ExporterDown))
			return nil
		}, events, decisions, spans, exportErrors, corrupt, spoolBytes, spoolSpans, queued, writable, up)
		if err != nil {
			return err
		}
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// ObserveStatement implements proxy.StatementObserver: it records one
// statement's latency. It is safe for concurrent use and does not block.
func (m *Metrics) ObserveStatement(kind rules.Kind, outcome string, d time.Duration) {
	opts, ok := m.recordOpts[obsKey{kind, outcome}]
	if !ok {
		// A kind or outcome added after this list: still recorded, under
		// unknown/other so that labels stay a fixed set.
		opts = m.recordOpts[obsKey{rules.KindUnknown, "other"}]
	}
	m.latency.Record(context.Background(), d.Seconds(), opts...)
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// ListenAndServe serves /metrics on addr (metrics.listen) until ctx ends.
func (m *Metrics) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen: %w", err)
	}
	return m.Serve(ctx, ln)
}

// Serve serves /metrics on ln until ctx ends, then shuts the server down
// (waiting up to 5 s for scrapes in progress) and returns nil. ln is closed
// when Serve returns.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.handler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	var wg sync.WaitGroup
	stopped := make(chan struct{})
	// Owner: Serve. It exits when ctx ends (after shutting the server
	// down) or when Serve returns for another reason (stopped closed); Serve
	// waits for it.
	wg.Go(func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				srv.Close()
			}
		case <-stopped:
		}
	})
	err := srv.Serve(ln)
	close(stopped)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("metrics serve: %w", err)
}

// Shutdown stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error {
	return m.provider.Shutdown(ctx)
}
