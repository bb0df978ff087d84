package e2e

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A cluster from a k3d.io/v1alpha5 file gets on its nodes what the file says:
// ports, volumes, files, env, k3s args, node labels and runtime labels, each
// on the nodes its filters name; a flag given too overrides the file.
func TestConfigFile(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("cfg")
		port := freePort(t)
		dir := sharedDir(t)
		s.env = []string{"K3D_E2E_NAME=" + name, "K3D_E2E_IMAGE=" + r.image, "K3D_E2E_PORT=" + port, "K3D_E2E_DIR=" + dir}
		s.deleteOnCleanup(name)
		cfg := filepath.Join(configTestdata(t), "cluster.yaml")
		// --timeout is a flag the file also has a default for: the flag wins.
		s.must("create", "cluster", "--config", cfg, "--timeout", "3m")

		ready := waitReadyNodes(t, s.kubeconfig, name, 3)
		if len(ready) != 3 {
			t.Fatalf("ready nodes %v, want a server and two agents", ready)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		nodes := map[string]bool{}
		server, agent0, agent1, lb := "k3d-"+name+"-server-0", "k3d-"+name+"-agent-0", "k3d-"+name+"-agent-1", "k3d-"+name+"-serverlb"
		for _, n := range []string{server, agent0, agent1, lb} {
			nodes[n] = true
		}
		for n := range nodes {
			node, err := r.rt.InspectNode(ctx, n)
			if err != nil {
				t.Fatalf("inspect %s: %v", n, err)
			}
			k3s := n != lb
			if got := slices.Contains(node.Env, "E2E_FROM_FILE=yes"); got != k3s {
				t.Errorf("%s: env E2E_FROM_FILE=yes present %t, want %t (env: %v)", n, got, k3s, node.Env)
			}
			if got := slices.Contains(node.Cmd, "--disable=traefik"); got != (n == server) {
				t.Errorf("%s: --disable=traefik in its command %t, want %t: %v", n, got, n == server, node.Cmd)
			}
			mounted := false
			for _, m := range node.Mounts {
				mounted = mounted || (m.Target == "/e2e-data" && m.Source == dir)
			}
			if want := n == agent0 || n == agent1; mounted != want {
				t.Errorf("%s: %s mounted at /e2e-data %t, want %t: %+v", n, dir, mounted, want, node.Mounts)
			}
			if got := node.Labels["team"] == "e2e"; got != (n == agent0) {
				t.Errorf("%s: runtime label team=e2e %t, want %t", n, got, n == agent0)
			}
			if n == lb {
				published := false
				for _, p := range node.Ports {
					published = published || (p.ContainerPort == 80 && strconv.Itoa(int(p.HostPort)) == port)
				}
				if !published {
					t.Errorf("load balancer does not publish %s:80: %+v", port, node.Ports)
				}
			}
		}

		// The file's manifest is in the server, where k3s applies manifests from.
		want, err := os.ReadFile(filepath.Join(configTestdata(t), "manifest.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := r.rt.ReadFile(ctx, server, "/var/lib/rancher/k3s/server/manifests/e2e.yaml")
		if err != nil {
			t.Fatalf("read the file's manifest from %s: %v", server, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Contains(got, want) {
			t.Errorf("manifest in %s:\n%s\nwant:\n%s", server, got, want)
		}

		// The node label reaches Kubernetes, on agent-1 only.
		kc := kubeClient(t, s.kubeconfig, name)
		list, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "tier=backend"})
		if err != nil {
			t.Fatalf("list nodes with tier=backend: %v", err)
		}
		if len(list.Items) != 1 || list.Items[0].Name != agent1 {
			var names []string
			for _, n := range list.Items {
				names = append(names, n.Name)
			}
			t.Errorf("nodes labelled tier=backend: %v, want [%s]", names, agent1)
		}

		s.must("delete", "cluster", name)
		assertGone(t, s, name)
	})
}

// sharedDir is a fresh directory every user can read, for a bind mount that a
// rootless runtime's user must see (t.TempDir is its creator's alone).
func sharedDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "k3d-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
