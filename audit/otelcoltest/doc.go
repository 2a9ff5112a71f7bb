// Package otelcoltest runs pgveil's OpenTelemetry Collector
// (audit/otelcol, built by audit/otelcol/build.sh) for tests and demos:
// a real OTLP receiver process on free loopback ports that writes every span
// it receives to its own JSON-lines file, which ReadSpans reads back.
//
// It does not import testing: the small TB interface stands in for
// *testing.T, as in proxy/pgtest.
//
// # Finding the binary
//
// Binary looks at $PGVEIL_OTELCOL, then at the cache build.sh writes to:
// ${PGVEIL_CACHE:-$HOME/.cache/pgveil}/otelcol-<DistVersion>/otelcol-pgveil.
// It never builds (a cold build takes minutes; CI runs build.sh before the
// tests). Require implements the project's CI rule: without the binary a
// test is skipped with a message, and fails under CI=true.
//
// # What Start guarantees
//
//   - The collector listens on 127.0.0.1 only: OTLP/gRPC and OTLP/HTTP on
//     ports chosen free when the Collector was made, below the kernel's
//     ephemeral range (so that nothing else is handed them while the
//     collector is stopped), the same ports after every restart (the
//     exporter under test keeps its endpoint).
//   - Its config has no batch processor unless Options.Batch: the file
//     exporter then writes a request before the receiver acknowledges it, so
//     an acknowledged span is in the file ("delivered" means "written").
//   - The spans file is appended to across restarts, never truncated.
//   - Start returns once the collector logged that it is ready and its
//     gRPC port accepts connections, or fails with the tail of its log.
//   - Stop sends SIGTERM (the collector drains and closes the file) and
//     waits; the process is in its own process group and, on Linux, gets
//     SIGTERM if the test process dies.
//
// # Concurrency
//
// A Collector's methods are safe for concurrent use, but Start and Stop of
// one Collector should not race each other in a meaningful test.
package otelcoltest
