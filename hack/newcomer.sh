#!/usr/bin/env bash
# The newcomer's path, end to end: a fresh clone of this repository (its committed
# HEAD, not the working tree) into a temp dir, `make demo`, then `make test`, each
# of which must exit 0 on its own, in that order.
#
#   hack/newcomer.sh            (RUNTIMES=docker by default: the runtime a newcomer has)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
export RUNTIMES=${RUNTIMES:-docker}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

say() { printf '\nnewcomer: %s\n' "$*"; }
say "git clone $src -> $dir/k3d"
git clone -q "$src" "$dir/k3d"
cd "$dir/k3d"
say "make demo"
make demo || { say "FAILED: make demo"; exit 1; }
say "make test RUNTIMES=$RUNTIMES"
make test || { say "FAILED: make test after make demo"; exit 1; }
say "ok: make demo, then make test, on a fresh clone"
