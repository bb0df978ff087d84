package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// testNameResolution: two nodes on one network find each other by node name
// and by alias, at the addresses inspect reports, and can talk.
func testNameResolution(t *testing.T, f *fixture) {
	network := f.defaultNetwork()
	server := f.name("server")
	agent := f.name("agent")
	alias := "conf-" + f.s.runID + "-api"
	f.createNode(backends.NodeSpec{
		Name:     server,
		Cmd:      []string{"serve", "7000"},
		Networks: []backends.NetworkAttachment{{Network: network, Aliases: []string{alias}}},
	})
	f.createNode(backends.NodeSpec{Name: agent})
	f.start(server)
	f.start(agent)
	s := f.waitRunning(server)
	a := f.waitRunning(agent)
	serverIP, agentIP := nodeIP(s, network), nodeIP(a, network)
	if serverIP == "" || agentIP == "" {
		t.Fatalf("nodes on network %s without an address there: %s %+v, %s %+v", network, server, s.Networks, agent, a.Networks)
	}
	if serverIP == agentIP {
		t.Fatalf("nodes %s and %s share address %s", server, agent, serverIP)
	}
	aliasReported := false
	for _, nn := range s.Networks {
		if nn.Network == network {
			for _, al := range nn.Aliases {
				aliasReported = aliasReported || al == alias
			}
		}
	}
	if !aliasReported {
		t.Errorf("node %s: inspect reports networks %+v without alias %s", server, s.Networks, alias)
	}

	resolves := func(from, name, want string) {
		t.Helper()
		f.eventually("resolve "+name+" in "+from, 15*time.Second, func() (bool, string) {
			r := f.exec(from, nil, "resolve", name)
			ips := strings.Fields(r.stdout)
			return r.code == 0 && len(ips) == 1 && ips[0] == want, r.String()
		})
	}
	resolves(agent, server, serverIP)
	resolves(agent, alias, serverIP)
	resolves(server, agent, agentIP)

	// Each dial looks the name up again; a runtime's DNS may answer late
	// under load (rootless Podman lists the host's resolvers after
	// aardvark-dns), so reaching the node is given the same bounded wait.
	for _, target := range []string{server, alias} {
		f.eventually("dial "+target+":7000 from "+agent, 15*time.Second, func() (bool, string) {
			r := f.exec(agent, nil, "dial", target+":7000", "hello "+target)
			return r.code == 0 && strings.TrimSpace(r.stdout) == "hello "+target, r.String()
		})
	}
}
