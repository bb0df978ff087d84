# k3d: build, test and benchmark. Every backend is a Go module of its own under
# backends/<name>/ that builds bin/k3d-runtime-<name>; k3d finds them next to itself.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
export CGO_ENABLED := 0

BIN      := $(CURDIR)/bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/k3d/k3d/version.Version=$(VERSION)
# A backend is a module with cmd/k3d-runtime-NAME; an optional backends/NAME/buildtags
# file holds the Go build tags its client library needs.
BACKENDS := $(patsubst backends/%/go.mod,%,$(foreach m,$(wildcard backends/*/go.mod),$(if $(wildcard $(dir $(m))cmd/k3d-runtime-*),$(m))))
tags      = $$(cat buildtags 2>/dev/null)
# podman-rootless is Podman as the unprivileged user k3d-rootless
# (hack/runtimes-podman.sh makes it).
RUNTIMES ?= docker,podman,containerd,podman-rootless
RUNTIME  ?= docker
# Conformance and end-to-end tests start real containers: give them room.
TEST_TIMEOUT ?= 40m

.PHONY: all build generate vet test unit conformance bench runtimes demo node-image install clean

all: build

build:
	@mkdir -p $(BIN)
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/k3d ./cmd/k3d
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/k3d-registry ./cmd/k3d-registry
	@set -e; for b in $(BACKENDS); do \
		echo "go build -> bin/k3d-runtime-$$b"; \
		(cd backends/$$b && go build -trimpath -tags "$(tags)" -ldflags '$(LDFLAGS)' -o $(BIN)/k3d-runtime-$$b ./cmd/k3d-runtime-$$b); \
	done

# Regenerates the protocol's Go code from backends/proto with Debian's protoc and
# the Go plugins from the module proxy.
generate:
	hack/generate.sh

vet:
	@set -e; go vet ./...; for b in $(BACKENDS); do echo "go vet (backends/$$b)"; (cd backends/$$b && go vet -tags "$(tags)" ./...); done

# The whole suite, as .ci/run runs it: the same runtime setup CI does (so a
# half-set-up runtime, e.g. containerd started by `make demo` without CNI plugins,
# is completed first), unit tests, the conformance suite against every backend in
# RUNTIMES on its real daemon, and the end-to-end tests.
test: runtimes build vet
	K3D_BIN_DIR=$(BIN) K3D_TEST_RUNTIMES=$(RUNTIMES) go test -count=1 -timeout $(TEST_TIMEOUT) ./...
	@set -e; for b in $(BACKENDS); do \
		echo "go test (backends/$$b)"; \
		(cd backends/$$b && K3D_BIN_DIR=$(BIN) K3D_TEST_RUNTIMES=$(RUNTIMES) go test -tags "$(tags)" -count=1 -timeout $(TEST_TIMEOUT) ./...); \
	done

unit:
	go test -count=1 -short ./...

conformance: build
	K3D_BIN_DIR=$(BIN) K3D_TEST_RUNTIMES=$(RUNTIMES) go test -count=1 -timeout $(TEST_TIMEOUT) -v -run TestConformance ./conformance/

bench: build
	RUNTIMES=$(RUNTIMES) hack/bench.sh

comma := ,
runtimes:
	hack/runtimes.sh $(subst $(comma), ,$(RUNTIMES))

node-image: build
	@go run ./conformance/k3sdouble/cmd/node-image --runtime $(RUNTIME) --bin-dir $(BIN)

demo: build
	hack/demo.sh

# Installs k3d with every backend program next to it, where k3d looks for them.
PREFIX ?= /usr/local
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN)/k3d $(BIN)/k3d-registry $(foreach b,$(BACKENDS),$(BIN)/k3d-runtime-$(b)) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf $(BIN)
