// Package audit records every access to personal data as an OpenTelemetry
// span, and makes sure none is lost. It is the only package of pgveil that
// imports the OpenTelemetry SDK (DESIGN.md, Layout): cmd passes a plain
// Config, and this package builds the provider, the exporters, the spool
// and the metrics from it.
//
// # What it guarantees
//
//   - One span per proxy.StatementEvent (a statement that touched personal
//     data, or a refused statement or session), never one per row. Its name
//     and attributes follow the OTel database conventions (db.system.name,
//     db.namespace, db.operation.name, db.collection.name,
//     db.query.summary, db.query.text, db.response.returned_rows,
//     db.response.status_code, server.address, client.address, error.type)
//     plus pgveil.* attributes (attrs.go; README.md has the table).
//   - No personal data in any attribute: the query text is the analyzer's
//     normalized text (literals replaced), subject keys are keyed
//     pseudonyms (Pseudonymizer), every string is bounded.
//   - Trace linking: a valid W3C traceparent on the event (from a
//     sqlcommenter comment) makes the span a child of the application's
//     span.
//   - Never sampled away: New builds a dedicated TracerProvider with
//     AlwaysSample, whatever the parent's sampled flag; it is never the
//     global provider.
//   - Never silently dropped: spans the exporter cannot take (collector
//     down, slow, or rejecting) go to a durable spool (spool.go) and are
//     replayed in order, none twice, when it recovers. When the trail cannot
//     be written (spool full, or no spool and the exporter down) Ready
//     returns ErrUnavailable under on_failure: deny, and the proxy refuses
//     personal-data statements; under allow, spans beyond the bounds are
//     dropped and counted. Every loss is counted in the metrics.
//
// # Use
//
// Production (cmd/pgveil): New(ctx, Config) → proxy.Config{Tracer: t} →
// t.Shutdown(ctx) after the proxy drained. NewMetrics(MetricsConfig{Stats:
// srv.Stats, Tracer: t}) → proxy.Config{Observer: m} → m.ListenAndServe(ctx,
// metrics.listen). Tests: NewTracer(tracetest.NewSpanRecorder()-backed
// provider, ...).
//
// # Concurrency
//
// Tracer.TraceStatement and Ready are called on the proxy's relay
// goroutines, concurrently, and never block. With a Tracer made by New,
// TraceStatement only puts the event in a bounded queue (about 0.1 µs): the
// span is built off the session's path. Such a Tracer owns three goroutines,
// all joined by Shutdown, in a line:
//
//	builder  makes the SDK span of each queued event (attributes,
//	         pseudonyms) and ends it, which hands it to the pipeline
//	pump     alone owns the pending spans, the spool and the retry state;
//	         converts spans to OTLP, batches, spills, replays
//	sender   performs the one upload in flight, so that the pump keeps
//	         spilling while an upload hangs
//
// The builder's queue is where a span can be dropped (counted) when
// everything behind it is stuck; under on_failure: deny, Ready refuses new
// personal-data statements once it is three quarters full. Metrics.Serve
// owns one goroutine that it joins before returning. Nothing here has
// package-level mutable state.
package audit
