package e2e

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/conformance/k3sdouble"
)

// suite is what TestMain prepares once per test process: the binaries under
// test and, per runtime named in K3D_TEST_RUNTIMES, a contract client and the
// test double's image loaded into it. Tests only read it.
var suite *testSuite

type testSuite struct {
	binDir string
	k3d    string
	// token is part of every object name this process makes, so that its
	// objects can be told apart from those of other processes sharing a runtime.
	token    string
	runtimes []*runtimeEnv
}

// runtimeEnv is one runtime under test.
type runtimeEnv struct {
	// name is the entry of K3D_TEST_RUNTIMES (the subtests' name); backend
	// the k3d runtime it selects, and env what points it at its daemon.
	name    string
	backend string
	env     []string
	// rt inspects the runtime through the contract only, never a runtime's own API.
	rt *backends.Client
	// image is the test double's reference in this runtime.
	image string
	// skip is why this runtime cannot be tested here; it fails the tests under CI.
	skip string
	// fail is a setup error that fails every test of this runtime.
	fail string
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	s, err := newSuite()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	suite = s
	defer s.close()
	if !testing.Short() {
		s.prepare()
	}
	return m.Run()
}

func newSuite() (*testSuite, error) {
	binDir := os.Getenv("K3D_BIN_DIR")
	if binDir == "" {
		root, err := repoRoot()
		if err != nil {
			return nil, err
		}
		binDir = filepath.Join(root, "bin")
	}
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return nil, fmt.Errorf("resolve K3D_BIN_DIR: %w", err)
	}
	s := &testSuite{binDir: binDir, k3d: filepath.Join(binDir, "k3d"), token: randomHex(2)}
	names := os.Getenv("K3D_TEST_RUNTIMES")
	if names == "" {
		names = "docker"
	}
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			s.runtimes = append(s.runtimes, newRuntimeEnv(n))
		}
	}
	return s, nil
}

// newRuntimeEnv maps an entry of K3D_TEST_RUNTIMES to a backend. Every entry
// names a backend, except "podman-rootless": the podman backend talking to the
// rootless service of $K3D_PODMAN_USER (default k3d-rootless, the user
// hack/runtimes-podman.sh sets up), or to $K3D_PODMAN_ROOTLESS_HOST.
func newRuntimeEnv(name string) *runtimeEnv {
	r := &runtimeEnv{name: name, backend: name}
	if name != "podman-rootless" {
		return r
	}
	r.backend = "podman"
	host := os.Getenv("K3D_PODMAN_ROOTLESS_HOST")
	if host == "" {
		who := cmp.Or(os.Getenv("K3D_PODMAN_USER"), "k3d-rootless")
		u, err := user.Lookup(who)
		if err != nil {
			r.skip = fmt.Sprintf("rootless podman: user %s: %v; set it up with hack/runtimes-podman.sh rootless", who, err)
			return r
		}
		host = "unix:///run/user/" + u.Uid + "/podman/podman.sock"
	}
	r.env = []string{"CONTAINER_HOST=" + host}
	return r
}

// repoRoot finds the root module's directory from the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/k3d/k3d\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the k3d repository root: set K3D_BIN_DIR")
		}
		dir = parent
	}
}

// prepare opens every runtime and loads the test double into it. Problems are
// recorded per runtime and reported by each test, so that one missing runtime
// does not hide the results of the others.
func (s *testSuite) prepare() {
	if _, err := os.Stat(s.k3d); err != nil {
		for _, r := range s.runtimes {
			r.fail = fmt.Sprintf("k3d binary %s is missing: run `make build` or set K3D_BIN_DIR", s.k3d)
		}
		return
	}
	for _, r := range s.runtimes {
		if r.skip != "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		r.open(ctx, s.binDir)
		cancel()
	}
}

func (r *runtimeEnv) open(ctx context.Context, binDir string) {
	backend := filepath.Join(binDir, "k3d-runtime-"+r.backend)
	if _, err := os.Stat(backend); err != nil {
		r.fail = fmt.Sprintf("backend %s is missing: run `make build`", backend)
		return
	}
	c, err := backends.OpenPath(ctx, backend, backends.OpenOptions{Stderr: io.Discard, Env: r.env})
	if err != nil {
		r.fail = fmt.Sprintf("start backend %s: %v", backend, err)
		return
	}
	r.rt = c
	if _, err := c.Info(ctx); err != nil {
		switch {
		case backends.IsUnreachable(err):
			r.skip = fmt.Sprintf("runtime %s is unreachable: %v", r.name, err)
		case backends.IsPrerequisite(err):
			r.skip = fmt.Sprintf("runtime %s is not set up: %v", r.name, err)
		default:
			r.fail = fmt.Sprintf("runtime %s info: %v", r.name, err)
		}
		return
	}
	ref, err := k3sdouble.Load(ctx, c)
	if err != nil {
		r.fail = fmt.Sprintf("load the k3s test double into %s: %v", r.name, err)
		return
	}
	r.image = ref
}

func (s *testSuite) close() {
	for _, r := range s.runtimes {
		if r.rt != nil {
			r.rt.Close()
		}
	}
}

// require stops the test unless the runtime is usable. An unreachable daemon is
// a skip on a developer's machine and a failure in CI, where it must be there.
func (r *runtimeEnv) require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end tests start clusters: skipped with -short")
	}
	if r.fail != "" {
		t.Fatal(r.fail)
	}
	if r.skip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(r.skip)
		}
		t.Skip(r.skip)
	}
}

// forEachRuntime runs test once per runtime under test, as a subtest named
// for the runtime.
func forEachRuntime(t *testing.T, test func(t *testing.T, r *runtimeEnv)) {
	t.Helper()
	if len(suite.runtimes) == 0 {
		t.Fatal("K3D_TEST_RUNTIMES names no runtime")
	}
	for _, r := range suite.runtimes {
		t.Run(r.name, func(t *testing.T) {
			r.require(t)
			test(t, r)
		})
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}
