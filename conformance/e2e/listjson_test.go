package e2e

import (
	"encoding/json"
	"net/url"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// k3dCluster is `k3d cluster list -o json` as tools that drive k3d v5 decode
// it (k3d's own field names).
type k3dCluster struct {
	Name           string    `json:"name"`
	ServersRunning int       `json:"serversRunning"`
	ServersCount   int       `json:"serversCount"`
	AgentsRunning  int       `json:"agentsRunning"`
	AgentsCount    int       `json:"agentsCount"`
	HasLB          bool      `json:"hasLoadbalancer"`
	Nodes          []k3dNode `json:"nodes"`
}

type k3dNode struct {
	Name          string            `json:"name"`
	Role          string            `json:"role"`
	RuntimeLabels map[string]string `json:"runtimeLabels"`
	PortMappings  map[string][]struct {
		HostIP   string `json:"HostIp"`
		HostPort string `json:"HostPort"`
	} `json:"portMappings"`
	State struct{ Running bool }
}

// The list commands' JSON, from a real runtime, reads as k3d v5.9's does.
func TestListJSON(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("json")
		s.createCluster(name, "--agents", "1", "--kubeconfig-update-default=false")
		s.must("node", "stop", "k3d-"+name+"-agent-0")

		var clusters []k3dCluster
		out := s.must("cluster", "list", name, "-o", "json").stdout
		if err := json.Unmarshal([]byte(out), &clusters); err != nil || len(clusters) != 1 {
			t.Fatalf("cluster list -o json: %v\n%s", err, out)
		}
		c := clusters[0]
		if c.Name != name || c.ServersCount != 1 || c.ServersRunning != 1 || c.AgentsCount != 1 || c.AgentsRunning != 0 || !c.HasLB {
			t.Errorf("cluster list -o json: %+v", c)
		}
		api := kubeServerPort(t, s.must("kubeconfig", "get", name).stdout, name)
		for _, n := range c.Nodes {
			if n.RuntimeLabels["k3d.cluster"] != name {
				t.Errorf("%s: runtimeLabels %v", n.Name, n.RuntimeLabels)
			}
			if want := n.Role != "agent"; n.State.Running != want {
				t.Errorf("%s: State.Running %v, want %v", n.Name, n.State.Running, want)
			}
			if n.Role == "loadbalancer" {
				if p := n.PortMappings["6443/tcp"]; len(p) != 1 || p[0].HostPort != api {
					t.Errorf("%s: portMappings %+v, want 6443/tcp on host port %s", n.Name, n.PortMappings, api)
				}
			}
		}

		var nodes []k3dNode
		out = s.must("node", "list", "-o", "json").stdout
		if err := json.Unmarshal([]byte(out), &nodes); err != nil {
			t.Fatalf("node list -o json: %v\n%s", err, out)
		}
		roles := map[string]string{}
		for _, n := range nodes {
			roles[n.Name] = n.Role
		}
		if roles["k3d-"+name+"-server-0"] != "server" || roles["k3d-"+name+"-agent-0"] != "agent" || roles["k3d-"+name+"-serverlb"] != "loadbalancer" {
			t.Errorf("node list -o json: roles %v", roles)
		}
	})
}

// kubeServerPort is the port of the API server URL in kubeconfig text.
func kubeServerPort(t *testing.T, kubeconfig, cluster string) string {
	t.Helper()
	cfg, err := clientcmd.Load([]byte(kubeconfig))
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	c, ok := cfg.Clusters[contextName(cluster)]
	if !ok {
		t.Fatalf("kubeconfig has no cluster %s", contextName(cluster))
	}
	u, err := url.Parse(c.Server)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}
