// Package conformance is the suite of behaviours every k3d backend must show,
// run through the backend protocol against a backend executable and its real
// runtime daemon.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// Option changes how Run drives a backend.
type Option func(*options)

type options struct {
	env         []string
	testprog    string
	requireUp   bool
	requireUpOK bool
}

// WithEnv gives the backend process extra KEY=VALUE environment, such as the
// endpoint of the daemon under test.
func WithEnv(env ...string) Option {
	return func(o *options) { o.env = append(o.env, env...) }
}

// WithTestprog uses a prebuilt test program (a static linux binary of
// github.com/k3d/k3d/conformance/testprog for the runtime's architecture)
// instead of building it with the go command.
func WithTestprog(path string) Option {
	return func(o *options) { o.testprog = path }
}

// RequireRuntime makes an unreachable runtime daemon fail the run (require is
// true) or skip it (false). Without this option it fails when the environment
// variable CI is "true" and skips otherwise: skipping is for a developer's
// machine that lacks the runtime, never for CI.
func RequireRuntime(require bool) Option {
	return func(o *options) { o.requireUp, o.requireUpOK = require, true }
}

// Label keys the suite puts on everything it creates, so that each subtest can
// prove it left nothing behind.
const (
	labelApp  = "app"
	labelRun  = "k3d.conformance.run"
	labelTest = "k3d.conformance.test"
)

// suite is what every behaviour shares: the backend under test and the test
// image loaded into it.
type suite struct {
	rt      backends.Runtime
	backend string // name from the executable, "docker" for k3d-runtime-docker
	info    backends.Info
	runID   string
	image   string // the test image's reference
	binary  []byte // the testprog binary inside the image, at /testprog
}

// behaviour is one subtest of the suite.
type behaviour struct {
	name string
	run  func(t *testing.T, f *fixture)
}

// behaviours lists the suite; each runs in parallel with the others on its
// own objects.
var behaviours = []behaviour{
	{"info", testInfo},
	{"networks", testNetworks},
	{"network-connect", testNetworkConnect},
	{"volumes", testVolumes},
	{"node-lifecycle", testNodeLifecycle},
	{"kill", testKill},
	{"labels", testLabels},
	{"published-ports", testPublishedPorts},
	{"name-resolution", testNameResolution},
	{"exec", testExec},
	{"exec-all", testExecAll},
	{"logs", testLogs},
	{"files", testFiles},
	{"images", testImages},
	{"image-inspect", testImageInspect},
	{"image-pull", testImagePull},
	{"restart-policy", testRestartPolicy},
	{"privileged", testPrivileged},
	{"node-spec", testNodeSpec},
	{"typed-errors", testTypedErrors},
	{"concurrent-nodes", testConcurrentNodes},
	{"cancel", testCancel},
}

// Run runs the conformance suite against the backend executable at
// backendPath (k3d-runtime-NAME), one subtest per behaviour. It loads a small
// test image into the runtime (never pulling anything) and leaves that image
// behind for the next run; every node, network and volume it creates is
// deleted again, and each subtest checks that nothing it labelled is left.
//
// A backend's own tests run it as
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, "bin/k3d-runtime-mine")
//	}
//
// with the go command on PATH (the test program is built from this module),
// or with WithTestprog.
func Run(t *testing.T, backendPath string, opts ...Option) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if !o.requireUpOK {
		o.requireUp = os.Getenv("CI") == "true"
	}
	if _, err := os.Stat(backendPath); err != nil {
		t.Fatalf("backend executable %s: %v; build it with make build", backendPath, err)
	}

	logs := newLineLogger(t, filepath.Base(backendPath)+": ")
	t.Cleanup(logs.stop) // registered first so it runs last, after Close
	ctx := t.Context()
	client, err := backends.OpenPath(ctx, backendPath, backends.OpenOptions{Stderr: logs, Env: o.env})
	if err != nil {
		t.Fatalf("open backend %s: %v", backendPath, err)
	}
	t.Cleanup(func() {
		if err := client.Close(); err != nil {
			t.Errorf("close backend %s: %v", backendPath, err)
		}
	})

	infoCtx, cancel := context.WithTimeout(ctx, time.Minute)
	info, err := client.Info(infoCtx)
	cancel()
	switch {
	case backends.IsUnreachable(err) && !o.requireUp:
		t.Skipf("runtime of %s is not reachable, skipping on this machine (set CI=true to fail instead): %v", backendPath, err)
	case backends.IsPrerequisite(err) && !o.requireUp:
		t.Skipf("runtime of %s is not set up, skipping on this machine (set CI=true to fail instead): %v", backendPath, err)
	case err != nil:
		t.Fatalf("info from %s: %v", backendPath, err)
	}

	s := &suite{
		rt:      client,
		backend: strings.TrimPrefix(filepath.Base(backendPath), "k3d-runtime-"),
		info:    info,
		runID:   randomID(t),
	}
	t.Logf("backend %s: %s %s (API %s) at %s, cgroup v%d, rootless=%t, full privileges=%t, run %s",
		s.backend, info.Name, info.Version, info.APIVersion, info.Endpoint, info.CgroupVersion, info.Rootless, info.FullPrivileges, s.runID)
	for _, n := range info.Notes {
		t.Logf("note: %s", n)
	}
	s.loadTestImage(t, o.testprog)

	for _, b := range behaviours {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			b.run(t, newFixture(t, s, b.name))
		})
	}
}

// randomID returns 6 hex digits that keep this run's names and labels apart
// from any other run's on the same daemon.
func randomID(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random run id: %v", err)
	}
	return hex.EncodeToString(b)
}
