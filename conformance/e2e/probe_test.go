package e2e

import (
	"context"
	"io"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/loadbalancer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// reachNodes sends HTTP requests to addr (a port published on the load
// balancer), each on a new connection, until every node in want has answered;
// it returns who answered how often. The test double answers on port 80 with
// its node name, standing in for what traefik serves in a real cluster, and
// the load balancer spreads connections round-robin over its upstreams.
func reachNodes(t testing.TB, addr string, want []string) map[string]int {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(30 * time.Second)
	seen := map[string]int{}
	var last string
	for time.Now().Before(deadline) {
		if answeredAll(seen, want) {
			t.Logf("%s through the load balancer: answered by %v", addr, seen)
			return seen
		}
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			last = err.Error()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		last = resp.Status + ": " + strings.TrimSpace(string(body))
		fields := strings.Fields(string(body))
		if resp.StatusCode != http.StatusOK || len(fields) == 0 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		seen[fields[len(fields)-1]]++
	}
	t.Errorf("requests to %s through the load balancer: want answers from all of %v, got %v; last answer: %s", addr, want, seen, last)
	return seen
}

func answeredAll(seen map[string]int, want []string) bool {
	for _, n := range want {
		if seen[n] == 0 {
			return false
		}
	}
	return true
}

// lbUpstreams reads the load balancer's configuration out of its node through
// the contract and returns where it sends TCP port.
func lbUpstreams(ctx context.Context, t testing.TB, rt backends.Runtime, lb string, port uint16) []string {
	t.Helper()
	file := path.Join(loadbalancer.ConfigDir, loadbalancer.ConfigFile)
	rc, err := rt.ReadFile(ctx, lb, file)
	if err != nil {
		t.Fatalf("read %s from load balancer %s: %v", file, lb, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s from load balancer %s: %v", file, lb, err)
	}
	cfg, err := loadbalancer.Parse(b)
	if err != nil {
		t.Fatalf("load balancer %s: %v", lb, err)
	}
	for _, l := range cfg.Listeners {
		if l.Port == port && l.Protocol == "tcp" {
			return l.Upstreams
		}
	}
	t.Fatalf("load balancer %s has no TCP listener on %d: %s", lb, port, b)
	return nil
}

// waitNodeReady polls the API until node is listed and Ready.
func waitNodeReady(t testing.TB, kubeconfig, cluster, node string) {
	t.Helper()
	cs := kubeClient(t, kubeconfig, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var last string
	for {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil && isReady(*n) {
			return
		}
		if err != nil {
			last = err.Error()
		} else {
			last = "not Ready"
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cluster %s: node %s not Ready within %s: %s", cluster, node, readyTimeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
