#!/usr/bin/env bash
# Times `k3d create cluster` and `k3d delete cluster` (one server; three servers
# and three agents) against the floor — the same containers created, started and
# removed directly through the runtime contract — in one run, and prints the
# figures and ratios (conformance/e2e BenchmarkCreateDelete).
#
#   hack/bench-create.sh                 rounds: K3D_BENCH_ROUNDS (default 3)
#   RUNTIMES=docker,podman hack/bench-create.sh
#
# Expects bin/ built (make build) and the runtimes running (hack/runtimes.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

ROUNDS=${K3D_BENCH_ROUNDS:-3}
export K3D_BIN_DIR=${K3D_BIN_DIR:-$PWD/bin}
export K3D_TEST_RUNTIMES=${K3D_TEST_RUNTIMES:-${RUNTIMES:-docker}}

[ -x "$K3D_BIN_DIR/k3d" ] || { echo "bench-create: $K3D_BIN_DIR/k3d is missing: run make build" >&2; exit 1; }

echo "bench-create: runtimes $K3D_TEST_RUNTIMES, $ROUNDS round(s) each"
go test ./conformance/e2e/ -count=1 -timeout 60m -run '^$' \
	-bench 'BenchmarkCreateDelete' -benchtime "${ROUNDS}x"
