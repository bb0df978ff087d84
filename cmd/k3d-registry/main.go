// Command k3d-registry is the container registry k3d's registry nodes run:
// the CNCF distribution registry, configured as the upstream registry:2 image
// is (the same file layout and REGISTRY_* variables), so that k3d configures
// a node of its own image and one of registry:2 the same way.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry"

	// Storage on the node's volume; the pull-through cache needs no import:
	// the registry's handlers bring it in.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// baseConfig is registry:2's /etc/docker/registry/config.yml. REGISTRY_*
// variables override any of it (REGISTRY_PROXY_REMOTEURL,
// REGISTRY_STORAGE_DELETE_ENABLED, REGISTRY_HTTP_ADDR, ...), as in registry:2.
const baseConfig = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "k3d-registry:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] != "serve" {
		return fmt.Errorf("unknown command %q: k3d-registry only serves (k3d runs it in a registry node)", strings.Join(args, " "))
	}
	cfg, err := config(args)
	if err != nil {
		return err
	}
	// The registry exports traces over OTLP unless told otherwise; a
	// registry node has nowhere to send them, and the failed exports would
	// flood its log.
	if _, set := os.LookupEnv("OTEL_TRACES_EXPORTER"); !set {
		os.Setenv("OTEL_TRACES_EXPORTER", "none")
	}
	reg, err := registry.NewRegistry(context.Background(), cfg)
	if err != nil {
		return fmt.Errorf("start registry: %w", err)
	}
	// ListenAndServe returns once SIGTERM has drained the connections.
	if err := reg.ListenAndServe(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// config reads a configuration file given as `serve FILE` (registry:2's
// command line), or the built-in one, with the REGISTRY_* overrides applied.
func config(args []string) (*configuration.Configuration, error) {
	in := strings.NewReader(baseConfig)
	if len(args) > 1 {
		b, err := os.ReadFile(args[1])
		if err != nil {
			return nil, fmt.Errorf("read configuration: %w", err)
		}
		in = strings.NewReader(string(b))
	}
	cfg, err := configuration.Parse(in)
	if err != nil {
		return nil, fmt.Errorf("parse configuration: %w", err)
	}
	return cfg, nil
}
