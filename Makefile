# k3d: build, test and benchmark. Every backend is a Go module of its own under
# backends/<name>/ that builds bin/k3d-runtime-<name>; k3d finds them next to itself.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export CGO_ENABLED := 0

BIN      := $(CURDIR)/bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/k3d/k3d/version.Version=$(VERSION)
BACKENDS := $(patsubst backends/%/go.mod,%,$(wildcard backends/*/go.mod))
MODULES  := . $(addprefix backends/,$(BACKENDS))
RUNTIMES ?= docker
RUNTIME  ?= docker
# Conformance and end-to-end tests start real containers: give them room.
TEST_TIMEOUT ?= 40m

.PHONY: all build generate vet test unit conformance bench runtimes demo node-image clean

all: build

build:
	@mkdir -p $(BIN)
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/k3d ./cmd/k3d
	@set -e; for b in $(BACKENDS); do \
		echo "go build -> bin/k3d-runtime-$$b"; \
		(cd backends/$$b && go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/k3d-runtime-$$b ./cmd/k3d-runtime-$$b); \
	done

# Regenerates the protocol's Go code from backends/proto with Debian's protoc and
# the Go plugins from the module proxy.
generate:
	hack/generate.sh

vet:
	@set -e; for m in $(MODULES); do echo "go vet ($$m)"; (cd $$m && go vet ./...); done

# The whole suite, as .ci/run runs it: unit tests, the conformance suite against
# every backend in RUNTIMES on its real daemon, and the end-to-end tests.
test: build vet
	@set -e; for m in $(MODULES); do \
		echo "go test ($$m)"; \
		(cd $$m && K3D_BIN_DIR=$(BIN) K3D_TEST_RUNTIMES=$(RUNTIMES) go test -count=1 -timeout $(TEST_TIMEOUT) ./...); \
	done

unit:
	go test -count=1 -short ./...

conformance: build
	K3D_BIN_DIR=$(BIN) K3D_TEST_RUNTIMES=$(RUNTIMES) go test -count=1 -timeout $(TEST_TIMEOUT) -v -run TestConformance ./conformance/

bench: build
	hack/bench.sh

runtimes:
	hack/runtimes.sh $(RUNTIMES)

node-image: build
	@go run ./conformance/k3sdouble/cmd/node-image --runtime $(RUNTIME) --bin-dir $(BIN)

demo: build
	hack/demo.sh

clean:
	rm -rf $(BIN)
