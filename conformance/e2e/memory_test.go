package e2e

import (
	"context"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k3d/k3d/backends"
)

// --servers-memory and --agents-memory limit the nodes, and the kubelet sees
// the limit as the node's memory (through the fake /proc/meminfo), also in a
// node added later. A runtime that cannot limit memory refuses the cluster
// and leaves nothing.
func TestNodeMemory(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("mem")
		args := []string{"--agents", "1", "--servers-memory", "1g", "--agents-memory", "512m"}
		info, err := r.rt.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.Rootless && info.CgroupVersion == 1 {
			s.deleteOnCleanup(name)
			res := s.run(append([]string{"create", "cluster", name, "--image", s.r.image}, args...)...)
			if res.code == 0 || !strings.Contains(res.stderr, "memory") {
				t.Fatalf("want a refusal that names memory limits on rootless cgroup v1: %s", res)
			}
			assertGone(t, s, name)
			return
		}
		s.createCluster(name, args...)
		s.must("node", "create", name+"-late", "--cluster", name, "--memory", "256m")

		want := map[string]int64{
			"k3d-" + name + "-server-0": 1 << 30,
			"k3d-" + name + "-agent-0":  512 << 20,
			"k3d-" + name + "-late-0":   256 << 20,
		}
		waitReadyNodes(t, s.kubeconfig, name, 3)
		nodes, err := kubeClient(t, s.kubeconfig, name).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes.Items {
			if got := n.Status.Capacity.Memory(); got.Value() != want[n.Name] {
				t.Errorf("node %s: capacity memory %s, want %d bytes", n.Name, got, want[n.Name])
			}
			delete(want, n.Name)
		}
		if len(want) > 0 {
			t.Errorf("nodes missing from the API: %v", want)
		}
		s.must("delete", "cluster", name)
		assertGone(t, s, name)
		// The meminfo files go with their nodes.
		if entries, err := os.ReadDir(backends.DefaultNodeFilesRoot(os.Getenv)); err == nil {
			for _, e := range entries {
				if strings.Contains(e.Name(), name) {
					t.Errorf("node files left after delete: %s", e.Name())
				}
			}
		}
	})
}
