package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// Host aliases reach every node's /etc/hosts (also of a node added later)
// and CoreDNS's NodeHosts next to host.k3d.internal, and come back into
// NodeHosts after a restart.
func TestHostAliasesInNodesAndCoreDNS(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	aliases := []HostAlias{{IP: "192.168.7.10", Hostnames: []string{"db.local", "db"}}}
	if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Agents: 1, Image: testImage, HostAliases: aliases}); err != nil {
		t.Fatal(err)
	}
	want := []backends.HostEntry{{Hostname: "db.local", IP: "192.168.7.10"}, {Hostname: "db", IP: "192.168.7.10"}}
	for _, n := range []string{"k3d-dev-server-0", "k3d-dev-agent-0"} {
		hosts := te.rt.ExtraHosts(n)
		for _, w := range want {
			if !slices.Contains(hosts, w) {
				t.Errorf("%s /etc/hosts entries %v lack %v", n, hosts, w)
			}
		}
	}
	nh := te.rt.CoreDNSNodeHosts()
	if !strings.Contains(nh, "192.168.7.10 db.local db\n") || !strings.Contains(nh, " host.k3d.internal\n") {
		t.Errorf("NodeHosts after create:\n%s", nh)
	}

	if _, err := te.engine().CreateNodes(ctx, CreateNodeOptions{Name: "late", Cluster: "dev", Role: RoleAgent, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	if hosts := te.rt.ExtraHosts("k3d-late-0"); !slices.Contains(hosts, want[0]) {
		t.Errorf("node added later: /etc/hosts entries %v lack %v", hosts, want[0])
	}

	if err := te.engine().StopCluster(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if err := te.engine().StartCluster(ctx, "dev", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := te.rt.CoreDNSNodeHosts(); strings.Count(got, "192.168.7.10 db.local db\n") != 1 {
		t.Errorf("NodeHosts after restart (want the alias once):\n%s", got)
	}
}

func TestParseHostAlias(t *testing.T) {
	a, err := ParseHostAlias("10.0.0.5:reg.local,reg")
	if err != nil || a.IP != "10.0.0.5" || !slices.Equal(a.Hostnames, []string{"reg.local", "reg"}) {
		t.Errorf("ParseHostAlias = %+v, %v", a, err)
	}
	if a, err := ParseHostAlias("[fd00::1]:v6.local"); err != nil || a.IP != "fd00::1" {
		t.Errorf("IPv6: %+v, %v", a, err)
	}
	for _, bad := range []string{"reg.local", "10.0.0:reg", "10.0.0.5:", "10.0.0.5:bad_name", "10.0.0.5:a,,b"} {
		if _, err := ParseHostAlias(bad); err == nil || !strings.Contains(err.Error(), "--host-alias") {
			t.Errorf("ParseHostAlias(%q) = %v, want an error naming --host-alias", bad, err)
		}
	}
}

// k3d's lines replace its earlier ones for the same names; k3s's stay.
func TestWithNodeHosts(t *testing.T) {
	cur := "10.0.0.9 host.k3d.internal\n172.18.0.2 k3d-dev-server-0\n"
	got := withNodeHosts(cur, []string{"172.18.0.1 host.k3d.internal", "1.2.3.4 a b"})
	want := "172.18.0.1 host.k3d.internal\n1.2.3.4 a b\n172.18.0.2 k3d-dev-server-0\n"
	if got != want {
		t.Errorf("withNodeHosts =\n%s\nwant\n%s", got, want)
	}
	if again := withNodeHosts(got, []string{"172.18.0.1 host.k3d.internal", "1.2.3.4 a b"}); again != got {
		t.Errorf("not idempotent:\n%s", again)
	}
}
