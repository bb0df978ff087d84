package e2e

import (
	"net"
	"strings"
	"testing"
	"time"
)

// cluster edit publishes a new port on the load balancer of a running
// cluster and takes it away again; the cluster's API and its first port
// keep serving throughout the nodes' life (the k3s nodes are not touched),
// and a refused edit changes nothing.
func TestClusterEditPorts(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("edit")
		first, added := freePort(t), freePort(t)
		s.createCluster(name, "--agents", "1", "-p", "127.0.0.1:"+first+":80@loadbalancer")
		server, agent := "k3d-"+name+"-server-0", "k3d-"+name+"-agent-0"
		reachNodes(t, "127.0.0.1:"+first, []string{server, agent})

		s.must("cluster", "edit", name, "--port-add", "127.0.0.1:"+added+":80@agent:0")
		reachNodes(t, "127.0.0.1:"+added, []string{agent})
		reachNodes(t, "127.0.0.1:"+first, []string{server, agent})
		waitReadyNodes(t, s.kubeconfig, name, 2)

		busy := listenBusy(t)
		res := s.run("cluster", "edit", name, "--port-add", "127.0.0.1:"+busy+":81@loadbalancer")
		if res.code == 0 || !strings.Contains(res.stderr, busy) {
			t.Errorf("edit onto a busy port: want a failure naming %s: %s", busy, res)
		}
		reachNodes(t, "127.0.0.1:"+added, []string{agent})

		s.must("node", "edit", "k3d-"+name+"-serverlb", "--port-delete", "127.0.0.1:"+added)
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+added, time.Second)
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Errorf("port %s still answers after --port-delete", added)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		reachNodes(t, "127.0.0.1:"+first, []string{server, agent})
		waitReadyNodes(t, s.kubeconfig, name, 2)
		s.must("delete", "cluster", name)
	})
}
