package conformance_test

import (
	"cmp"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/conformance"
)

// TestConformance runs the suite against every backend named in
// K3D_TEST_RUNTIMES (comma-separated, default "docker"), taking the
// executables from K3D_BIN_DIR (default: the repository's bin/).
func TestConformance(t *testing.T) {
	dir := binDir(t)
	for _, name := range runtimesUnderTest() {
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

// brokenEnvironments break each backend the ways a half set-up machine is
// broken, through the variables its users would set.
var brokenEnvironments = map[string][]conformance.Broken{
	"docker": {
		{Name: "no daemon at DOCKER_HOST", Env: []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, Kind: backends.ErrUnreachable,
			Says: []string{"docker is not reachable at unix:///nonexistent/docker.sock", "start"}},
	},
	"podman": {
		{Name: "no service at CONTAINER_HOST", Env: []string{"CONTAINER_HOST=unix:///nonexistent/podman.sock"}, Kind: backends.ErrUnreachable,
			Says: []string{"podman is not reachable at unix:///nonexistent/podman.sock", "podman system service"}},
	},
	"containerd": {
		{Name: "no daemon at CONTAINERD_ADDRESS", Env: []string{"CONTAINERD_ADDRESS=/nonexistent/containerd.sock"}, Kind: backends.ErrUnreachable,
			Says: []string{"containerd is not reachable", "/nonexistent/containerd.sock"}},
		{Name: "no CNI plugins", Env: []string{"K3D_CNI_PATH=/nonexistent/cni"}, Kind: backends.ErrPrerequisite,
			Says: []string{"containerd: CNI plugins not found in /nonexistent/cni (install containernetworking-plugins, or set K3D_CNI_PATH)"}},
		{Name: "unwritable data root", Env: []string{"K3D_CONTAINERD_ROOT=/dev/null/k3d"}, Kind: backends.ErrPrerequisite,
			Says: []string{"containerd: data root /dev/null/k3d is not writable", "set K3D_CONTAINERD_ROOT"}},
	},
}

// TestBrokenEnvironment starts every backend under test against a broken
// environment: each must say what is missing and the fix, in one typed line.
// It needs no daemon, so it never skips.
func TestBrokenEnvironment(t *testing.T) {
	dir := binDir(t)
	for _, name := range runtimesUnderTest() {
		if name == "podman-rootless" {
			continue // the podman backend, broken the same way as above
		}
		t.Run(name, func(t *testing.T) {
			conformance.RunBroken(t, filepath.Join(dir, "k3d-runtime-"+name), brokenEnvironments[name])
		})
	}
}

// runtimesUnderTest lists K3D_TEST_RUNTIMES (comma-separated, default "docker").
func runtimesUnderTest() []string {
	var names []string
	for _, name := range strings.Split(cmp.Or(os.Getenv("K3D_TEST_RUNTIMES"), "docker"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			names = append(names, name)
		}
	}
	return names
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
