package k3s

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A server publishes kube-system/coredns with a NodeHosts line for itself;
// lines others add (k3d's host.k3d.internal and host aliases) stay, also
// across a restart.
func TestCoreDNSNodeHostsKeepsOtherLines(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "server-0", "--token", "secret")
	cms := configMaps(t, dir, "server-0", "kube-system")
	cm, err := cms.Get(t.Context(), "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get kube-system/coredns: %v", err)
	}
	if !strings.Contains(cm.Data["Corefile"], "hosts /etc/coredns/NodeHosts") {
		t.Errorf("Corefile does not serve NodeHosts:\n%s", cm.Data["Corefile"])
	}
	lines := strings.Split(strings.TrimSpace(cm.Data["NodeHosts"]), "\n")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], " server-0") {
		t.Fatalf("NodeHosts = %q, want one line for server-0", cm.Data["NodeHosts"])
	}
	cm.Data["NodeHosts"] = "172.30.0.1 host.k3d.internal\n1.2.3.4 a.example b.example\n" + cm.Data["NodeHosts"]
	if _, err := cms.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update NodeHosts: %v", err)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("server exit code = %d", code)
	}
	startServer(t, dir, "server-0", "--token", "secret")
	got, err := configMaps(t, dir, "server-0", "kube-system").Get(t.Context(), "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"172.30.0.1 host.k3d.internal\n", "1.2.3.4 a.example b.example\n", lines[0] + "\n"} {
		if !strings.Contains(got.Data["NodeHosts"], want) {
			t.Errorf("NodeHosts after restart lacks %q:\n%s", want, got.Data["NodeHosts"])
		}
	}
}

// Node lines follow the nodes: a moved node's address is replaced, a
// deleted node's line goes; other lines are untouched.
func TestNodeHostsFollowsNodes(t *testing.T) {
	cur := "172.30.0.1 host.k3d.internal\n10.0.0.2 agent-0\n10.0.0.9 gone-0\n1.2.3.4 a.example agent-0\n"
	nodes := []NodeRecord{{Name: "server-0", InternalIP: "10.0.0.1"}, {Name: "agent-0", InternalIP: "10.0.0.3"}, {Name: "gone-0", InternalIP: "10.0.0.9", Deleted: true}}
	want := "172.30.0.1 host.k3d.internal\n1.2.3.4 a.example agent-0\n10.0.0.3 agent-0\n10.0.0.1 server-0\n"
	if got := nodeHosts(cur, nodes); got != want {
		t.Errorf("nodeHosts =\n%s\nwant\n%s", got, want)
	}
}
