package containerd

import (
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

func rec(name string, extra []backends.HostEntry, nets ...attachment) nodeRecord {
	return nodeRecord{name: name, meta: nodeMeta{Hostname: name, Networks: nets, ExtraHosts: extra}}
}

// A node's /etc/hosts names its extra hosts, itself, and every node on each
// of its networks with that node's address and aliases there; each name
// resolves to one address.
func TestRenderHosts(t *testing.T) {
	server := rec("k3d-dev-server-0", nil,
		attachment{Network: "k3d-dev", IPv4: "10.100.0.2", Aliases: []string{"api"}},
		attachment{Network: "other", IPv4: "10.100.1.2"})
	agent := rec("k3d-dev-agent-0", []backends.HostEntry{{Hostname: "host.k3d.internal", IP: "10.100.0.1"}},
		attachment{Network: "k3d-dev", IPv4: "10.100.0.3"})
	stranger := rec("stranger", nil, attachment{Network: "other", IPv4: "10.100.1.3"})
	all := []nodeRecord{server, agent, stranger}

	hosts := string(renderHosts(agent, all))
	for _, want := range []string{
		"10.100.0.1\thost.k3d.internal\n",
		"10.100.0.3\tk3d-dev-agent-0\n",
		"10.100.0.2\tk3d-dev-server-0 api\n",
		"127.0.0.1\tlocalhost\n",
	} {
		if !strings.Contains(hosts, want) {
			t.Errorf("hosts of the agent lack %q:\n%s", want, hosts)
		}
	}
	if strings.Contains(hosts, "stranger") || strings.Contains(hosts, "10.100.1.2") {
		t.Errorf("hosts of the agent name a node or address of a network it is not on:\n%s", hosts)
	}
	// The server is on both networks: it sees the stranger, at its address
	// on the network they share, and names itself once.
	hosts = string(renderHosts(server, all))
	if !strings.Contains(hosts, "10.100.1.3\tstranger\n") {
		t.Errorf("hosts of the server lack the node on its second network:\n%s", hosts)
	}
	if n := strings.Count(hosts, "k3d-dev-server-0"); n != 1 {
		t.Errorf("hosts of the server name it %d times, want once:\n%s", n, hosts)
	}
}

// The nodes' resolv.conf keeps the host's servers but those on its
// loopback, which a node cannot reach.
func TestFilterResolvConf(t *testing.T) {
	got := string(filterResolvConf([]byte("search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.1\noptions edns0\n")))
	if got != "search example.org\nnameserver 10.0.0.1\noptions edns0\n" {
		t.Errorf("filtered resolv.conf: %q", got)
	}
	if got := string(filterResolvConf([]byte("nameserver 127.0.0.53\n"))); !strings.Contains(got, "nameserver 8.8.8.8") || strings.Contains(got, "127.0.0.53") {
		t.Errorf("resolv.conf with only a loopback server: %q, want public servers instead", got)
	}
}
