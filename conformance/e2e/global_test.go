package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// The commands here act on every cluster in the runtime, so these tests are
// not parallel (Go runs them before any parallel test starts), and they refuse
// to run where clusters they did not make exist: --all would delete a
// developer's own clusters.

// --all on stop, start and delete cluster acts on every cluster.
func TestAllClusters(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		requireNoForeignClusters(t, r)
		s := newSession(t, r)
		a, b := clusterName("all-a"), clusterName("all-b")
		s.createCluster(a)
		s.createCluster(b, "--no-lb")
		ctx := context.Background()

		s.must("stop", "cluster", "--all")
		for _, c := range []string{a, b} {
			for _, nodes := range clusterNodes(ctx, t, r.rt, c) {
				for _, n := range nodes {
					if n.State.Running {
						t.Errorf("after k3d stop cluster --all, %s is still running", n.Name)
					}
				}
			}
		}
		s.must("start", "cluster", "--all")
		waitReadyNodes(t, s.kubeconfig, a, 1)
		waitReadyNodes(t, s.kubeconfig, b, 1)

		s.must("delete", "cluster", "--all")
		assertGone(t, s, a)
		assertGone(t, s, b)
	})
}

// prune removes what is left of a cluster that lost its servers, and nothing
// of a healthy cluster.
func TestPrune(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		requireNoForeignClusters(t, r)
		s := newSession(t, r)
		broken, healthy := clusterName("dangling"), clusterName("healthy")
		s.createCluster(broken)
		s.createCluster(healthy)
		ctx := context.Background()

		// A cluster whose server was removed behind k3d's back (by hand, or by a
		// crash) leaves a load balancer, a network and a volume that no
		// cluster can use any more.
		server := "k3d-" + broken + "-server-0"
		if err := r.rt.DeleteNode(ctx, server); err != nil {
			t.Fatalf("delete %s through the runtime: %v", server, err)
		}
		dangling, err := leftovers(ctx, r.rt, broken)
		if err != nil {
			t.Fatal(err)
		}
		if len(dangling) == 0 {
			t.Fatalf("cluster %s has nothing left to prune after losing its server", broken)
		}
		healthyBefore := snapshot(t, r)
		for k := range healthyBefore {
			if !containsWord(k, healthy) {
				delete(healthyBefore, k)
			}
		}

		s.must("prune")

		left, err := leftovers(ctx, r.rt, broken)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("k3d prune left the dangling %v (had %v)", left, dangling)
		}
		healthyAfter := snapshot(t, r)
		for k := range healthyAfter {
			if !containsWord(k, healthy) {
				delete(healthyAfter, k)
			}
		}
		if diff := healthyBefore.diff(healthyAfter); diff != "" {
			t.Errorf("k3d prune touched the healthy cluster %s:\n%s", healthy, diff)
		}
		waitReadyNodes(t, s.kubeconfig, healthy, 1)
	})
}

// requireNoForeignClusters skips the test where the runtime holds k3d
// clusters that this process did not make.
func requireNoForeignClusters(t *testing.T, r *runtimeEnv) {
	t.Helper()
	nodes, err := r.rt.ListNodes(context.Background(), map[string]string{"app": "k3d"})
	if err != nil {
		t.Fatalf("list k3d nodes: %v", err)
	}
	var foreign []string
	for _, n := range nodes {
		c := n.Labels["k3d.cluster"]
		if c != "" && !ours(c) && !slices.Contains(foreign, c) {
			foreign = append(foreign, c)
		}
	}
	if len(foreign) > 0 {
		t.Skipf("the runtime has k3d clusters this test did not create (%v): it acts on all clusters and would touch them", foreign)
	}
}

// containsWord reports whether a snapshot key ("node k3d-x-server-0") belongs
// to cluster: its object is named k3d-CLUSTER or k3d-CLUSTER-something.
func containsWord(key, cluster string) bool {
	_, obj, ok := strings.Cut(key, " ")
	return ok && (obj == "k3d-"+cluster || strings.HasPrefix(obj, "k3d-"+cluster+"-"))
}
