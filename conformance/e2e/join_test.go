package e2e

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// `k3d node create NAME --cluster https://HOST:PORT --token TOKEN` makes an
// agent on this runtime that joins a cluster running elsewhere: here a
// cluster on Docker (or the first runtime under test), published on the
// machine's own address, which every runtime's nodes reach as a remote
// machine's. The agent shows up Ready in that cluster's API, is listed as a
// node of the URL but not as a cluster, and deleting it leaves nothing.
func TestJoinByURL(t *testing.T) {
	t.Parallel()
	srv := suite.runtimes[0]
	for _, r := range suite.runtimes {
		if r.name == "docker" {
			srv = r
		}
	}
	srv.require(t)
	hostIP := machineAddress(t)
	ss := newSession(t, srv)
	cluster := clusterName("far")
	port := freePort(t)
	ss.createCluster(cluster, "--api-port", hostIP+":"+port)
	var listed []struct {
		Token string `json:"clusterToken"`
	}
	if err := json.Unmarshal([]byte(ss.must("cluster", "list", cluster, "--token", "-o", "json").stdout), &listed); err != nil || len(listed) != 1 || listed[0].Token == "" {
		t.Fatalf("cluster list --token -o json: %v %+v", err, listed)
	}
	url := "https://" + hostIP + ":" + port
	api := kubeClient(t, ss.kubeconfig, cluster)

	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		base := strings.TrimPrefix(clusterName("j"+strings.ReplaceAll(r.name, "podman-rootless", "pr")[:2]), "e2e-")
		node := "k3d-" + base + "-0"
		t.Cleanup(func() {
			s.run("node", "delete", node)
			assertNothingOf(t, r, url, base)
		})
		s.must("node", "create", base, "--cluster", url, "--token", listed[0].Token, "--image", r.image, "--k3s-node-label", "joined-from="+r.name)

		n := waitAPINode(t, api, node)
		if n.Labels["joined-from"] != r.name {
			t.Errorf("node %s in the remote cluster: labels %v, want joined-from=%s", node, n.Labels, r.name)
		}
		var nodes []struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"runtimeLabels"`
		}
		if err := json.Unmarshal([]byte(s.must("node", "list", "-o", "json").stdout), &nodes); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ln := range nodes {
			if ln.Name == node {
				found = true
				if ln.Labels["k3d.cluster"] != url || ln.Labels["k3d.cluster.url"] != url || ln.Labels["k3d.cluster.external"] != "true" {
					t.Errorf("node %s: labels %v, want k3d.cluster and k3d.cluster.url %s, k3d.cluster.external true (k3d v5's)", node, ln.Labels, url)
				}
			}
		}
		if !found {
			t.Errorf("node list does not show %s", node)
		}
		if out := s.must("cluster", "list").stdout; strings.Contains(out, url) {
			t.Errorf("cluster list shows the remote cluster's URL as a cluster of this runtime:\n%s", out)
		}

		s.must("node", "delete", node)
		assertNothingOf(t, r, url, base)

		// A wrong token fails the create with what k3s said, and leaves nothing.
		res := s.run("node", "create", base, "--cluster", url, "--token", "wrong", "--image", r.image, "--timeout", "1m")
		if res.code == 0 || !strings.Contains(res.stderr, "join "+url) || !strings.Contains(res.stderr, "401") {
			t.Errorf("want a failed join that shows the server's 401: %s", res)
		}
		assertNothingOf(t, r, url, base)
	})
}

// assertNothingOf fails unless the runtime has no node or network of the
// nodes named base that joined url.
func assertNothingOf(t *testing.T, r *runtimeEnv, url, base string) {
	t.Helper()
	ctx := context.Background()
	left, err := leftovers(ctx, r.rt, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.InspectNetwork(ctx, "k3d-"+base); err == nil {
		left = append(left, "network k3d-"+base)
	}
	if len(left) > 0 {
		t.Errorf("left behind on %s: %v", r.name, left)
	}
}

// waitAPINode polls a cluster's API until node is listed and Ready.
func waitAPINode(t *testing.T, api kubernetes.Interface, node string) corev1.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for {
		n, err := api.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil && isReady(*n) {
			return *n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node %s not Ready in the remote cluster's API within %s: %v", node, readyTimeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// machineAddress is an IPv4 address of this machine that nodes of every
// runtime reach from their networks, as they would reach another machine:
// the first one of an interface that is not loopback or a runtime's bridge.
// K3D_TEST_HOST_IP overrides it.
func machineAddress(t *testing.T) string {
	if ip := os.Getenv("K3D_TEST_HOST_IP"); ip != "" {
		return ip
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		bridge := false
		for _, p := range []string{"docker", "br-", "cni", "veth", "podman", "k3d", "virbr"} {
			bridge = bridge || strings.HasPrefix(i.Name, p)
		}
		if bridge {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	t.Skip("no address of this machine outside loopback and runtime bridges: set K3D_TEST_HOST_IP")
	return ""
}
