package podman

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/containers/podman/v4/pkg/bindings"
	"github.com/containers/podman/v4/pkg/bindings/containers"
	"github.com/containers/podman/v4/pkg/bindings/images"

	"github.com/k3d/k3d/engine/imagebuild"
)

// The package's unit tests need no service. What needs one (the benchmarks)
// shares a fixture made on first use: a Runtime and a bindings connection to
// the service the environment names (CONTAINER_HOST, else the default
// socket), the conformance test program loaded as an image, and a run ID
// labelling what is created. TestMain removes it all at the end, so nothing
// is left behind even when a benchmark fails half-way.
var suite struct {
	once    sync.Once
	skipWhy string // non-empty: no service answered
	err     error  // the fixture could not be made

	rt    *Runtime
	conn  context.Context // the bindings' connection, for direct calls
	runID string
	image string // the test image, as the service names it
	prog  []byte // the test program, for images built later
	// tmp holds what the run writes on this machine (the backend's cache).
	tmp string

	mu     sync.Mutex
	loaded []string // images to remove at the end
}

const labelTestRun = "k3d.test.run"

func TestMain(m *testing.M) {
	code := m.Run()
	sweep()
	os.Exit(code)
}

// needService returns the fixture, skipping when no service answers (a
// failure in CI, where the service is part of the environment).
func needService(tb testing.TB) context.Context {
	tb.Helper()
	suite.once.Do(setup)
	if suite.skipWhy != "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but %s", suite.skipWhy)
		}
		tb.Skip(suite.skipWhy)
	}
	if suite.err != nil {
		tb.Fatal(suite.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func setup() {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	suite.runID = hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	rt, err := New(Options{Report: io.Discard})
	if err != nil {
		suite.err = err
		return
	}
	if _, err := rt.Info(ctx); err != nil {
		suite.skipWhy = err.Error()
		return
	}
	suite.rt = rt
	// The bindings hand back the connection as a value of the context it
	// was made with, and a call given that context ends when it does: it
	// must outlive setup's deadline. Calls get deadlines of their own
	// through withConn (direct, in bench_test.go).
	if suite.conn, err = bindings.NewConnection(context.Background(), rt.endpoint.uri); err != nil {
		suite.err = err
		return
	}
	if suite.tmp, err = os.MkdirTemp("", "k3d-podman-test-"); err != nil {
		suite.err = err
		return
	}
	if suite.prog, err = buildTestprog(ctx, suite.tmp); err != nil {
		suite.err = err
		return
	}
	suite.image, suite.err = loadImage(ctx, "k3d-test/podman-testprog:"+suite.runID)
}

// buildTestprog builds the conformance suite's test program, a static
// binary whose "sleep" keeps a node running until it is signalled.
func buildTestprog(ctx context.Context, dir string) ([]byte, error) {
	out := filepath.Join(dir, "testprog")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "github.com/k3d/k3d/conformance/testprog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the test program: %w\n%s", err, msg)
	}
	return os.ReadFile(out)
}

// loadImage loads the test program as ref, with extra files, and returns the
// name the service gave it. Nothing can be pulled, so every image is built.
func loadImage(ctx context.Context, ref string, extra ...imagebuild.File) (string, error) {
	spec := imagebuild.Spec{
		Ref: ref,
		Files: append([]imagebuild.File{
			{Path: "/testprog", Mode: 0o755, Data: suite.prog},
			{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		}, extra...),
		Entrypoint: []string{"/testprog"},
		Cmd:        []string{"sleep"},
		Env:        []string{"PATH=/"},
		// Node images carry labels (rancher/k3s does), which the backend
		// must keep apart from the node's.
		Labels: map[string]string{"k3d.test.image": "testprog"},
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(imagebuild.WriteArchive(pw, spec)) }()
	defer pr.Close()
	names, err := suite.rt.ImageLoad(ctx, pr)
	// Recorded even on failure: the service may have stored it anyway.
	suite.mu.Lock()
	suite.loaded = append(suite.loaded, ref)
	suite.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("load image %s: %w", ref, err)
	}
	if len(names) != 1 {
		return "", fmt.Errorf("load image %s: the service named %v", ref, names)
	}
	return names[0], nil
}

// sweep removes the run's containers and images, if the fixture was made.
func sweep() {
	if suite.conn == nil {
		if suite.tmp != "" {
			os.RemoveAll(suite.tmp)
		}
		return
	}
	defer os.RemoveAll(suite.tmp)
	ctx, cancel := context.WithTimeout(suite.conn, 2*time.Minute)
	defer cancel()
	filters := map[string][]string{"label": {labelTestRun + "=" + suite.runID}}
	if cs, err := containers.List(ctx, new(containers.ListOptions).WithAll(true).WithFilters(filters)); err == nil {
		for _, c := range cs {
			_, _ = containers.Remove(ctx, c.ID, new(containers.RemoveOptions).WithForce(true).WithVolumes(true).WithTimeout(0))
		}
	}
	// One call: the service looks each name up on its own, so one that is
	// missing (a load that failed) does not keep the others.
	if len(suite.loaded) > 0 {
		_, _ = images.Remove(ctx, suite.loaded, new(images.RemoveOptions).WithForce(true))
	}
}
