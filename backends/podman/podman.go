// Package podman implements k3d's Runtime contract on Podman's REST API
// (rootful and rootless), through Podman's Go bindings.
package podman

import (
	"cmp"
	"context"
	"fmt"
	"github.com/k3d/k3d/backends/internal/lazy"
	"io"
	"net"
	"os"
	"time"

	"github.com/containers/podman/v4/pkg/bindings"

	"github.com/k3d/k3d/backends"
)

// runtimeName is what users type after --runtime.
const runtimeName = "podman"

// labelPrefix is the only label namespace this backend writes on its own.
const labelPrefix = "k3d.runtime."

// cleanupTimeout bounds rollback work done after the caller's context ended.
const cleanupTimeout = 30 * time.Second

// Options configure a Runtime. The zero value talks to the service named by
// the environment (CONTAINER_HOST, else the user's or root's default socket)
// and reports to os.Stderr.
type Options struct {
	// Getenv reads the environment; nil means os.Getenv. Tests pass their own.
	Getenv func(string) string
	// Report receives the few facts worth one debug line each; a backend
	// program passes its stderr, which k3d copies into its debug log. nil
	// means os.Stderr.
	Report io.Writer
	// CacheDir keeps the service's info across backend processes (see
	// infocache.go); "" turns that off.
	CacheDir string
	// NodeFilesRoot keeps the files nodes bind-mount (the fake /proc/meminfo
	// of a node with a memory limit); see backends.NodeFiles. Empty means
	// backends.DefaultNodeFilesRoot.
	NodeFilesRoot string
}

// Runtime is the Podman backend. It is safe for concurrent use.
type Runtime struct {
	endpoint endpoint
	report   io.Writer
	host     hostFacts
	cacheDir string
	files    backends.NodeFiles
	// peer is the process that answered on the local socket, read when
	// connecting; it keys the info cache.
	peer peerProcess

	// conn is the bindings' connection, made on first use: the bindings ping
	// the service when connecting, and New must not need a running service.
	conn lazy.Value[context.Context]
	info lazy.Value[facts]
}

var _ backends.Runtime = (*Runtime)(nil)

// New builds a Runtime. It does not contact the service: an unreachable
// service shows up as a *backends.UnreachableError from the first call.
func New(opts Options) (*Runtime, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	ep, err := resolveEndpoint(getenv, os.Geteuid())
	if err != nil {
		return nil, fmt.Errorf("podman endpoint: %w", err)
	}
	report := opts.Report
	if report == nil {
		report = os.Stderr
	}
	return &Runtime{endpoint: ep, report: report, host: localHost(), cacheDir: opts.CacheDir, files: backends.NodeFiles{Root: cmp.Or(opts.NodeFilesRoot, backends.DefaultNodeFilesRoot(getenv))}}, nil
}

// Close releases nothing the process would not release on exit; it exists
// for symmetry with the other backends.
func (r *Runtime) Close() error { return nil }

// api returns the context one bindings call runs with: the caller's deadline,
// cancellation and values, plus the connection the bindings look up in it.
func (r *Runtime) api(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := r.conn.Get(ctx, r.connect)
	if err != nil {
		return nil, err
	}
	return withConn{Context: ctx, conn: conn}, nil
}

// APIContext is api for tests and benchmarks that compare the backend with
// calling the bindings directly.
func (r *Runtime) APIContext(ctx context.Context) (context.Context, error) { return r.api(ctx) }

// connect opens the bindings' connection, which pings the service.
func (r *Runtime) connect(ctx context.Context) (context.Context, error) {
	if r.endpoint.local() {
		// One dial says at once whether anything listens; the bindings'
		// ping retries three times with pauses first (k3d probes runtimes
		// one after the other when it picks one).
		c, err := (&net.Dialer{}).DialContext(ctx, "unix", r.endpoint.socketPath())
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, r.unreachable(err)
		}
		// Set once, before the connection is published through r.conn.
		r.peer = peerOf(c)
		c.Close()
	}
	conn, err := bindings.NewConnectionWithIdentity(ctx, r.endpoint.uri, r.endpoint.identity, false)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, r.unreachable(err)
	}
	return conn, nil
}

// withConn carries a bindings connection on a caller's context: the bindings
// keep the connection as a context value under an unexported key, so the
// value is looked up in the connection's context when the caller's has none.
type withConn struct {
	context.Context
	conn context.Context
}

func (w withConn) Value(key any) any {
	if v := w.Context.Value(key); v != nil {
		return v
	}
	return w.conn.Value(key)
}

// connection is the bindings' HTTP connection for raw requests (streams the
// bindings do not expose in the form the contract needs).
func (r *Runtime) connection(ctx context.Context) (context.Context, *bindings.Connection, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, err := bindings.GetClient(actx)
	if err != nil {
		return nil, nil, err
	}
	return actx, c, nil
}

// withoutCancel gives cleanup work its own short deadline, so that a
// cancelled caller still leaves nothing behind.
func withoutCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}
