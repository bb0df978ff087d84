// Package engine creates, starts, stops, lists and deletes k3d clusters and
// nodes, speaking only the backends.Runtime contract. All state lives in the
// labels of the runtime's objects.
package engine

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/helperimage"
	"github.com/k3d/k3d/version"
)

// Engine runs cluster and node operations against one runtime. It caches what
// does not change during a command (runtime info, image presence), so make
// one per command.
type Engine struct {
	rt             backends.Runtime
	progress       Progress
	version        string
	exe            string
	kubeconfigPath string
	helperImage    func(ctx context.Context) (string, error)
	// registryExe is k3d-registry, which k3d's registry image is built
	// from; registryImageFn replaces building it (tests).
	registryExe     string
	registryImageFn func(ctx context.Context) (string, error)
	httpClient      func(kubeconfig []byte) (*http.Client, error)
	lookupEnv       func(string) (string, bool)
	// slowAPI is how long the API may keep the user waiting before a note
	// says so.
	slowAPI time.Duration

	infoOnce sync.Once
	info     backends.Info
	infoErr  error

	mu     sync.Mutex
	images map[string]bool
	notes  map[string]bool
}

// Option configures an Engine.
type Option func(*Engine)

// WithProgress sends progress reports to p.
func WithProgress(p Progress) Option { return func(e *Engine) { e.progress = p } }

// WithVersion sets the value of the k3d.version label.
func WithVersion(v string) Option { return func(e *Engine) { e.version = v } }

// WithExecutable names k3d's own static binary, which the load balancer's
// helper image is built from.
func WithExecutable(path string) Option { return func(e *Engine) { e.exe = path } }

// WithRegistryExecutable names the static k3d-registry binary that k3d's
// registry image is built from.
func WithRegistryExecutable(path string) Option { return func(e *Engine) { e.registryExe = path } }

// WithRegistryImage replaces how k3d's registry image is made present
// (tests use an image they loaded themselves).
func WithRegistryImage(fn func(ctx context.Context) (string, error)) Option {
	return func(e *Engine) { e.registryImageFn = fn }
}

// WithKubeconfig names the kubeconfig file that create merges into and delete
// removes entries from (usually the first entry of $KUBECONFIG or ~/.kube/config).
func WithKubeconfig(path string) Option { return func(e *Engine) { e.kubeconfigPath = path } }

// WithHelperImage replaces how the load balancer's image is made present
// (tests use an image they loaded themselves).
func WithHelperImage(fn func(ctx context.Context) (string, error)) Option {
	return func(e *Engine) { e.helperImage = fn }
}

// WithLookupEnv gives `--env KEY` (no value) the value of KEY in the user's
// environment, as `docker run -e KEY` does.
func WithLookupEnv(fn func(string) (string, bool)) Option {
	return func(e *Engine) { e.lookupEnv = fn }
}

// New returns an engine for rt.
func New(rt backends.Runtime, opts ...Option) *Engine {
	e := &Engine{
		rt:         rt,
		progress:   Silent{},
		version:    version.Version,
		images:     map[string]bool{},
		notes:      map[string]bool{},
		httpClient: apiHTTPClient,
		slowAPI:    30 * time.Second,
	}
	for _, o := range opts {
		o(e)
	}
	if e.helperImage == nil {
		e.helperImage = func(ctx context.Context) (string, error) {
			if e.exe == "" {
				return "", fmt.Errorf("build load balancer image: k3d's own executable is unknown")
			}
			return helperimage.Ensure(ctx, e.rt, e.exe)
		}
	}
	return e
}

// Runtime is the runtime the engine speaks to.
func (e *Engine) Runtime() backends.Runtime { return e.rt }

// KubeconfigPath is the kubeconfig file the engine maintains ("" for none).
func (e *Engine) KubeconfigPath() string { return e.kubeconfigPath }

// Info returns the runtime's info, asking the runtime once per engine.
func (e *Engine) Info(ctx context.Context) (backends.Info, error) {
	e.infoOnce.Do(func() {
		e.info, e.infoErr = e.rt.Info(ctx)
		// An unreachable runtime or a missing prerequisite says what is
		// wrong and what to do; a prefix would only push that out of sight.
		if e.infoErr != nil && !backends.IsUnreachable(e.infoErr) && !backends.IsPrerequisite(e.infoErr) {
			e.infoErr = fmt.Errorf("runtime info: %w", e.infoErr)
		}
	})
	return e.info, e.infoErr
}

// imagePresent asks the runtime about ref once per engine.
func (e *Engine) imagePresent(ctx context.Context, ref string) (bool, error) {
	e.mu.Lock()
	ok, known := e.images[ref]
	e.mu.Unlock()
	if known {
		return ok, nil
	}
	ok, err := e.rt.ImageExists(ctx, ref)
	if err != nil {
		return false, fmt.Errorf("check image %s: %w", ref, err)
	}
	e.mu.Lock()
	e.images[ref] = ok
	e.mu.Unlock()
	return ok, nil
}

// note reports msg once per engine.
func (e *Engine) note(msg string) {
	e.mu.Lock()
	seen := e.notes[msg]
	e.notes[msg] = true
	e.mu.Unlock()
	if !seen {
		e.progress.Note(msg)
	}
}

// step runs fn as one reported step.
func (e *Engine) step(msg string, fn func() error) error {
	done := e.progress.Step(msg)
	err := fn()
	done(err)
	return err
}
