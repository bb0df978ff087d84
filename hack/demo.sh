#!/usr/bin/env bash
# The README's first command (`make demo`): on a fresh machine, make sure Docker
# runs, create a k3d cluster, show its nodes the way kubectl does, delete it.
#
#   hack/demo.sh            (make demo builds bin/ first)
#
# No container registry is reachable on the build machines, so the cluster's
# nodes run the k3s test double (a small stand-in for k3s built from this
# repository) instead of rancher/k3s. With registry access, a plain
# `k3d create cluster` uses rancher/k3s.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export CGO_ENABLED=0

RUNTIME=docker
CLUSTER=${K3D_DEMO_CLUSTER:-demo}
BIN=$PWD/bin

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'demo: ERROR: %s\n' "$*" >&2; exit 1; }

step "Making sure Docker runs (hack/runtimes.sh docker)"
hack/runtimes.sh docker

if [ ! -x "$BIN/k3d" ] || [ ! -x "$BIN/k3d-runtime-$RUNTIME" ]; then
	step "Building k3d (make build)"
	make build
fi

step "Building the k3s test double image and loading it into $RUNTIME"
echo "No container registry is reachable here, so this demo uses the k3s test double"
echo "(conformance/k3sdouble) as the node image instead of rancher/k3s. With registry"
echo "access, \`k3d create cluster\` uses rancher/k3s and needs no -i flag."
IMAGE=$(PATH=$BIN:$PATH go run ./conformance/k3sdouble/cmd/node-image --runtime "$RUNTIME" --bin-dir "$BIN" | tail -n 1)
[ -n "$IMAGE" ] || die "the node-image command printed no image reference"
echo "node image: $IMAGE"

# The demo's kubeconfig is a file of its own, so that ~/.kube/config is not touched.
workdir=$(mktemp -d)
export KUBECONFIG=$workdir/kubeconfig
export K3D_RUNTIME=$RUNTIME
echo "KUBECONFIG=$KUBECONFIG (a temporary file: your ~/.kube/config is left alone)"

if "$BIN/k3d" get cluster "$CLUSTER" >/dev/null 2>&1; then
	die "a cluster named $CLUSTER exists already: delete it with 'bin/k3d delete cluster $CLUSTER' or set K3D_DEMO_CLUSTER"
fi

created=
cleanup() {
	status=$?
	if [ -n "$created" ]; then
		step "Deleting the cluster: bin/k3d delete cluster $CLUSTER"
		"$BIN/k3d" delete cluster "$CLUSTER" || status=1
	fi
	rm -rf "$workdir"
	exit $status
}
trap cleanup EXIT

step "bin/k3d create cluster $CLUSTER -i $IMAGE"
created=1
"$BIN/k3d" create cluster "$CLUSTER" -i "$IMAGE"

step "bin/k3d get cluster"
"$BIN/k3d" get cluster

step "bin/k3d get node"
"$BIN/k3d" get node

if command -v kubectl >/dev/null; then
	step "kubectl get nodes"
	kubectl get nodes
fi
step "The same through client-go (go run ./conformance/e2e/cmd/list-nodes)"
go run ./conformance/e2e/cmd/list-nodes

echo
echo "The cluster works: k3d wrote its kubeconfig, and its API lists the nodes."
