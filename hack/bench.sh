#!/usr/bin/env bash
# make bench: k3d's costs next to the same work done directly, in one run.
#   1. the protocol alone (an in-memory backend as a subprocess): start, round trip, 200 MB streams
#   2. the Docker backend through the protocol against the Docker API called directly
#      (2b containerd against its client and libcni, 2c Podman against its bindings)
#   3. k3d create/delete cluster against the same containers made through the runtime
#   4. k3d image import into four nodes against the save stream piped into one
#   5. a push to a k3d registry against the pull of that image into three nodes
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export K3D_BIN_DIR=${K3D_BIN_DIR:-$PWD/bin}
export RUNTIMES=${RUNTIMES:-docker,podman,containerd}

echo "== 1. protocol: backend start, round trip, 200 MB streams (fake backend in a subprocess)"
go test -run '^$' -bench . -benchtime 5x ./backends/ | grep -E '^(Benchmark|ok|FAIL)'

if [[ ",$RUNTIMES," == *,docker,* ]]; then
	echo
	echo "== 2. docker: k3d-runtime-docker through the protocol vs the Docker API directly"
	(cd backends/docker && go test -run '^$' -bench . -benchtime 10x . | grep -E '^(Benchmark|ok|FAIL)|ratio|x ')
fi

if [[ ",$RUNTIMES," == *,containerd,* ]]; then
	echo
	echo "== 2b. containerd: k3d-runtime-containerd through the protocol vs the containerd client + libcni"
	(cd backends/containerd && go test -run '^$' -bench . -benchtime 10x . | grep -E '^(Benchmark|ok|FAIL)')
fi

# podman is the service k3d would pick here (as root: /run/podman/podman.sock);
# podman-rootless is the k3d-rootless user's, which hack/runtimes-podman.sh
# rootless starts.
# -v because go test prints why a benchmark skipped only then.
podman_bench() {
	(cd backends/podman && go test -v -tags "$(cat buildtags)" -run '^$' -bench . -benchtime 5x . | grep -E '^(Benchmark|ok|FAIL)|SKIP|bench_test.go')
}
if [[ ",$RUNTIMES," == *,podman,* ]]; then
	echo
	echo "== 2c. podman: k3d-runtime-podman through the protocol vs the Podman bindings directly"
	podman_bench
fi
if [[ ",$RUNTIMES," == *,podman-rootless,* ]]; then
	echo
	echo "== 2c. podman-rootless: the same against the k3d-rootless user's service"
	if uid=$(id -u k3d-rootless 2>/dev/null); then
		CONTAINER_HOST=unix:///run/user/$uid/podman/podman.sock podman_bench
	else
		echo "no user k3d-rootless: set it up with hack/runtimes-podman.sh rootless"
	fi
fi

echo
echo "== 3. create/delete cluster vs the same containers made directly"
hack/bench-create.sh

echo
echo "== 4. k3d image import of 200 MB into 1 server + 3 agents vs the save stream piped into one node"
K3D_TEST_RUNTIMES=${K3D_TEST_RUNTIMES:-$RUNTIMES} go test ./conformance/e2e/ -count=1 -timeout 60m -run '^$' \
	-bench 'BenchmarkImageImport' -benchtime "${K3D_BENCH_ROUNDS:-3}x" | grep -vE '^(goos|goarch|pkg|cpu):'

echo
echo "== 5. k3d registry: push 100 MB from the host vs. pulling it into 1 server + 2 agents through the mirror"
K3D_TEST_RUNTIMES=${K3D_TEST_RUNTIMES:-$RUNTIMES} go test ./conformance/e2e/ -count=1 -timeout 60m -run '^$' \
	-bench 'BenchmarkRegistryPull' -benchtime "${K3D_BENCH_ROUNDS:-3}x" | grep -E '^(Benchmark|ok|FAIL|PASS)|^k3d registry|^  '
