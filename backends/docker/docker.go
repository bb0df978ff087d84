// Package docker implements k3d's Runtime contract on the Docker Engine API.
package docker

import (
	"cmp"
	"context"
	"fmt"
	"github.com/k3d/k3d/backends/internal/lazy"
	"io"
	"os"

	"github.com/docker/docker/client"

	"github.com/k3d/k3d/backends"
)

// runtimeName is what users type after --runtime.
const runtimeName = "docker"

// labelPrefix is the only label namespace this backend writes on its own.
const labelPrefix = "k3d.runtime."

// Options configure a Runtime. The zero value talks to the daemon named by the
// environment (DOCKER_HOST, else the current docker context, else the default
// socket) and reports to os.Stderr.
type Options struct {
	// Getenv reads the environment; nil means os.Getenv. Tests pass their own.
	Getenv func(string) string
	// Report receives the few facts worth one debug line each (such as the
	// privileged fallback); a backend program passes its stderr, which k3d
	// copies into its debug log. nil means os.Stderr.
	Report io.Writer
	// CacheDir keeps what the privileged-mode probe found across backend
	// processes (see privcache.go); empty probes in every process.
	CacheDir string
	// NodeFilesRoot keeps the files nodes bind-mount (the fake /proc/meminfo
	// of a node with a memory limit); see backends.NodeFiles. Empty means
	// backends.DefaultNodeFilesRoot.
	NodeFilesRoot string
}

// Runtime is the Docker backend. It is safe for concurrent use.
type Runtime struct {
	cli      *client.Client
	endpoint endpoint
	report   io.Writer
	cacheDir string
	files    backends.NodeFiles

	info  lazy.Value[daemonFacts]
	privs lazy.Value[privileges]
}

var _ backends.Runtime = (*Runtime)(nil)

// New builds a Runtime. It does not contact the daemon: an unreachable daemon
// shows up as an *backends.UnreachableError from the first call.
func New(opts Options) (*Runtime, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	ep, err := resolveEndpoint(getenv)
	if err != nil {
		return nil, fmt.Errorf("docker endpoint: %w", err)
	}
	clientOpts, err := ep.clientOptions()
	if err != nil {
		return nil, fmt.Errorf("docker endpoint %s: %w", ep.host, err)
	}
	cli, err := client.NewClientWithOpts(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", ep.host, err)
	}
	report := opts.Report
	if report == nil {
		report = os.Stderr
	}
	return &Runtime{cli: cli, endpoint: ep, report: report, cacheDir: opts.CacheDir, files: backends.NodeFiles{Root: cmp.Or(opts.NodeFilesRoot, backends.DefaultNodeFilesRoot(getenv))}}, nil
}

// Close releases the client's idle connections.
func (r *Runtime) Close() error { return r.cli.Close() }

// Client exposes the Engine API client, for tests and benchmarks that compare
// the backend with talking to the daemon directly.
func (r *Runtime) Client() *client.Client { return r.cli }

// withoutCancel gives cleanup work its own short deadline, so that a
// cancelled caller still leaves nothing behind.
func withoutCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}
