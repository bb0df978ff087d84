package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// One server: create, list, reach the API with the written kubeconfig, the
// noun-verb aliases and JSON output, delete leaving nothing behind.
func TestOneServer(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("one")
		s.createCluster(name)

		table := s.must("get", "cluster")
		if !hasLineWith(table.stdout, name) {
			t.Errorf("k3d get cluster does not list %s:\n%s", name, table.stdout)
		}
		if got := waitReadyNodes(t, s.kubeconfig, name, 1); got[0] != "k3d-"+name+"-server-0" {
			t.Errorf("kubectl get nodes lists %v, want k3d-%s-server-0", got, name)
		}
		// The kubeconfig holds the cluster's admin credentials.
		if fi, err := os.Stat(s.kubeconfig); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("kubeconfig %s: want mode 0600, got %v", s.kubeconfig, fi.Mode().Perm())
		}

		t.Run("noun-verb aliases", func(t *testing.T) {
			s := s.with(t)
			alias := s.must("cluster", "list")
			if !hasLineWith(alias.stdout, name) {
				t.Errorf("k3d cluster list does not list %s:\n%s", name, alias.stdout)
			}
			nodes := s.must("node", "list")
			if !hasLineWith(nodes.stdout, "k3d-"+name+"-server-0") {
				t.Errorf("k3d node list does not list k3d-%s-server-0:\n%s", name, nodes.stdout)
			}
			verbNoun := s.must("get", "kubeconfig", name, "--output", "-")
			nounVerb := s.must("kubeconfig", "get", name, "--output", "-")
			if verbNoun.stdout != nounVerb.stdout || !strings.Contains(verbNoun.stdout, "k3d-"+name) {
				t.Errorf("k3d kubeconfig get and k3d get kubeconfig differ or miss k3d-%s:\n%s\n---\n%s", name, nounVerb.stdout, verbNoun.stdout)
			}
		})

		t.Run("json output", func(t *testing.T) {
			s := s.with(t)
			for _, args := range [][]string{{"get", "cluster", "-o", "json"}, {"get", "cluster", name, "-o", "json"}, {"get", "node", "-o", "json"}} {
				res := s.must(args...)
				var v any
				if err := json.Unmarshal([]byte(res.stdout), &v); err != nil {
					t.Errorf("k3d %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, res.stdout)
					continue
				}
				if !jsonHasString(v, name) && !jsonHasString(v, "k3d-"+name+"-server-0") {
					t.Errorf("k3d %s: JSON does not mention %s:\n%s", strings.Join(args, " "), name, res.stdout)
				}
			}
			// kubeconfig get -o json is what `kubectl config view -o json`
			// prints: the same kubeconfig, as JSON.
			var kc struct {
				Clusters []struct {
					Name    string `json:"name"`
					Cluster struct {
						Server string `json:"server"`
					} `json:"cluster"`
				} `json:"clusters"`
				CurrentContext string `json:"current-context"`
			}
			res := s.must("kubeconfig", "get", name, "-o", "json")
			if err := json.Unmarshal([]byte(res.stdout), &kc); err != nil {
				t.Errorf("k3d kubeconfig get -o json: output is not JSON: %v\n%s", err, res.stdout)
			} else if len(kc.Clusters) != 1 || kc.Clusters[0].Name != "k3d-"+name || kc.Clusters[0].Cluster.Server != kubeServer(t, s.kubeconfig, name) {
				t.Errorf("k3d kubeconfig get -o json: want cluster k3d-%s at %s, got %+v", name, kubeServer(t, s.kubeconfig, name), kc)
			}
			if y := s.must("kubeconfig", "get", name, "-o", "yaml"); y.stdout != s.must("kubeconfig", "get", name).stdout {
				t.Errorf("k3d kubeconfig get -o yaml differs from the default output")
			}
		})

		s.must("delete", "cluster", name)
		assertGone(t, s, name)
	})
}

// Three servers and two agents behind the load balancer with a port published
// on it: the API and the published port both reach the nodes through it.
func TestMultiServerLoadBalancer(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("multi")
		port := freePort(t)
		s.createCluster(name, "--servers", "3", "--agents", "2", "-p", port+":80@loadbalancer")

		ctx := context.Background()
		byRole := clusterNodes(ctx, t, r.rt, name)
		if len(byRole["server"]) != 3 || len(byRole["agent"]) != 2 || len(byRole["loadbalancer"]) != 1 {
			t.Fatalf("want 3 servers, 2 agents, 1 load balancer; the runtime has %v / %v / %v",
				nodeNames(byRole["server"]), nodeNames(byRole["agent"]), nodeNames(byRole["loadbalancer"]))
		}
		lb := byRole["loadbalancer"][0]

		// kubectl goes through the load balancer: the kubeconfig's server is
		// the host port the runtime publishes for the load balancer's 6443.
		server := kubeServer(t, s.kubeconfig, name)
		if want := publishedPort(lb, 6443); want == 0 || portOf(t, server) != want {
			t.Errorf("kubeconfig server %s does not use the load balancer's published API port %d", server, want)
		}
		got := waitReadyNodes(t, s.kubeconfig, name, 5)
		want := append(nodeNames(byRole["agent"]), nodeNames(byRole["server"])...)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("kubectl get nodes lists %v, want %v", got, want)
		}

		if publishedPort(lb, 80) != mustAtoi(t, port) {
			t.Errorf("load balancer %s does not publish container port 80 on host port %s: %+v", lb.Name, port, lb.Ports)
		}
		// Port 80 goes to every server and agent.
		reachNodes(t, "127.0.0.1:"+port, want)
	})
}

// Stop and start: the nodes stop, the cluster comes back on the same API
// endpoint and its nodes are Ready again.
func TestStopStart(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("stop")
		s.createCluster(name, "--agents", "1")
		waitReadyNodes(t, s.kubeconfig, name, 2)
		before := kubeServer(t, s.kubeconfig, name)

		s.must("stop", "cluster", name)
		ctx := context.Background()
		for role, nodes := range clusterNodes(ctx, t, r.rt, name) {
			for _, n := range nodes {
				if n.State.Running {
					t.Errorf("after k3d stop cluster, %s node %s is still running", role, n.Name)
				}
			}
		}
		if table := s.must("get", "cluster", name); !hasLineWith(table.stdout, name) {
			t.Errorf("a stopped cluster is no longer listed by k3d get cluster:\n%s", table.stdout)
		}

		s.must("start", "cluster", name)
		for role, nodes := range clusterNodes(ctx, t, r.rt, name) {
			for _, n := range nodes {
				if !n.State.Running {
					t.Errorf("after k3d start cluster, %s node %s is %s", role, n.Name, n.State.Status)
				}
			}
		}
		if after := kubeServer(t, s.kubeconfig, name); after != before {
			t.Errorf("API endpoint changed across stop/start: %s, then %s", before, after)
		}
		// The kubeconfig is not rewritten on start: the runtime must publish
		// the API on the same host port again.
		if lbs := clusterNodes(ctx, t, r.rt, name)["loadbalancer"]; len(lbs) != 1 || publishedPort(lbs[0], 6443) != portOf(t, before) {
			t.Errorf("after k3d start cluster, the load balancer does not publish the API on %s: %+v", before, lbs)
		}
		waitReadyNodes(t, s.kubeconfig, name, 2)
	})
}

// create node joins a running cluster and the load balancer learns about it;
// delete node takes it out again and the cluster keeps working.
func TestAddAndDeleteNode(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("nodes")
		port := freePort(t)
		s.createCluster(name, "-p", port+":80@loadbalancer")
		waitReadyNodes(t, s.kubeconfig, name, 1)
		ctx := context.Background()
		before := clusterNodes(ctx, t, r.rt, name)

		s.must("create", "node", "extra-"+name, "--cluster", name, "--role", "agent", "--image", r.image)
		after := clusterNodes(ctx, t, r.rt, name)
		added := difference(nodeNames(after["agent"]), nodeNames(before["agent"]))
		if len(added) != 1 {
			t.Fatalf("k3d create node: want one new agent in the runtime, got %v (before %v)", nodeNames(after["agent"]), nodeNames(before["agent"]))
		}
		newNode := added[0]
		if list := s.must("get", "node"); !hasLineWith(list.stdout, newNode) {
			t.Errorf("k3d get node does not list the new node %s:\n%s", newNode, list.stdout)
		}
		if got := waitReadyNodes(t, s.kubeconfig, name, 2); !slices.Contains(got, newNode) {
			t.Errorf("kubectl get nodes lists %v, without the new node %s", got, newNode)
		}
		lb := before["loadbalancer"][0].Name
		if ups := lbUpstreams(ctx, t, r.rt, lb, 80); !containsPrefix(ups, newNode+":") {
			t.Errorf("load balancer %s does not send port 80 to the new node %s; upstreams %v", lb, newNode, ups)
		}
		reachNodes(t, "127.0.0.1:"+port, []string{newNode, "k3d-" + name + "-server-0"})

		s.must("delete", "node", newNode)
		if _, err := r.rt.InspectNode(ctx, newNode); !backends.IsNotFound(err) {
			t.Errorf("after k3d delete node %s, the runtime still has it (inspect: %v)", newNode, err)
		}
		if list := s.must("get", "node"); hasLineWith(list.stdout, newNode) {
			t.Errorf("k3d get node still lists the deleted node %s:\n%s", newNode, list.stdout)
		}
		if ups := lbUpstreams(ctx, t, r.rt, lb, 80); containsPrefix(ups, newNode+":") {
			t.Errorf("load balancer %s still sends port 80 to the deleted node %s; upstreams %v", lb, newNode, ups)
		}
		// The published port keeps working without the deleted node.
		reachNodes(t, "127.0.0.1:"+port, []string{"k3d-" + name + "-server-0"})
		// The API still answers through the load balancer.
		waitNodeReady(t, s.kubeconfig, name, "k3d-"+name+"-server-0")
	})
}

// An external network and a reused image volume are used by the cluster and
// kept when it is deleted.
func TestExternalNetworkAndImageVolume(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("ext")
		ctx := context.Background()

		netName := s.createExternal(t, "network", name+"-net")
		volName := s.createExternal(t, "volume", name+"-vol")

		s.createCluster(name, "--network", netName, "--image-vol", volName)
		waitReadyNodes(t, s.kubeconfig, name, 1)
		byRole := clusterNodes(ctx, t, r.rt, name)
		for _, n := range byRole["server"] {
			if !attachedTo(n, netName) {
				t.Errorf("server %s is not on the external network %s: %+v", n.Name, netName, n.Networks)
			}
			if n.Labels["k3d.cluster.network.external"] != "true" {
				t.Errorf("server %s: label k3d.cluster.network.external=%q, want true", n.Name, n.Labels["k3d.cluster.network.external"])
			}
			if n.Labels["k3d.volumes.imagevolume.external"] != "true" {
				t.Errorf("server %s: label k3d.volumes.imagevolume.external=%q, want true", n.Name, n.Labels["k3d.volumes.imagevolume.external"])
			}
			if !mounts(n, volName) {
				t.Errorf("server %s does not mount the image volume %s: %+v", n.Name, volName, n.Mounts)
			}
		}

		s.must("delete", "cluster", name)
		assertGone(t, s, name)
		if _, err := r.rt.InspectNetwork(ctx, netName); err != nil {
			t.Errorf("the external network %s did not survive k3d delete cluster: %v", netName, err)
		}
		if _, err := r.rt.InspectVolume(ctx, volName); err != nil {
			t.Errorf("the reused image volume %s did not survive k3d delete cluster: %v", volName, err)
		}
	})
}

// createExternal runs `k3d create network|volume NAME` and returns the name the
// runtime knows it by (k3d may add its k3d- prefix). The object is removed
// through the contract when the test ends, after the cluster using it.
func (s *session) createExternal(t *testing.T, kind, name string) string {
	t.Helper()
	ctx := context.Background()
	inspect := func(n string) error {
		if kind == "network" {
			_, err := s.r.rt.InspectNetwork(ctx, n)
			return err
		}
		_, err := s.r.rt.InspectVolume(ctx, n)
		return err
	}
	remove := func(n string) error {
		if kind == "network" {
			return s.r.rt.DeleteNetwork(ctx, n)
		}
		return s.r.rt.DeleteVolume(ctx, n)
	}
	candidates := []string{"k3d-" + name, name}
	t.Cleanup(func() {
		for _, n := range candidates {
			if err := remove(n); err != nil && !backends.IsNotFound(err) {
				t.Errorf("cleanup: delete %s %s: %v", kind, n, err)
			}
		}
	})
	s.must("create", kind, name)
	for _, n := range candidates {
		if err := inspect(n); err == nil {
			return n
		}
	}
	t.Fatalf("k3d create %s %s: the runtime has neither %v", kind, name, candidates)
	return ""
}

// assertGone checks that a deleted cluster left no node, network, volume or
// kubeconfig entry behind, and that k3d no longer lists it.
func assertGone(t *testing.T, s *session, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	left, err := leftovers(ctx, s.r.rt, name)
	if err != nil {
		t.Fatalf("list what is left of cluster %s: %v", name, err)
	}
	if len(left) > 0 {
		t.Errorf("k3d delete cluster %s left: %s", name, strings.Join(left, ", "))
	}
	entries, err := kubeEntries(s.kubeconfig, name)
	if err != nil {
		t.Error(err)
	}
	if len(entries) > 0 {
		t.Errorf("k3d delete cluster %s left kubeconfig entries: %v", name, entries)
	}
	if table := s.must("get", "cluster"); hasLineWith(table.stdout, name) {
		t.Errorf("k3d get cluster still lists the deleted cluster %s:\n%s", name, table.stdout)
	}
}

// hasLineWith reports whether a line of text has word as one of its fields.
func hasLineWith(text, word string) bool {
	for _, line := range strings.Split(text, "\n") {
		if slices.Contains(strings.Fields(line), word) {
			return true
		}
	}
	return false
}

// jsonHasString reports whether s is a string anywhere in a decoded JSON value.
func jsonHasString(v any, s string) bool {
	switch v := v.(type) {
	case string:
		return v == s
	case []any:
		for _, e := range v {
			if jsonHasString(e, s) {
				return true
			}
		}
	case map[string]any:
		for _, e := range v {
			if jsonHasString(e, s) {
				return true
			}
		}
	}
	return false
}

// freePort is a TCP port that nothing listens on right now on 127.0.0.1.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// publishedPort is the host port a node publishes for containerPort (TCP), or 0.
func publishedPort(n backends.Node, containerPort uint16) int {
	for _, p := range n.Ports {
		if p.ContainerPort == containerPort && (p.Protocol == "" || p.Protocol == "tcp") {
			return int(p.HostPort)
		}
	}
	return 0
}

func portOf(t testing.TB, server string) int {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("kubeconfig server %q: %v", server, err)
	}
	return mustAtoi(t, u.Port())
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

func attachedTo(n backends.Node, network string) bool {
	for _, nn := range n.Networks {
		if nn.Network == network {
			return true
		}
	}
	return false
}

func mounts(n backends.Node, volume string) bool {
	for _, m := range n.Mounts {
		if m.Type == backends.MountVolume && m.Source == volume {
			return true
		}
	}
	return false
}

// difference is what a has and b has not.
func difference(a, b []string) []string {
	var d []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			d = append(d, x)
		}
	}
	return d
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
