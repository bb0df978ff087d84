package e2e

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// --runtime-ulimit and --host-pid-mode reach every server and agent (not
// the load balancer), and a node added later gets them too.
func TestRuntimeUlimitsAndHostPID(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("rtopts")
		// Lower than any host's default, so that rootless runtimes can grant it.
		s.createCluster(name, "--agents", "1", "--runtime-ulimit", "memlock=4096:8192", "--host-pid-mode")
		s.must("node", "create", name+"-late", "--cluster", name)

		ctx := context.Background()
		want := backends.Ulimit{Name: "memlock", Soft: 4096, Hard: 8192}
		for _, node := range []string{"k3d-" + name + "-server-0", "k3d-" + name + "-agent-0", "k3d-" + name + "-late-0"} {
			n, err := r.rt.InspectNode(ctx, node)
			if err != nil {
				t.Fatalf("inspect %s: %v", node, err)
			}
			if !slices.Contains(n.Ulimits, want) || !n.HostPID {
				t.Errorf("%s: ulimits %+v host PID %v, want memlock 4096:8192 in the host's PID namespace", node, n.Ulimits, n.HostPID)
			}
			// Inside the node: the limit of its processes, and the host's PID 1
			// rather than k3s as PID 1.
			var limits, pid1 bytes.Buffer
			if code, err := r.rt.Exec(ctx, node, backends.ExecSpec{Cmd: []string{"cat", "/proc/self/limits"}, Stdout: &limits, Stderr: &limits}); err != nil || code != 0 {
				t.Fatalf("read the limits in %s: %d %v %s", node, code, err, limits.String())
			}
			if !hasLimit(limits.String(), "Max locked memory", "4096", "8192") {
				t.Errorf("%s: /proc/self/limits has no locked-memory limit 4096/8192:\n%s", node, limits.String())
			}
			if _, err := r.rt.Exec(ctx, node, backends.ExecSpec{Cmd: []string{"cat", "/proc/1/cmdline"}, Stdout: &pid1, Stderr: &pid1}); err != nil {
				t.Fatalf("read PID 1 in %s: %v", node, err)
			}
			if strings.Contains(pid1.String(), "k3s") {
				t.Errorf("%s: PID 1 is %q, want the host's (host PID namespace)", node, pid1.String())
			}
		}
		lb, err := r.rt.InspectNode(ctx, "k3d-"+name+"-serverlb")
		if err != nil {
			t.Fatal(err)
		}
		if lb.HostPID || slices.Contains(lb.Ulimits, want) {
			t.Errorf("load balancer got the nodes' runtime options: host PID %v ulimits %+v", lb.HostPID, lb.Ulimits)
		}
		s.must("delete", "cluster", name)
	})
}

// hasLimit says whether a /proc/PID/limits text has the soft and hard value
// for the named limit.
func hasLimit(text, limit, soft, hard string) bool {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, limit); ok {
			f := strings.Fields(rest)
			return len(f) >= 2 && f[0] == soft && f[1] == hard
		}
	}
	return false
}
