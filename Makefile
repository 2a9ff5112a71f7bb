# pgveil — build, test, demo, bench, fuzz, lint.
#
# `make test` is what CI runs (.ci/run): vet, the race detector, and every
# integration test against a throwaway Postgres that the tests start from the
# system's PostgreSQL binaries.

GO       ?= go
FUZZTIME ?= 30s
BIN      := bin/pgveil

.PHONY: all build test test-short fuzz bench demo lint fmt-check vet clean

all: build test

build:
	$(GO) build -o $(BIN) ./cmd/pgveil

test: fmt-check vet
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short ./...

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
