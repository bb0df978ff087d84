package e2e

import (
	"context"
	"testing"

	"github.com/k3d/k3d/backends"
)

// Nodes come back on their own unless stopped with k3d (restart policy
// unless-stopped, which the conformance suite proves each runtime honours);
// --no-auto-restart makes every node and the load balancer stay down
// instead, nodes added later copy the cluster's, and node create
// --auto-restart sets its own.
func TestAutoRestart(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		ctx := context.Background()
		policy := func(node string) backends.RestartPolicy {
			t.Helper()
			n, err := r.rt.InspectNode(ctx, node)
			if err != nil {
				t.Fatal(err)
			}
			return n.RestartPolicy
		}
		name := clusterName("norestart")
		s.createCluster(name, "--agents", "1", "--no-auto-restart")
		s.must("node", "create", name+"-copy", "--cluster", name)
		s.must("node", "create", name+"-own", "--cluster", name, "--auto-restart")
		want := map[string]backends.RestartPolicy{
			"k3d-" + name + "-server-0": backends.RestartNo,
			"k3d-" + name + "-agent-0":  backends.RestartNo,
			"k3d-" + name + "-serverlb": backends.RestartNo,
			"k3d-" + name + "-copy-0":   backends.RestartNo,
			"k3d-" + name + "-own-0":    backends.RestartUnlessStopped,
		}
		for node, p := range want {
			if got := policy(node); got != p {
				t.Errorf("%s: restart policy %q, want %q", node, got, p)
			}
		}
		// Editing the ports makes the load balancer again, with its policy.
		s.must("cluster", "edit", name, "--port-add", "127.0.0.1:"+freePort(t)+":80@loadbalancer")
		if got := policy("k3d-" + name + "-serverlb"); got != backends.RestartNo {
			t.Errorf("load balancer after edit: restart policy %q, want no", got)
		}
		s.must("delete", "cluster", name)

		name = clusterName("restart")
		s.createCluster(name)
		s.must("node", "create", name+"-own", "--cluster", name, "--no-auto-restart")
		for node, p := range map[string]backends.RestartPolicy{
			"k3d-" + name + "-server-0": backends.RestartUnlessStopped,
			"k3d-" + name + "-serverlb": backends.RestartUnlessStopped,
			"k3d-" + name + "-own-0":    backends.RestartNo,
		} {
			if got := policy(node); got != p {
				t.Errorf("%s: restart policy %q, want %q", node, got, p)
			}
		}
		s.must("delete", "cluster", name)
	})
}
