package flagspec

import (
	"fmt"
	"strings"
	"testing"

	"github.com/k3d/k3d/engine/nodefilter"
)

// cluster lists nodes the way the engine names them for a cluster called dev.
func cluster(servers, agents int, lb bool) []nodefilter.NodeRef {
	var nodes []nodefilter.NodeRef
	if lb {
		nodes = append(nodes, nodefilter.NodeRef{Name: "k3d-dev-serverlb", Role: nodefilter.RoleLoadBalancer})
	}
	for i := 0; i < servers; i++ {
		nodes = append(nodes, nodefilter.NodeRef{Name: fmt.Sprintf("k3d-dev-server-%d", i), Role: nodefilter.RoleServer, Index: i})
	}
	for i := 0; i < agents; i++ {
		nodes = append(nodes, nodefilter.NodeRef{Name: fmt.Sprintf("k3d-dev-agent-%d", i), Role: nodefilter.RoleAgent, Index: i})
	}
	return nodes
}

func short(nodes []nodefilter.NodeRef) string {
	var s []string
	for _, n := range nodes {
		s = append(s, strings.TrimPrefix(n.Name, "k3d-dev-"))
	}
	return strings.Join(s, " ")
}

func TestPortTargets(t *testing.T) {
	withLB, noLB := cluster(2, 2, true), cluster(2, 2, false)
	tests := []struct {
		spec          string
		nodes         []nodefilter.NodeRef
		lb            string
		proxied, dirc string
	}{
		// No filter: k3d v5's servers:*:proxy;agents:*:proxy, or server 0 without a load balancer.
		{"8080:80", withLB, "serverlb", "server-0 server-1 agent-0 agent-1", ""},
		{"8080:80", noLB, "", "", "server-0"},
		{"8080:80@loadbalancer", withLB, "serverlb", "server-0 server-1 agent-0 agent-1", ""},
		{"8080:80@k3d-dev-serverlb", withLB, "serverlb", "server-0 server-1 agent-0 agent-1", ""},
		{"8080:80@agent:0", withLB, "serverlb", "agent-0", ""},
		{"8080:80@agent:0", noLB, "", "", "agent-0"},
		{"8080:80@agent:0:proxy", withLB, "serverlb", "agent-0", ""},
		{"8080:80@agent:0:direct", withLB, "", "", "agent-0"},
		{"80@agent:*:direct", withLB, "", "", "agent-0 agent-1"}, // random host ports may repeat
		{"8080:80@all", withLB, "serverlb", "server-0 server-1 agent-0 agent-1", ""},
		{"8080:80@workers", withLB, "serverlb", "agent-0 agent-1", ""},
		{"80@k3d-dev-server-0@workers[1]", withLB, "serverlb", "server-0 agent-1", ""},
	}
	for _, tt := range tests {
		p, err := ParsePort(tt.spec)
		if err != nil {
			t.Fatalf("ParsePort(%q): %v", tt.spec, err)
		}
		got, err := p.Targets(tt.nodes)
		if err != nil {
			t.Errorf("Targets(%q): %v", tt.spec, err)
			continue
		}
		lb := strings.TrimPrefix(got.LoadBalancer.Name, "k3d-dev-")
		if lb != tt.lb || short(got.Proxied) != tt.proxied || short(got.Direct) != tt.dirc {
			t.Errorf("Targets(%q) = lb %q proxied [%s] direct [%s]; want lb %q proxied [%s] direct [%s]",
				tt.spec, lb, short(got.Proxied), short(got.Direct), tt.lb, tt.proxied, tt.dirc)
		}
	}
}

func TestPortTargetsErrors(t *testing.T) {
	withLB, noLB := cluster(2, 2, true), cluster(2, 2, false)
	tests := []struct {
		spec  string
		nodes []nodefilter.NodeRef
		want  string
	}{
		{"8080:80@agent:*:direct", withLB, `port "8080:80@agent:*:direct": host port 8080 can be published directly on one node only, but 2 are selected (k3d-dev-agent-0, k3d-dev-agent-1): drop :direct to forward through the load balancer, or leave the host port out for a random one per node`},
		{"8080:80@agent:*", noLB, `port "8080:80@agent:*": host port 8080 can be published directly on one node only, but 2 are selected`},
		{"8080:80@server:0:direct;agent:*", withLB, `port "8080:80@server:0:direct;agent:*": host port 8080 cannot be published both on the load balancer and directly on k3d-dev-server-0: use two different host ports`},
		{"8080:80@loadbalancer", noLB, `port "8080:80@loadbalancer": node filter "loadbalancer" matches no node: the cluster has 2 servers, 2 agents and no load balancer`},
		{"8080:80@loadbalancer;server:0", noLB, `port "8080:80@loadbalancer;server:0": the cluster has no load balancer: publish the port on a node instead, e.g. @server:0:direct`},
		{"8080:80@loadbalancer:direct", withLB, `port "8080:80@loadbalancer:direct": the load balancer only serves the ports it forwards, so "loadbalancer:direct" cannot be :direct: write @loadbalancer, or @server:0:direct to publish on a server`},
		{"8080:80@agent:0:proxy", noLB, `port "8080:80@agent:0:proxy": "agent:0:proxy" forwards through the load balancer, but the cluster has none: write @agent:0:direct`},
		{"8080:80@agent:5", withLB, `port "8080:80@agent:5": node filter "agent:5": no agent with index 5; the cluster has 2 agents: agent:0 to agent:1`},
		{"8080:80@k3d-other-server-0", withLB, `port "8080:80@k3d-other-server-0": node filter "k3d-other-server-0": no node named k3d-other-server-0`},
		{"8080:80", nil, `port "8080:80": the cluster has no server to publish it on`},
	}
	for _, tt := range tests {
		p, err := ParsePort(tt.spec)
		if err != nil {
			t.Fatalf("ParsePort(%q): %v", tt.spec, err)
		}
		_, err = p.Targets(tt.nodes)
		if err == nil {
			t.Errorf("Targets(%q) succeeded, want error %q", tt.spec, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Targets(%q) error\n  %v\nwant\n  %s", tt.spec, err, tt.want)
		}
	}
}

func TestDefaultTargets(t *testing.T) {
	nodes := cluster(2, 2, true)
	v, _ := ParseVolume("/data")
	got, err := v.Targets(nodes)
	if err != nil || short(got) != "server-0 server-1 agent-0 agent-1" {
		t.Errorf("volume without filter targets [%s], %v; want every server and agent", short(got), err)
	}
	v, _ = ParseVolume("/data@all")
	got, err = v.Targets(nodes)
	if err != nil || short(got) != "serverlb server-0 server-1 agent-0 agent-1" {
		t.Errorf("volume @all targets [%s], %v; want every node (k3d v5: all includes the load balancer)", short(got), err)
	}
	e, _ := ParseEnv("A=b", nil)
	got, err = e.Targets(nodes)
	if err != nil || short(got) != "server-0 server-1 agent-0 agent-1" {
		t.Errorf("env without filter targets [%s], %v; want every server and agent", short(got), err)
	}
	e, _ = ParseEnv("A=b@agent:1", nil)
	got, err = e.Targets(nodes)
	if err != nil || short(got) != "agent-1" {
		t.Errorf("env @agent:1 targets [%s], %v", short(got), err)
	}
	l, _ := ParseLabel("team=infra")
	got, err = l.Targets(nodes)
	if err != nil || short(got) != "serverlb server-0 server-1 agent-0 agent-1" {
		t.Errorf("label without filter targets [%s], %v; want every node", short(got), err)
	}

	a, _ := ParseK3sArg("--disable=traefik")
	got, err = a.Targets(cluster(1, 0, true))
	if err != nil || short(got) != "server-0" {
		t.Errorf("k3s arg without filter in a one-server cluster targets [%s], %v; want server-0", short(got), err)
	}
	_, err = a.Targets(nodes)
	want := `k3s arg "--disable=traefik": the cluster has 4 k3s nodes, so say which get it: write --disable=traefik@server:* (every server), --disable=traefik@agent:* or --disable=traefik@all`
	if err == nil || err.Error() != want {
		t.Errorf("k3s arg without filter in a 4-node cluster: %v\nwant %s", err, want)
	}
	a, _ = ParseK3sArg("--kubelet-arg=fail-cgroupv1=false@all")
	got, err = a.Targets(nodes)
	if err != nil || short(got) != "server-0 server-1 agent-0 agent-1" {
		t.Errorf("k3s arg @all targets [%s], %v; want the k3s nodes only", short(got), err)
	}
	for spec, wantErr := range map[string]string{
		"--x@loadbalancer":     `k3s arg "--x@loadbalancer": the load balancer does not run k3s: name servers or agents, e.g. @server:*`,
		"--x@k3d-dev-serverlb": `k3s arg "--x@k3d-dev-serverlb": k3d-dev-serverlb does not run k3s: name servers or agents, e.g. @server:*`,
		"--x@agent:9":          `k3s arg "--x@agent:9": node filter "agent:9": no agent with index 9; the cluster has 2 agents: agent:0 to agent:1`,
	} {
		a, err := ParseK3sArg(spec)
		if err != nil {
			t.Fatalf("ParseK3sArg(%q): %v", spec, err)
		}
		if _, err := a.Targets(nodes); err == nil || err.Error() != wantErr {
			t.Errorf("Targets(%q) = %v\nwant %s", spec, err, wantErr)
		}
	}
	v, _ = ParseVolume("/data@agent:*")
	if _, err := v.Targets(cluster(1, 0, true)); err == nil || !strings.Contains(err.Error(), `volume "/data@agent:*": node filter "agent:*" matches no node`) {
		t.Errorf("volume @agent:* without agents: %v; want a matches-no-node error", err)
	}
}
