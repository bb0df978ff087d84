package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/k3d/k3d/backends"
)

// The tests share one daemon session, set up by TestMain: a Runtime, the
// test image (built from internal/testprog and loaded through ImageLoad),
// and a run ID that labels and names everything the tests create.
var suite struct {
	rt      *Runtime
	report  *syncBuffer // what the backend reported (its debug lines)
	skipWhy string      // non-empty: no daemon answered
	runID   string
	image   string // the test image's reference
	progBin string // the testprog binary, for images built later
	// extraImages are removed at the end too (the benchmarks' large image).
	extraImages []string
}

const labelTestRun = "k3d.test.run"

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	suite.runID = hex.EncodeToString(rnd[:])
	suite.report = &syncBuffer{}
	rt, err := New(Options{Report: suite.report})
	if err != nil {
		fmt.Fprintln(os.Stderr, "docker backend:", err)
		return 1
	}
	suite.rt = rt
	defer rt.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := rt.cli.Ping(ctx); err != nil {
		suite.skipWhy = fmt.Sprintf("no docker daemon answers at %s: %v", rt.endpoint.host, err)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "k3d-docker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if suite.progBin, err = buildTestprog(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, "build testprog:", err)
		return 1
	}
	suite.image = "k3d-test/docker-testprog:" + suite.runID
	if err := loadTestImage(ctx, rt, suite.image, suite.progBin); err != nil {
		fmt.Fprintln(os.Stderr, "load test image:", err)
		return 1
	}
	defer func() { sweep(append([]string{suite.image}, suite.extraImages...)...) }()
	return m.Run()
}

// sweep removes whatever this run left behind, even when a test failed
// before its own cleanup was registered.
func sweep(images ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli := suite.rt.cli
	f := filters.NewArgs(filters.Arg("label", labelTestRun+"="+suite.runID))
	if cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f}); err == nil {
		for _, c := range cs {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
	if ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f}); err == nil {
		for _, n := range ns {
			_ = cli.NetworkRemove(ctx, n.ID)
		}
	}
	if vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f}); err == nil {
		for _, v := range vs.Volumes {
			_ = cli.VolumeRemove(ctx, v.Name, true)
		}
	}
	for _, img := range images {
		_, _ = cli.ImageRemove(ctx, img, image.RemoveOptions{Force: true, PruneChildren: true})
	}
}

// needDaemon skips a test when no daemon answers, except in CI, where the
// daemon is part of the environment and its absence is a failure.
func needDaemon(t testing.TB) (*Runtime, context.Context) {
	t.Helper()
	if suite.skipWhy != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s", suite.skipWhy)
		}
		t.Skip(suite.skipWhy + " (start one with: sudo dockerd &)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return suite.rt, ctx
}

// uniqueName returns a k3d- name unique to this run.
func uniqueName(t testing.TB, what string) string {
	t.Helper()
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("k3d-test-%s-%s-%s", suite.runID, what, hex.EncodeToString(rnd[:]))
}

// testSubnet picks a /24 for a test network at random from 10.213.0.0/16,
// so that concurrent test runs on one daemon rarely pick the same one.
func testSubnet(t testing.TB) string {
	t.Helper()
	var b [1]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("10.213.%d.0/24", b[0])
}

// labels are the labels every test object carries.
func labels(extra ...string) map[string]string {
	l := map[string]string{"app": "k3d", labelTestRun: suite.runID}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

// nodeSpec is a node running the test program, cleaned up after the test.
func nodeSpec(t testing.TB, what string) backends.NodeSpec {
	return backends.NodeSpec{Name: uniqueName(t, what), Image: suite.image, Labels: labels()}
}

func createNode(t testing.TB, spec backends.NodeSpec) backends.Node {
	t.Helper()
	rt, ctx := needDaemon(t)
	n, err := rt.CreateNode(ctx, spec)
	if err != nil {
		t.Fatalf("CreateNode %s: %v", spec.Name, err)
	}
	t.Cleanup(func() { cleanupNode(spec.Name) })
	return n
}

func startedNode(t testing.TB, spec backends.NodeSpec) backends.Node {
	t.Helper()
	rt, ctx := needDaemon(t)
	createNode(t, spec)
	if err := rt.StartNode(ctx, spec.Name); err != nil {
		t.Fatalf("StartNode %s: %v", spec.Name, err)
	}
	n, err := rt.InspectNode(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func cleanupNode(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = suite.rt.cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
}

func createNetwork(t testing.TB, spec backends.NetworkSpec) backends.Network {
	t.Helper()
	rt, ctx := needDaemon(t)
	n, err := rt.CreateNetwork(ctx, spec)
	if err != nil {
		t.Fatalf("CreateNetwork %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = suite.rt.cli.NetworkRemove(ctx, spec.Name)
	})
	return n
}

func createVolume(t testing.TB, spec backends.VolumeSpec) {
	t.Helper()
	rt, ctx := needDaemon(t)
	if _, err := rt.CreateVolume(ctx, spec); err != nil {
		t.Fatalf("CreateVolume %s: %v", spec.Name, err)
	}
	t.Cleanup(func() { cleanupVolume(spec.Name) })
}

func cleanupVolume(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = suite.rt.cli.VolumeRemove(ctx, name, true)
}

// execOut runs a command in a node and returns its stdout, stderr and exit code.
func execOut(t testing.TB, node string, cmd ...string) (string, string, int) {
	t.Helper()
	rt, ctx := needDaemon(t)
	var out, errb bytes.Buffer
	code, err := rt.Exec(ctx, node, backends.ExecSpec{Cmd: cmd, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("Exec %v in %s: %v", cmd, node, err)
	}
	return out.String(), errb.String(), code
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// wantKind fails unless err is the contract error kind and mentions every word.
func wantKind(t testing.TB, err error, is func(error) bool, kind string, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", kind)
	}
	if !is(err) {
		t.Fatalf("got %v (%T), want %s", err, err, kind)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
