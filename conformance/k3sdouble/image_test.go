package k3sdouble

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/k3d/k3d/backends"
)

func TestBuildImageWritesARunnableK3sDouble(t *testing.T) {
	var buf bytes.Buffer
	ref, err := BuildImage(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^k3d-test/k3s-double:[0-9a-f]{12}$`).MatchString(ref) {
		t.Errorf("ref = %q", ref)
	}
	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }, nil)
	if err != nil {
		t.Fatalf("read the archive: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cf.Config.Entrypoint, " ") != "/bin/k3s" || strings.Join(cf.Config.Cmd, " ") != "agent" || cf.OS != "linux" {
		t.Errorf("config = %+v", cf.Config)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	var program []byte
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(hdr.Name, "/")] = hdr
		if hdr.Name == "bin/k3s" {
			program, _ = io.ReadAll(tr)
		}
	}
	for _, name := range []string{"bin/ctr", "bin/kubectl", "bin/crictl"} {
		if h := files[name]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "k3s" {
			t.Errorf("%s is not a symlink to k3s: %+v", name, h)
		}
	}
	for _, dir := range []string{"tmp", "etc/rancher/k3s", "var/lib/rancher/k3s/agent/etc/containerd", "var/lib/rancher/k3s/server/manifests"} {
		if h := files[dir]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("image lacks directory /%s", dir)
		}
	}
	if h := files["bin/k3s"]; h == nil || h.Mode&0o111 == 0 {
		t.Fatalf("/bin/k3s missing or not executable: %+v", h)
	}
	// The program is static and runs here (same OS and architecture).
	exe := filepath.Join(t.TempDir(), "k3s")
	if err := os.WriteFile(exe, program, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "k3s version v1.36.0+k3s-double") {
		t.Errorf("k3s --version = %q, %v", out, err)
	}

	// Same content, same reference.
	again, err := BuildImage(context.Background(), io.Discard)
	if err != nil || again != ref {
		t.Errorf("second build = %q, %v; want %q", again, err, ref)
	}
}

// TestImageRunsClusterOnDocker loads the image through the docker backend
// and runs a server and an agent from it.
func TestImageRunsClusterOnDocker(t *testing.T) {
	src, err := sourceDir()
	if err != nil {
		t.Fatal(err)
	}
	backend := filepath.Join(src, "..", "..", "bin", "k3d-runtime-docker")
	if _, err := os.Stat(backend); err != nil {
		t.Skipf("no docker backend at %s (build it with make build): %v", backend, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rt, err := backends.OpenPath(ctx, backend, backends.OpenOptions{Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	if _, err := rt.Info(ctx); err != nil {
		if backends.IsUnreachable(err) && os.Getenv("CI") != "true" {
			t.Skipf("docker is not reachable: %v", err)
		}
		t.Fatal(err)
	}
	ref, err := Load(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Load(ctx, rt); err != nil || again != ref {
		t.Fatalf("second load = %q, %v", again, err)
	}

	suffix := randomSuffix()
	network := "k3d-k3sdouble-" + suffix
	server, agent := network+"-server-0", network+"-agent-0"
	// Not k3d.cluster: a k3d prune running meanwhile (the e2e tests) would
	// take a "cluster" without a k3d.role=server node for dangling.
	labels := map[string]string{"app": "k3d", "k3d.k3sdouble.run": suffix}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range []string{agent, server} {
			if err := rt.DeleteNode(ctx, n); err != nil && !backends.IsNotFound(err) {
				t.Errorf("delete node %s: %v", n, err)
			}
		}
		if err := rt.DeleteNetwork(ctx, network); err != nil && !backends.IsNotFound(err) {
			t.Errorf("delete network %s: %v", network, err)
		}
	})
	if _, err := rt.CreateNetwork(ctx, backends.NetworkSpec{Name: network, Labels: labels}); err != nil {
		t.Fatal(err)
	}
	env := []string{"K3S_TOKEN=" + suffix, "K3S_KUBECONFIG_OUTPUT=/output/kubeconfig.yaml", "K3S_KUBECONFIG_MODE=666"}
	// Privileged, as k3d makes k3s nodes: the double, like the kubelet, needs
	// /dev/kmsg and a writable cgroup tree. fail-cgroupv1=false: it refuses
	// cgroup v1 hosts otherwise.
	if _, err := rt.CreateNode(ctx, backends.NodeSpec{Name: server, Image: ref, Labels: labels, Env: env, Privileged: true,
		Cmd:      []string{"server", "--tls-san", "0.0.0.0", "--kubelet-arg=fail-cgroupv1=false"},
		Networks: []backends.NetworkAttachment{{Network: network}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.CreateNode(ctx, backends.NodeSpec{Name: agent, Image: ref, Labels: labels, Privileged: true,
		Env:      append(env, "K3S_URL=https://"+server+":6443"),
		Cmd:      []string{"agent", "--kubelet-arg=fail-cgroupv1=false"},
		Networks: []backends.NetworkAttachment{{Network: network}}}); err != nil {
		t.Fatal(err)
	}
	// The agent starts first and waits for the server, as under k3d.
	for _, n := range []string{agent, server} {
		if err := rt.StartNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	waitForLog(ctx, t, rt, server, "k3s is up and running")
	waitForLog(ctx, t, rt, agent, "Successfully registered node")

	var out, errOut bytes.Buffer
	code, err := rt.Exec(ctx, server, backends.ExecSpec{Cmd: []string{"kubectl", "get", "nodes"}, Stdout: &out, Stderr: &errOut})
	if err != nil || code != 0 {
		t.Fatalf("kubectl get nodes in the server = %d, %v: %s", code, err, errOut.String())
	}
	for _, n := range []string{server, agent} {
		if !strings.Contains(out.String(), n) {
			t.Errorf("kubectl get nodes lacks %s:\n%s", n, out.String())
		}
	}
	rc, err := rt.ReadFile(ctx, server, "/output/kubeconfig.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kc, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(kc), "server: https://127.0.0.1:6443") {
		t.Errorf("kubeconfig:\n%s", kc)
	}

	var archive bytes.Buffer
	if _, err := BuildImage(ctx, &archive); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code, err = rt.Exec(ctx, agent, backends.ExecSpec{Cmd: []string{"ctr", "-n", "k8s.io", "images", "import", "-"}, Stdin: &archive, Stdout: &out, Stderr: &errOut})
	if err != nil || code != 0 || !strings.Contains(out.String(), "unpacking docker.io/"+ref) {
		t.Fatalf("ctr images import = %d, %v: %s %s", code, err, out.String(), errOut.String())
	}

	if err := rt.StopNode(ctx, server, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	n, err := rt.InspectNode(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	if n.State.Running || n.State.ExitCode != 0 {
		t.Errorf("server after stop: %+v, want exited with 0", n.State)
	}
}

func waitForLog(ctx context.Context, t *testing.T, rt backends.Runtime, node, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	logs, err := rt.Logs(ctx, node, backends.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var seen strings.Builder
	sc := bufio.NewScanner(logs)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), line) {
			return
		}
	}
	err = sc.Err()
	if err == nil {
		err = errors.New("log ended")
	}
	t.Fatalf("%s never logged %q (%v):\n%s", node, line, err, seen.String())
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
