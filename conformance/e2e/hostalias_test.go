package e2e

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// --host-alias puts the names into every node's /etc/hosts (a node added
// later too) and into CoreDNS's NodeHosts beside host.k3d.internal and
// k3s's own node lines, and a cluster restart keeps them there.
func TestHostAliases(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("alias")
		s.createCluster(name, "--agents", "1", "--host-alias", "192.168.77.10:db.local,db", "--host-alias", "192.168.77.11:cache.local")

		hostsHas := func(node string, want ...string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rc, err := r.rt.ReadFile(ctx, node, "/etc/hosts")
			if err != nil {
				t.Fatalf("read /etc/hosts of %s: %v", node, err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			for _, w := range want {
				if !strings.Contains(string(b), w) {
					t.Errorf("/etc/hosts of %s lacks %q:\n%s", node, w, b)
				}
			}
		}
		for _, n := range []string{"k3d-" + name + "-server-0", "k3d-" + name + "-agent-0"} {
			hostsHas(n, "192.168.77.10", "db.local", "192.168.77.11", "cache.local", "host.k3d.internal")
		}

		nodeHosts := func() string {
			t.Helper()
			cm, err := kubeClient(t, s.kubeconfig, name).CoreV1().ConfigMaps("kube-system").Get(context.Background(), "coredns", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("ConfigMap kube-system/coredns: %v", err)
			}
			return cm.Data["NodeHosts"]
		}
		checkNodeHosts := func(when string) {
			t.Helper()
			nh := nodeHosts()
			for _, w := range []string{"192.168.77.10 db.local db\n", "192.168.77.11 cache.local\n", " host.k3d.internal\n", " k3d-" + name + "-server-0\n"} {
				if strings.Count(nh, w) != 1 {
					t.Errorf("NodeHosts %s: want %q once:\n%s", when, w, nh)
				}
			}
		}
		checkNodeHosts("after create")

		s.must("node", "create", name+"-late", "--cluster", name)
		hostsHas("k3d-"+name+"-late-0", "192.168.77.10", "db.local")

		s.must("cluster", "stop", name)
		s.must("cluster", "start", name)
		checkNodeHosts("after a restart")
		hostsHas("k3d-"+name+"-server-0", "192.168.77.10", "db.local")
		s.must("delete", "cluster", name)
	})
}
