package nodefilter

import (
	"strings"
	"testing"
)

// cluster builds the nodes of a cluster named test the way k3d names them.
func cluster(servers, agents int, lb bool) []NodeRef {
	var nodes []NodeRef
	if lb {
		nodes = append(nodes, NodeRef{Name: "k3d-test-serverlb", Role: RoleLoadBalancer})
	}
	for i := 0; i < servers; i++ {
		nodes = append(nodes, NodeRef{Name: "k3d-test-server-" + itoa(i), Role: RoleServer, Index: i})
	}
	for i := 0; i < agents; i++ {
		nodes = append(nodes, NodeRef{Name: "k3d-test-agent-" + itoa(i), Role: RoleAgent, Index: i})
	}
	return nodes
}

func itoa(i int) string { return Range{i, i}.String() }

func nodeNames(nodes []NodeRef) string {
	var s []string
	for _, n := range nodes {
		s = append(s, strings.TrimPrefix(n.Name, "k3d-test-"))
	}
	return strings.Join(s, " ")
}

func TestMatch(t *testing.T) {
	big := cluster(3, 6, true)
	tests := []struct {
		chain string
		nodes []NodeRef
		want  string
	}{
		{"server:0", big, "server-0"},
		{"server:*", big, "server-0 server-1 server-2"},
		{"servers:0", big, "server-0"},
		{"agent:1,2", big, "agent-1 agent-2"},
		{"agent:0-2", big, "agent-0 agent-1 agent-2"},
		{"agent:4-", big, "agent-4 agent-5"},
		{"agent:-1", big, "agent-0 agent-1"},
		{"agent:*", big, "agent-0 agent-1 agent-2 agent-3 agent-4 agent-5"},
		{"all", big, "serverlb server-0 server-1 server-2 agent-0 agent-1 agent-2 agent-3 agent-4 agent-5"},
		{"loadbalancer", big, "serverlb"},
		{"lb", big, "serverlb"},
		{"server:0;agent:1", big, "server-0 agent-1"},
		// Results come in cluster order, each node once.
		{"agent:2;agent:0-2;server:1", big, "server-1 agent-0 agent-1 agent-2"},
		{"workers", big, "agent-0 agent-1 agent-2 agent-3 agent-4 agent-5"},
		{"workers[0]", big, "agent-0"},
		{"workers[0,2-3]", big, "agent-0 agent-2 agent-3"},
		{"masters", big, "server-0 server-1 server-2"},
		{"masters[0]", big, "server-0"},
		{"k3d-test-agent-0", big, "agent-0"},
		{"k3d-test-server-0@workers[1-5]", big, "server-0 agent-1 agent-2 agent-3 agent-4 agent-5"},
		// A wildcard over an empty group is fine when something else matches.
		{"server:0;agent:*", cluster(1, 0, true), "server-0"},
	}
	for _, tt := range tests {
		got, err := Match(MustParse(tt.chain), tt.nodes)
		if err != nil {
			t.Errorf("Match(%q): %v", tt.chain, err)
			continue
		}
		if nodeNames(got) != tt.want {
			t.Errorf("Match(%q) = %s; want %s", tt.chain, nodeNames(got), tt.want)
		}
	}
}

func TestMatchErrors(t *testing.T) {
	gapped := []NodeRef{
		{Name: "k3d-test-server-0", Role: RoleServer},
		{Name: "k3d-test-agent-0", Role: RoleAgent, Index: 0},
		{Name: "k3d-test-agent-2", Role: RoleAgent, Index: 2},
	}
	tests := []struct {
		chain string
		nodes []NodeRef
		want  string
	}{
		{"agent:5", cluster(1, 3, true), `node filter "agent:5": no agent with index 5; the cluster has 3 agents: agent:0 to agent:2`},
		{"server:1", cluster(1, 3, true), `node filter "server:1": no server with index 1; the cluster has 1 server: server:0`},
		{"agent:0-3", cluster(1, 3, true), `node filter "agent:0-3": no agent with index 3; the cluster has 3 agents: agent:0 to agent:2`},
		{"agent:3-", cluster(1, 3, true), `no agent with index 3`},
		{"workers[1-5]", cluster(1, 3, true), `node filter "agent:1-5": no agent with index 5`},
		{"agent:0", cluster(1, 0, true), `node filter "agent:0": no agent with index 0; the cluster has no agents`},
		{"agent:1", gapped, `no agent with index 1; the cluster has 2 agents: agent:0, agent:2`},
		{"loadbalancer", cluster(1, 0, false), `node filter "loadbalancer" matches no node: the cluster has 1 server, 0 agents and no load balancer`},
		{"agent:*", cluster(2, 0, true), `node filter "agent:*" matches no node: the cluster has 2 servers, 0 agents and a load balancer`},
		{"k3d-test-worker-0", cluster(1, 1, true), `node filter "k3d-test-worker-0": no node named k3d-test-worker-0; the nodes are k3d-test-serverlb, k3d-test-server-0, k3d-test-agent-0`},
		{"k3d-x", cluster(1, 9, false), `the nodes are k3d-test-server-0, k3d-test-agent-0, k3d-test-agent-1, k3d-test-agent-2, k3d-test-agent-3, k3d-test-agent-4, k3d-test-agent-5, k3d-test-agent-6, and 2 more`},
		{"server:0;agent:7", cluster(1, 3, true), `no agent with index 7`},
	}
	for _, tt := range tests {
		_, err := Match(MustParse(tt.chain), tt.nodes)
		if err == nil {
			t.Errorf("Match(%q) succeeded, want error containing %q", tt.chain, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Match(%q) error\n  %v\nwant it to contain\n  %s", tt.chain, err, tt.want)
		}
	}
}

// A range selects the nodes that exist between its ends; only the ends must exist.
func TestMatchRangeOverGap(t *testing.T) {
	nodes := []NodeRef{
		{Name: "k3d-test-agent-0", Role: RoleAgent, Index: 0},
		{Name: "k3d-test-agent-2", Role: RoleAgent, Index: 2},
	}
	got, err := Match(MustParse("agent:0-2"), nodes)
	if err != nil || nodeNames(got) != "agent-0 agent-2" {
		t.Fatalf("Match(agent:0-2) over a gap = %s, %v; want agent-0 agent-2", nodeNames(got), err)
	}
}
