package k3s

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
)

func agentArgs(dir, name, url, token string) []string {
	return []string{"agent", "--server", url, "--token", token, "--node-name", name, "--node-ip", "127.0.0.1", "-d", filepath.Join(dir, name)}
}

func TestAgentRegistersWithTheToken(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0", "--token", "secret")
	kc := filepath.Join(dir, "server-0.yaml")
	url := serverURL(t, kc)

	// By env, as k3d starts agents.
	a := startNode(t, []string{"agent", "-d", filepath.Join(dir, "agent-0")}, nodeOpts{hostname: "agent-0",
		env: map[string]string{"K3S_URL": url, "K3S_TOKEN": "secret"}})
	a.waitLog(`"Successfully registered node" node="agent-0"`)
	// The full K10 token from server/token pins the CA and works too.
	full, err := os.ReadFile(filepath.Join(dir, "server-0", "server", "token"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(full), "K10") || !strings.HasSuffix(strings.TrimSpace(string(full)), "::server:secret") {
		t.Errorf("server/token = %q, want K10<hash>::server:secret", full)
	}
	b := startNode(t, agentArgs(dir, "agent-1", url, strings.TrimSpace(string(full))), nodeOpts{})
	b.waitLog("Successfully registered node")

	cs := clientset(t, restConfig(t, kc))
	if names := nodeNames(t, cs); !slices.Equal(names, []string{"agent-0", "agent-1", "server-0"}) {
		t.Errorf("nodes = %v", names)
	}
	node, err := cs.CoreV1().Nodes().Get(t.Context(), "agent-0", metav1GetOptions)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := node.Labels["node-role.kubernetes.io/control-plane"]; ok || !nodeIsReady(*node) {
		t.Errorf("agent node: labels %v, ready %v", node.Labels, nodeIsReady(*node))
	}
	if code := a.stop(); code != 0 {
		t.Errorf("agent exit code after SIGTERM = %d", code)
	}
}

func TestAgentWithWrongTokenFails(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0", "--token", "secret")
	url := serverURL(t, filepath.Join(dir, "server-0.yaml"))
	for _, tok := range []string{"wrong", "K10" + strings.Repeat("0", 64) + "::server:secret"} {
		a := startNode(t, agentArgs(dir, "agent-0", url, tok), nodeOpts{})
		if code := a.exitCode(10 * time.Second); code != 1 {
			t.Errorf("token %q: exit code %d, want 1", tok, code)
		}
		log := a.out.String()
		if !strings.Contains(log, `level=fatal msg="failed to get CA certs: `+url+`/cacerts: 401 Unauthorized"`) {
			t.Errorf("token %q: log:\n%s", tok, log)
		}
		if strings.Contains(log, "Successfully registered node") {
			t.Errorf("token %q: agent registered", tok)
		}
	}
}

func TestAgentWaitsForTheServer(t *testing.T) {
	dir := t.TempDir()
	g := newGate(t)
	// k3d starts every node at once: the agent comes up before the server.
	a := startNode(t, agentArgs(dir, "agent-0", g.url(), "secret"), nodeOpts{})
	a.waitLog("Waiting to retrieve agent configuration")
	s := startServer(t, dir, "server-0", "--token", "secret")
	_ = s
	g.open(strings.TrimPrefix(serverURL(t, filepath.Join(dir, "server-0.yaml")), "https://"))
	a.waitLog("Successfully registered node")
	if names := nodeNames(t, clientset(t, restConfig(t, filepath.Join(dir, "server-0.yaml")))); !slices.Equal(names, []string{"agent-0", "server-0"}) {
		t.Errorf("nodes = %v", names)
	}
}

func TestJoiningServersShareCAAndNodes(t *testing.T) {
	dir := t.TempDir()
	s0 := startServer(t, dir, "server-0", "--token", "secret", "--cluster-init")
	kc0 := filepath.Join(dir, "server-0.yaml")
	url0 := serverURL(t, kc0)
	startNode(t, agentArgs(dir, "agent-0", url0, "secret"), nodeOpts{}).waitLog("Successfully registered node")

	s1 := startServer(t, dir, "server-1", "--server", url0, "--token", "secret")
	s1.waitLog(`"Successfully registered node" node="server-1"`)
	kc1 := filepath.Join(dir, "server-1.yaml")
	cfg0, cfg1 := restConfig(t, kc0), restConfig(t, kc1)
	if string(cfg0.CAData) != string(cfg1.CAData) {
		t.Fatal("joining server has its own CA")
	}
	want := []string{"agent-0", "server-0", "server-1"}
	// One kubeconfig works with every server, as through a load balancer.
	for _, host := range []string{cfg0.Host, cfg1.Host} {
		c := restConfig(t, kc0)
		c.Host = host
		if names := nodeNames(t, clientset(t, c)); !slices.Equal(names, want) {
			t.Errorf("nodes via %s = %v, want %v", host, names, want)
		}
	}
	node, err := clientset(t, cfg1).CoreV1().Nodes().Get(t.Context(), "server-1", metav1GetOptions)
	if err != nil {
		t.Fatal(err)
	}
	if node.Labels["node-role.kubernetes.io/etcd"] != "true" || node.Labels["node-role.kubernetes.io/control-plane"] != "true" {
		t.Errorf("server-1 labels = %v", node.Labels)
	}

	// An agent registering with the joined server is listed by the first
	// as soon as it says it is registered.
	startNode(t, agentArgs(dir, "agent-1", cfg1.Host, "secret"), nodeOpts{}).waitLog("Successfully registered node")
	if names := nodeNames(t, clientset(t, cfg0)); !slices.Contains(names, "agent-1") {
		t.Errorf("server-0 lists %v, want agent-1 too", names)
	}

	// While server-0 is down, server-1 takes a registration; back up,
	// server-0 learns it from server-1.
	if code := s0.stop(); code != 0 {
		t.Fatalf("server-0 exit code = %d", code)
	}
	startNode(t, agentArgs(dir, "agent-2", cfg1.Host, "secret"), nodeOpts{}).waitLog("Successfully registered node")
	startServer(t, dir, "server-0", "--token", "secret", "--cluster-init")
	cfg0 = restConfig(t, kc0)
	eventually(t, "server-0 to list agent-2", func() bool {
		return slices.Contains(nodeNames(t, clientset(t, cfg0)), "agent-2")
	})
}

func TestJoiningServerWithWrongTokenFails(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0", "--token", "secret", "--cluster-init")
	url := serverURL(t, filepath.Join(dir, "server-0.yaml"))
	s := startNode(t, []string{"server", "-d", filepath.Join(dir, "server-1"), "-o", filepath.Join(dir, "server-1.yaml"),
		"--https-listen-port=0", "--server", url, "--token", "wrong"}, nodeOpts{})
	if code := s.exitCode(10 * time.Second); code != 1 {
		t.Fatalf("exit code = %d, want 1", code)
	}
	if !strings.Contains(s.out.String(), `level=fatal msg="starting kubernetes: preparing server: failed to bootstrap cluster data: `+url+`/v1-k3s/server-bootstrap: 401 Unauthorized"`) {
		t.Errorf("log:\n%s", s.out)
	}
}

func TestAgentTokenCannotAddServers(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0", "--token", "secret", "--agent-token", "agents-only", "--cluster-init")
	url := serverURL(t, filepath.Join(dir, "server-0.yaml"))
	startNode(t, agentArgs(dir, "agent-0", url, "agents-only"), nodeOpts{}).waitLog("Successfully registered node")
	s := startNode(t, []string{"server", "-d", filepath.Join(dir, "server-1"), "-o", filepath.Join(dir, "server-1.yaml"),
		"--https-listen-port=0", "--server", url, "--token", "agents-only"}, nodeOpts{})
	if code := s.exitCode(10 * time.Second); code != 1 || !strings.Contains(s.out.String(), "401 Unauthorized") {
		t.Errorf("server joining with the agent token: exit %d, log:\n%s", code, s.out)
	}
}

func TestDeletedNodeDisappearsEverywhere(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0", "--token", "secret", "--cluster-init")
	kc0 := filepath.Join(dir, "server-0.yaml")
	url0 := serverURL(t, kc0)
	startServer(t, dir, "server-1", "--server", url0, "--token", "secret").waitLog("Successfully registered node")
	a := startNode(t, agentArgs(dir, "agent-0", url0, "secret"), nodeOpts{})
	a.waitLog("Successfully registered node")
	a.stop()
	cs0 := clientset(t, restConfig(t, kc0))
	if err := cs0.CoreV1().Nodes().Delete(t.Context(), "agent-0", metav1DeleteOptions); err != nil {
		t.Fatal(err)
	}
	cs1 := clientset(t, restConfig(t, filepath.Join(dir, "server-1.yaml")))
	for i, cs := range []*kubernetes.Clientset{cs0, cs1} {
		if names := nodeNames(t, cs); slices.Contains(names, "agent-0") {
			t.Errorf("server-%d still lists the deleted node: %v", i, names)
		}
	}
}

func TestServerWithoutEtcdCannotBeJoined(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0", "--token", "secret")
	url := serverURL(t, filepath.Join(dir, "server-0.yaml"))
	s := startNode(t, []string{"server", "-d", filepath.Join(dir, "server-1"), "-o", filepath.Join(dir, "server-1.yaml"),
		"--https-listen-port=0", "--server", url, "--token", "secret"}, nodeOpts{})
	if code := s.exitCode(10 * time.Second); code != 1 || !strings.Contains(s.out.String(), "server-bootstrap: 401 Unauthorized") {
		t.Errorf("joining a server started without --cluster-init: exit %d, log:\n%s", code, s.out)
	}
}

func TestAgentHeartbeatsReachAnotherServerWhileItsOwnIsDown(t *testing.T) {
	dir := t.TempDir()
	s0 := startServer(t, dir, "server-0", "--token", "secret", "--cluster-init")
	url0 := serverURL(t, filepath.Join(dir, "server-0.yaml"))
	startServer(t, dir, "server-1", "--server", url0, "--token", "secret").waitLog("Successfully registered node")
	a := startNode(t, agentArgs(dir, "agent-0", url0, "secret"), nodeOpts{heartbeat: 100 * time.Millisecond})
	a.waitLog("Successfully registered node")
	s0.stop()
	stopped := time.Now()
	cs1 := clientset(t, restConfig(t, filepath.Join(dir, "server-1.yaml")))
	eventually(t, "server-1 to hear from agent-0", func() bool {
		n, err := cs1.CoreV1().Nodes().Get(t.Context(), "agent-0", metav1GetOptions)
		if err != nil {
			return false
		}
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" {
				return c.Status == "True" && c.LastHeartbeatTime.Time.After(stopped)
			}
		}
		return false
	})
}
