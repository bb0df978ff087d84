package containerd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	client "github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/imagebuild"
)

// The integration tests share one Runtime on the local containerd, in a
// namespace and data root of their own (removed at the end), with the
// conformance suite's test program as their image.
var suite struct {
	rt      *Runtime
	skipWhy string
	runID   string
	image   string
	root    string
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	suite.runID = hex.EncodeToString(rnd[:])
	if testing.Short() {
		suite.skipWhy = "-short: no containerd tests"
		return m.Run()
	}
	root, err := os.MkdirTemp("", "k3d-containerd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suite.root = root
	defer os.RemoveAll(root)
	rt, err := New(Options{Namespace: "k3d-test-" + suite.runID, Root: root, Report: io.Discard, Executable: os.Getenv("K3D_CONTAINERD_TEST_DRIVER")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suite.rt = rt
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := rt.Info(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "containerd backend:", err)
			return 1
		}
		suite.skipWhy = err.Error()
		return m.Run()
	}
	if rt.exe == "" {
		// The log driver is this backend's binary; a test binary is not it.
		bin := filepath.Join(root, "k3d-runtime-containerd")
		if err := goBuild(ctx, bin, "./cmd/k3d-runtime-containerd"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		rt.exe = bin
	}
	prog := filepath.Join(root, "testprog")
	if err := goBuild(ctx, prog, "github.com/k3d/k3d/conformance/testprog"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suite.image = "k3d-test/containerd-testprog:" + suite.runID
	if err := loadTestImage(ctx, rt, suite.image, prog); err != nil {
		fmt.Fprintln(os.Stderr, "load test image:", err)
		return 1
	}
	defer sweep()
	return m.Run()
}

func goBuild(ctx context.Context, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, msg)
	}
	return nil
}

func loadTestImage(ctx context.Context, rt *Runtime, ref, prog string) error {
	bin, err := os.ReadFile(prog)
	if err != nil {
		return err
	}
	img, tag, err := imagebuild.Image(imagebuild.Spec{
		Ref: ref,
		Files: []imagebuild.File{
			{Path: "/testprog", Mode: 0o755, Data: bin},
			{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/testprog\nk3duser:x:1234:2345::/:/testprog\n")},
			{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nk3dgroup:x:3456:\n")},
			{Path: "/var/lib/data", Mode: os.ModeDir | 0o750, UID: 1234, GID: 2345},
			{Path: "/var/lib/data/seed", Mode: 0o640, Data: []byte("from the image\n"), UID: 1234, GID: 2345},
			{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		},
		Entrypoint: []string{"/testprog"},
		Cmd:        []string{"sleep"},
		Env:        []string{"PATH=/"},
	})
	if err != nil {
		return err
	}
	// A VOLUME, as rancher/k3s declares for its data directories.
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg := cf.Config
	cfg.Volumes = map[string]struct{}{"/var/lib/data": {}}
	if img, err = mutate.Config(img, cfg); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		return err
	}
	_, err = rt.ImageLoad(ctx, &buf)
	return err
}

// sweep removes what the tests left in containerd: nodes, the image, and
// the namespace itself.
func sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rt := suite.rt
	nodes, _ := rt.ListNodes(ctx, nil)
	for _, n := range nodes {
		_ = rt.DeleteNode(ctx, n.Name)
	}
	nets, _ := rt.ListNetworks(ctx, nil)
	for _, n := range nets {
		_ = rt.DeleteNetwork(ctx, n.Name)
	}
	cli, nctx, err := rt.Client(ctx)
	if err != nil {
		return
	}
	deleteImages(nctx, cli)
	_ = cli.NamespaceService().Delete(ctx, rt.namespace)
	removeNamespaceDirs(rt.namespace)
}

// deleteImages deletes a namespace's images and, at once, their content
// and snapshots, which a namespace must be rid of before it can go.
func deleteImages(ctx context.Context, cli *client.Client) {
	imgs, _ := cli.ImageService().List(ctx)
	for _, img := range imgs {
		_ = cli.ImageService().Delete(ctx, img.Name, images.SynchronousDelete())
	}
}

// removeNamespaceDirs removes the empty directories containerd and runc
// made for a namespace's containers and leave when the last one goes: its
// cgroups and runc's state directory.
func removeNamespaceDirs(ns string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + ns)
	dirs2, _ := filepath.Glob("/sys/fs/cgroup/" + ns)
	for _, d := range append(append(dirs, dirs2...), "/run/containerd/runc/"+ns) {
		_ = os.Remove(d)
	}
}

// needContainerd skips a test that needs containerd where there is none.
func needContainerd(t *testing.T) *Runtime {
	t.Helper()
	if suite.skipWhy != "" {
		t.Skip(suite.skipWhy)
	}
	return suite.rt
}

// testName is a name unique to this run.
func testName(t *testing.T, suffix string) string {
	return fmt.Sprintf("t-%s-%s", suite.runID, suffix)
}

// runNode creates and starts a node from the test image, deleted at the end.
func runNode(t *testing.T, ctx context.Context, spec backends.NodeSpec) backends.Node {
	t.Helper()
	rt := suite.rt
	if spec.Image == "" {
		spec.Image = suite.image
	}
	if _, err := rt.CreateNode(ctx, spec); err != nil {
		t.Fatalf("create node %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rt.DeleteNode(cctx, spec.Name); err != nil && !backends.IsNotFound(err) {
			t.Errorf("delete node %s: %v", spec.Name, err)
		}
	})
	if err := rt.StartNode(ctx, spec.Name); err != nil {
		t.Fatalf("start node %s: %v", spec.Name, err)
	}
	n, err := rt.InspectNode(ctx, spec.Name)
	if err != nil {
		t.Fatalf("inspect node %s: %v", spec.Name, err)
	}
	return n
}

// run execs the test program in node and returns its stdout.
func run(t *testing.T, ctx context.Context, node string, user string, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code, err := suite.rt.Exec(ctx, node, backends.ExecSpec{Cmd: append([]string{"/testprog"}, args...), User: user, Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatalf("exec %q in %s: %v", args, node, err)
	}
	if errOut.Len() > 0 {
		t.Logf("exec %q in %s: stderr %q", args, node, errOut.String())
	}
	return out.String(), code
}
