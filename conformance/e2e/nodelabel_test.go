package e2e

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// --k3s-node-label reaches the Kubernetes nodes its filter selects (k3s's
// --node-label), and `node create --k3s-node-label` labels the new node.
func TestK3sNodeLabels(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("nlabel")
		s.createCluster(name, "--agents", "1", "--k3s-node-label", "tier=gold@agent:0", "--k3s-node-label", "zone=e2e@server:0")
		s.must("node", "create", name+"-late", "--cluster", name, "--k3s-node-label", "team=k3d")

		labels := map[string]map[string]string{}
		list, err := kubeClient(t, s.kubeconfig, name).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list nodes: %v", err)
		}
		for _, n := range list.Items {
			labels[n.Name] = n.Labels
		}
		server, agent, late := "k3d-"+name+"-server-0", "k3d-"+name+"-agent-0", "k3d-"+name+"-late-0"
		if labels[agent]["tier"] != "gold" || labels[server]["tier"] != "" {
			t.Errorf("tier=gold@agent:0: agent labels %v, server labels %v", labels[agent], labels[server])
		}
		if labels[server]["zone"] != "e2e" || labels[agent]["zone"] != "" {
			t.Errorf("zone=e2e@server:0: server labels %v, agent labels %v", labels[server], labels[agent])
		}
		if labels[late]["team"] != "k3d" {
			t.Errorf("node create --k3s-node-label team=k3d: %s labels %v", late, labels[late])
		}
		s.must("delete", "cluster", name)
	})
}
