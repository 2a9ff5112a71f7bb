# pgveil — build, test, demo, bench, fuzz, lint.
#
# `make test` is what CI runs (.ci/run): vet, the race detector, and every
# integration test against a throwaway Postgres that the tests start from the
# system's PostgreSQL binaries.

GO       ?= go
FUZZTIME ?= 30s
BIN      := bin/pgveil

.PHONY: all build test test-short fuzz bench demo lint fmt-check vet clean otelcol

all: build test

build:
	$(GO) build -o $(BIN) ./cmd/pgveil

# The audit tests export spans to a real OpenTelemetry Collector, built once
# from the Go module proxy with pinned versions and cached (audit/otelcol).
test: fmt-check vet otelcol
	$(GO) test -race -count=1 -timeout 25m ./...

test-short:
	$(GO) test -short ./...

otelcol:
	@audit/otelcol/build.sh >/dev/null

# demo: a throwaway Postgres with the demo dataset, pgveil in front of it
# with the example rules and policies, and (when built) a Collector for the
# audit trail. Ctrl-C stops everything and removes the data.
demo: build
	$(BIN) demo

# fuzz: every fuzz target for FUZZTIME each (go test -fuzz takes one target
# per run). The seed corpora live in testdata/fuzz/ next to each package.
fuzz:
	$(GO) test ./proxy -run='^$$' -fuzz='^FuzzFrameReader$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./proxy -run='^$$' -fuzz='^FuzzStartup$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./rules -run='^$$' -fuzz='^FuzzAppendDataRow$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./rules -run='^$$' -fuzz='^FuzzCopyRow$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./rules -run='^$$' -fuzz='^FuzzScrub$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./rules -run='^$$' -fuzz='^FuzzParseCatalog$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./proxy/analyze -run='^$$' -fuzz='^FuzzAnalyze$$' -fuzztime=$(FUZZTIME)
	$(GO) test ./proxy/analyze -run='^$$' -fuzz='^FuzzShapeLiterals$$' -fuzztime=$(FUZZTIME)

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l -s $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: fmt-check vet

# bench: the Go benchmarks (compare runs with benchstat; see bench/README.md).
# bench-compare: pgbench direct vs pgbouncer vs pgveil, interleaved (~14 min);
# bench-quick: its smoke run (~2 min). Extra flags go in BENCH_ARGS, e.g.
# BENCH_ARGS='--target masked=bench/masked.yaml'.
.PHONY: bench-compare bench-quick
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./rules/... ./bench/...

bench-compare:
	@$(GO) run ./bench/cmd/pgbench-compare $(BENCH_ARGS)

bench-quick:
	@$(GO) run ./bench/cmd/pgbench-compare --quick $(BENCH_ARGS)

clean:
	rm -rf bin
