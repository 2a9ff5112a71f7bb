#!/usr/bin/env bash
# Build pgveil's OpenTelemetry Collector (the trace backend of the demo and the
# audit integration tests) from the Go module proxy, and cache the binary.
#
#   audit/otelcol/build.sh            build, or reuse the cached binary
#   audit/otelcol/build.sh --force    rebuild even if the cache is valid
#   audit/otelcol/build.sh --relock   re-resolve modules after editing
#                                     manifest.yaml, rewrite go.mod.lock and
#                                     go.sum.lock, then build
#
# The last line on stdout is the absolute path of the binary; everything else
# goes to stderr, so `bin=$(audit/otelcol/build.sh | tail -n1)` works.
#
# Where: ${PGVEIL_CACHE:-$HOME/.cache/pgveil}/otelcol-<dist.version>/otelcol-pgveil
# The binary is reused while the cache key in otelcol-pgveil.key matches:
# sha256 of manifest.yaml, go.mod.lock, go.sum.lock, the builder version and
# `go version` / GOOS / GOARCH. Concurrent runs are serialised with flock.
#
# How versions and hashes are pinned
# ----------------------------------
# * The builder (ocb) is installed with `go install ...@$OCB_VERSION`; the go
#   command checks its module zip against the checksum database
#   (sum.golang.org, which the go command reaches through the module proxy,
#   so this works on machines that reach only the proxy).
# * manifest.yaml pins every component at one collector release.
# * go.mod.lock and go.sum.lock are the generated distribution's go.mod and
#   go.sum, committed. A normal build runs the builder with
#   --skip-get-modules (it writes the Go sources, no go.mod, runs no
#   `go mod tidy`), drops the two lock files in as go.mod / go.sum and has
#   the builder compile (`go build -trimpath`) with GOFLAGS=-mod=readonly.
#   The go command then verifies every module zip and go.mod it downloads
#   against go.sum.lock and fails ("missing go.sum entry") rather than
#   resolve anything not pinned there. A normal build therefore does not
#   consult the checksum database, and a module republished with other
#   content is refused.
# * --relock resolves from scratch: `go get` of the manifest's pins, then
#   `go mod tidy -e` (see below why not the builder's own tidy), then a
#   check that no pinned module was moved by minimal version selection.
#   Every new go.sum line is checked against sum.golang.org (the script
#   refuses GOSUMDB=off and any GONOSUMDB/GOPRIVATE/GOINSECURE).
#   Review the diff of the lock files like any go.sum change.
set -euo pipefail

OCB_VERSION=v0.165.0
OCB_MODULE=go.opentelemetry.io/collector/cmd/builder

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
manifest=$here/manifest.yaml
lock_mod=$here/go.mod.lock
lock_sum=$here/go.sum.lock

relock=0
force=0
for arg in "$@"; do
	case $arg in
	--relock) relock=1 ;;
	--force) force=1 ;;
	-h | --help)
		sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "build.sh: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

log() { echo "otelcol: $*" >&2; }
die() {
	echo "otelcol: error: $*" >&2
	exit 1
}

command -v go >/dev/null || die "go not found in PATH"
# Never let go.mod's go line fetch another toolchain behind our back.
export GOTOOLCHAIN=local
# The builder compiles with CGO_ENABLED=0 (static binary) unless the manifest
# says otherwise.

dist_version=$(sed -n 's/^  version: *\([^ #]*\).*/\1/p' "$manifest" | head -n1)
dist_name=$(sed -n 's/^  name: *\([^ #]*\).*/\1/p' "$manifest" | head -n1)
if [ -z "$dist_version" ] || [ -z "$dist_name" ]; then
	die "cannot read dist.version / dist.name from $manifest"
fi

cache_root=${PGVEIL_CACHE:-${HOME:?HOME or PGVEIL_CACHE must be set}/.cache/pgveil}
dir=$cache_root/otelcol-$dist_version
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$dir/$dist_name
keyfile=$bin.key

cache_key() {
	{
		cat "$manifest"
		cat "$lock_mod" "$lock_sum" 2>/dev/null || true
		echo "ocb $OCB_VERSION"
		go version
		go env GOOS GOARCH
	} | sha256sum | cut -d' ' -f1
}

# One build at a time per cache dir (parallel test packages, make demo + CI).
if command -v flock >/dev/null; then
	exec 9>"$dir/.lock"
	flock 9
fi

if [ $relock = 0 ]; then
	if ! [ -f "$lock_mod" ] || ! [ -f "$lock_sum" ]; then
		die "$lock_mod / $lock_sum missing: run $0 --relock"
	fi
	key=$(cache_key)
	if [ $force = 0 ] && [ -x "$bin" ] && [ -f "$keyfile" ] && [ "$(cat "$keyfile")" = "$key" ]; then
		log "cached: $bin"
		echo "$bin"
		exit 0
	fi
fi

start=$SECONDS

# 1. The builder, pinned, into the cache dir.
builder=$dir/bin/builder
if ! [ -x "$builder" ] || [ "$("$builder" version 2>/dev/null)" != "ocb version $OCB_VERSION" ]; then
	log "installing $OCB_MODULE@$OCB_VERSION into $dir/bin"
	# GOFLAGS cleared: a -mod flag from the environment breaks pkg@version.
	GOBIN=$dir/bin GOFLAGS='' go install "$OCB_MODULE@$OCB_VERSION" >&2
fi

# 2. Generate into a temp dir.
work=$(mktemp -d "${TMPDIR:-/tmp}/otelcol-pgveil.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$manifest" "$work/manifest.yaml"
cd "$work" # manifest's dist.output_path (./src) is relative to this
# The builder makes an unused empty temp dir on every run; keep it in $work.
export TMPDIR=$work
src=$work/src

if [ $relock = 1 ]; then
	sumdb=$(go env GOSUMDB)
	[ "$sumdb" != off ] || die "--relock needs the checksum database: GOSUMDB=off"
	for v in GONOSUMDB GOPRIVATE GOINSECURE; do
		[ -z "$(go env "$v" 2>/dev/null)" ] || die "--relock: unset $v so every hash is checked against $sumdb"
	done
	log "relock: resolving through $(go env GOPROXY), new hashes checked against $sumdb"
	# Sources only: the builder's own `go mod tidy` fails here, because
	# fileexporter's *tests* import otlpencodingextension, whose zips the
	# module proxy refuses (403 "not available"). The collector binary never
	# imports it, so we resolve ourselves and let `tidy -e` skip the
	# test-only package.
	"$builder" --config manifest.yaml --skip-get-modules --skip-compilation >&2
	dist_module=$(sed -n 's/^  module: *\([^ #]*\).*/\1/p' manifest.yaml | head -n1)
	pins=$(sed -n 's/^ *\(- \)\{0,1\}gomod: *\([^ ]*\) \([^ #]*\).*/\2@\3/p' manifest.yaml)
	pins="$pins go.opentelemetry.io/collector/otelcol@$OCB_VERSION"
	(
		cd "$src"
		go mod init "$dist_module" 2>/dev/null
		go mod edit -go=1.25 # as the builder's template; raised to what the modules need
		# shellcheck disable=SC2086
		go get $pins >&2
		if ! go mod tidy -e 2>"$work/tidy.err"; then
			cat "$work/tidy.err" >&2
			die "go mod tidy failed"
		fi
		if [ -s "$work/tidy.err" ]; then
			# Tolerate only test-only packages of dependencies: every error
			# chain must go through "X tested by X.test".
			if ! awk '/^go: (downloading|finding|found|added|upgraded)/ { next }
				/^go: / { if (b != "" && b !~ /tested by/) bad = 1; b = $0; next }
				{ b = b "\n" $0 }
				END { if (b != "" && b !~ /tested by/) bad = 1; exit bad }' "$work/tidy.err"; then
				cat "$work/tidy.err" >&2
				die "go mod tidy: a package the collector needs cannot be loaded"
			fi
			log "tidy skipped test-only packages of dependencies:"
			grep -o "[^ ]*@v[^:]*: reading" "$work/tidy.err" | sed "s/: reading\$//" | sort -u | sed "s/^/    /" >&2 || true
		fi
		# Strict versioning: minimal version selection must not have moved
		# any pinned module (that would mix collector releases).
		for pin in $pins; do
			want=${pin#*@}
			got=$(go list -m -f '{{.Version}}' "${pin%@*}")
			[ "$got" = "$want" ] || die "${pin%@*}: manifest pins $want, dependencies select $got"
		done
	)
	cp "$src/go.mod" "$lock_mod"
	cp "$src/go.sum" "$lock_sum"
	log "wrote $lock_mod and $lock_sum"
	key=$(cache_key)
else
	"$builder" --config manifest.yaml --skip-get-modules --skip-compilation >&2
	cp "$lock_mod" "$src/go.mod"
	cp "$lock_sum" "$src/go.sum"
fi

# 3. Compile with the pinned go.mod/go.sum: `go build -trimpath -ldflags=-s -w`,
#    run by the builder. -mod=readonly: nothing is resolved or added.
log "compiling (cold: about 2 minutes on 2 cores)"
GOFLAGS="-mod=readonly -buildvcs=false" "$builder" --config manifest.yaml \
	--skip-generate --skip-get-modules >&2

# 4. Smoke-check, then install atomically with its key.
"$src/$dist_name" --version >&2 || die "built binary does not run"
cp "$src/$dist_name" "$bin.tmp.$$"
mv -f "$bin.tmp.$$" "$bin"
echo "$key" >"$keyfile"
log "built in $((SECONDS - start))s: $bin"
echo "$bin"
