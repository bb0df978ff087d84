// Package containerd implements k3d's Runtime contract on containerd, with
// the networks, port publishing, name resolution, volumes, logs and restarts
// that containerd leaves to its clients provided through CNI and files under
// one data root.
package containerd

import (
	"context"
	"fmt"
	"github.com/k3d/k3d/backends/internal/lazy"
	"io"
	"os"
	"path/filepath"
	"time"

	client "github.com/containerd/containerd"
	"github.com/containerd/containerd/identifiers"
	"github.com/containerd/containerd/namespaces"

	"github.com/k3d/k3d/backends"
)

// runtimeName is what users type after --runtime.
const runtimeName = "containerd"

// labelPrefix is the only label namespace this backend reports as its own.
const labelPrefix = "k3d.runtime."

// Defaults, each changeable by flag or environment.
const (
	DefaultNamespace = "k3d"
	DefaultRoot      = "/var/lib/k3d/containerd"
	DefaultAddress   = "/run/containerd/containerd.sock"
	// DefaultCNIPath lists where Debian (/usr/lib/cni) and upstream
	// (/opt/cni/bin) install the CNI plugins.
	DefaultCNIPath = "/usr/lib/cni:/opt/cni/bin"
)

// Environment variables that configure the backend.
const (
	EnvAddress   = "CONTAINERD_ADDRESS"
	EnvNamespace = "K3D_CONTAINERD_NAMESPACE"
	EnvRoot      = "K3D_CONTAINERD_ROOT"
	EnvCNIPath   = "K3D_CNI_PATH"
	// EnvCDISpecDirs overrides where CDI specs (GPUs) are looked up.
	EnvCDISpecDirs = "K3D_CDI_SPEC_DIRS"
)

// Options configure a Runtime. Empty fields take their defaults (the
// environment, then the constants above).
type Options struct {
	// Address is containerd's socket (a path, or unix://path).
	Address string
	// Namespace is the containerd namespace that holds k3d's objects.
	Namespace string
	// Root is the data root: networks, volumes, per-node files, locks.
	Root string
	// CNIPath lists the directories holding the CNI plugins (colon-separated).
	CNIPath string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Report receives the few facts worth one debug line each; nil means
	// os.Stderr (which k3d copies into its debug log).
	Report io.Writer
	// CDISpecDirs lists the directories holding CDI specs, colon-separated,
	// where GPUs are looked up (default /etc/cdi:/var/run/cdi).
	CDISpecDirs string
	// Executable is the program the shim runs as each node's log driver
	// (this backend's own binary); empty means os.Executable().
	Executable string
}

// Runtime is the containerd backend. It is safe for concurrent use, and any
// number of processes may use the same data root and namespace at once.
type Runtime struct {
	address   string
	namespace string
	root      layout
	cniPath   []string
	cdiDirs   []string
	report    io.Writer
	exe       string

	conn   lazy.Value[*client.Client]
	info   lazy.Value[backends.Info]
	driver lazy.Value[string] // the log driver's path under the data root
}

var _ backends.Runtime = (*Runtime)(nil)

// New builds a Runtime. It does not contact containerd: an unreachable
// daemon shows up as a *backends.UnreachableError from the first call.
func New(opts Options) (*Runtime, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	pick := func(given, env, def string) string {
		if given != "" {
			return given
		}
		if v := getenv(env); v != "" {
			return v
		}
		return def
	}
	r := &Runtime{
		address:   trimUnix(pick(opts.Address, EnvAddress, DefaultAddress)),
		namespace: pick(opts.Namespace, EnvNamespace, DefaultNamespace),
		report:    opts.Report,
		exe:       opts.Executable,
	}
	if err := identifiers.Validate(r.namespace); err != nil {
		return nil, fmt.Errorf("containerd namespace %q: %w", r.namespace, err)
	}
	root, err := filepath.Abs(pick(opts.Root, EnvRoot, DefaultRoot))
	if err != nil {
		return nil, fmt.Errorf("containerd data root: %w", err)
	}
	r.root = layout{root: root, ns: r.namespace}
	r.cniPath = filepath.SplitList(pick(opts.CNIPath, EnvCNIPath, DefaultCNIPath))
	r.cdiDirs = cdiDirsFrom(pick(opts.CDISpecDirs, EnvCDISpecDirs, ""))
	if r.report == nil {
		r.report = os.Stderr
	}
	return r, nil
}

// Close releases the connection to containerd.
func (r *Runtime) Close() error {
	if c, ok := r.conn.Peek(); ok {
		return c.Close()
	}
	return nil
}

// Client is the containerd client, connected on first use, with the
// backend's namespace in ctx: tests and benchmarks compare the backend
// with talking to containerd directly.
func (r *Runtime) Client(ctx context.Context) (*client.Client, context.Context, error) {
	c, err := r.client(ctx)
	if err != nil {
		return nil, ctx, err
	}
	return c, namespaces.WithNamespace(ctx, r.namespace), nil
}

// client connects once per process.
func (r *Runtime) client(ctx context.Context) (*client.Client, error) {
	return r.conn.Get(ctx, r.connect)
}

// cleanupTimeout bounds rollback work done after the caller's context ended.
const cleanupTimeout = 30 * time.Second

// withoutCancel gives cleanup work its own deadline, so that a cancelled
// caller still leaves nothing behind.
func withoutCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}
