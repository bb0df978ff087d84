#!/usr/bin/env bash
# Regenerates the protocol's Go code from backends/proto/runtime.proto with
# Debian's protoc and the Go plugins at pinned versions from the module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "generate: protoc missing; install it with: apt-get install protobuf-compiler" >&2; exit 1; }
GOBIN=$(go env GOPATH)/bin
go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
PATH="$GOBIN:$PATH" protoc -I backends/proto \
	--go_out=backends/internal/runtimepb --go_opt=paths=source_relative \
	--go-grpc_out=backends/internal/runtimepb --go-grpc_opt=paths=source_relative \
	backends/proto/runtime.proto
echo "generate: backends/internal/runtimepb updated"
