package conformance_test

import (
	"cmp"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k3d/k3d/conformance"
)

// TestConformance runs the suite against every backend named in
// K3D_TEST_RUNTIMES (comma-separated, default "docker"), taking the
// executables from K3D_BIN_DIR (default: the repository's bin/).
func TestConformance(t *testing.T) {
	dir := binDir(t)
	runtimes := os.Getenv("K3D_TEST_RUNTIMES")
	if runtimes == "" {
		runtimes = "docker"
	}
	for _, name := range strings.Split(runtimes, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			backend, opts := runtimeUnderTest(t, name)
			path := filepath.Join(dir, "k3d-runtime-"+backend)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("backend %s: %v; build it with make build", backend, err)
			}
			conformance.Run(t, path, opts...)
		})
	}
}

// runtimeUnderTest maps an entry of K3D_TEST_RUNTIMES to a backend and its
// options. Every entry names a backend, except "podman-rootless": the podman
// backend talking to the rootless service of $K3D_PODMAN_USER (default
// k3d-rootless, the user hack/runtimes-podman.sh sets up), or to
// $K3D_PODMAN_ROOTLESS_HOST when that is set.
func runtimeUnderTest(t *testing.T, name string) (string, []conformance.Option) {
	if name != "podman-rootless" {
		return name, nil
	}
	host := os.Getenv("K3D_PODMAN_ROOTLESS_HOST")
	if host == "" {
		who := cmp.Or(os.Getenv("K3D_PODMAN_USER"), "k3d-rootless")
		u, err := user.Lookup(who)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("rootless podman: user %s: %v; set it up with hack/runtimes-podman.sh rootless", who, err)
			}
			t.Skipf("rootless podman: user %s: %v; set it up with hack/runtimes-podman.sh rootless", who, err)
		}
		host = "unix:///run/user/" + u.Uid + "/podman/podman.sock"
	}
	return "podman", []conformance.Option{conformance.WithEnv("CONTAINER_HOST=" + host)}
}

// binDir is $K3D_BIN_DIR, or bin/ at the root of the repository this package
// is in (the directory of the go.mod above the test's working directory).
func binDir(t *testing.T) string {
	if dir := os.Getenv("K3D_BIN_DIR"); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			t.Fatalf("K3D_BIN_DIR %s: %v", dir, err)
		}
		return abs
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin")
		}
		if filepath.Dir(dir) == dir {
			t.Fatalf("no go.mod above %s: set K3D_BIN_DIR to the directory holding the k3d-runtime-* executables", wd)
		}
	}
}
