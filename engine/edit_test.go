package engine

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/loadbalancer"
)

func freeTestPort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func (te *testEnv) lbState(t *testing.T) ([]backends.PortMapping, loadbalancer.Config) {
	t.Helper()
	n, err := te.rt.InspectNode(ctxT(t), "k3d-dev-serverlb")
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := te.rt.File("k3d-dev-serverlb", loadbalancer.ConfigDir+"/"+loadbalancer.ConfigFile)
	if !ok {
		t.Fatal("the load balancer has no configuration file")
	}
	cfg, err := loadbalancer.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return n.Ports, cfg
}

func hasHostPort(ports []backends.PortMapping, p uint16) bool {
	return slices.ContainsFunc(ports, func(m backends.PortMapping) bool { return m.HostPort == p })
}

func hasListener(cfg loadbalancer.Config, port uint16) bool {
	return slices.ContainsFunc(cfg.Listeners, func(l loadbalancer.Listener) bool { return l.Port == port })
}

// cluster edit adds and removes the load balancer's ports and listeners,
// keeps the API where it was, leaves the k3s nodes alone, and a refused
// edit changes nothing.
func TestEditClusterPorts(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	c, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Agents: 1, Image: testImage})
	if err != nil {
		t.Fatal(err)
	}
	serverBefore, _ := te.rt.InspectNode(ctx, "k3d-dev-server-0")

	add := freeTestPort(t)
	if err := te.e.EditCluster(ctx, "dev", EditClusterOptions{PortAdd: []string{"127.0.0.1:" + strconv.Itoa(int(add)) + ":80@loadbalancer"}}); err != nil {
		t.Fatalf("port-add: %v", err)
	}
	ports, cfg := te.lbState(t)
	if !hasHostPort(ports, add) || !hasListener(cfg, 80) || !hasListener(cfg, 6443) {
		t.Errorf("after --port-add: ports %+v, listeners %+v", ports, cfg.Listeners)
	}
	for _, l := range cfg.Listeners {
		if l.Port == 80 && (!slices.Contains(l.Upstreams, "k3d-dev-server-0:80") || !slices.Contains(l.Upstreams, "k3d-dev-agent-0:80")) {
			t.Errorf("listener 80 upstreams %v: want the server and the agent", l.Upstreams)
		}
	}
	after, _ := te.e.GetCluster(ctx, "dev")
	if after.API != c.API {
		t.Errorf("API moved from %+v to %+v", c.API, after.API)
	}
	if s, _ := te.rt.InspectNode(ctx, "k3d-dev-server-0"); s.ID != serverBefore.ID || !s.State.Running {
		t.Errorf("the server was touched: %+v", s.State)
	}

	// Refused edits leave the load balancer as it is.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	for _, o := range []struct {
		opts EditClusterOptions
		want string
	}{
		{EditClusterOptions{PortAdd: []string{"127.0.0.1:" + strconv.Itoa(busyPort) + ":81@loadbalancer"}}, "not available"},
		{EditClusterOptions{PortAdd: []string{"9999:6443@loadbalancer"}}, "Kubernetes API"},
		{EditClusterOptions{PortAdd: []string{"9998:80@agent:0:direct"}}, "load balancer"},
		{EditClusterOptions{PortDelete: []string{"1"}}, "publishes no host port 1/tcp"},
		{EditClusterOptions{}, "nothing to change"},
	} {
		before, _ := te.rt.InspectNode(ctx, "k3d-dev-serverlb")
		err := te.e.EditCluster(ctx, "dev", o.opts)
		if err == nil || !strings.Contains(err.Error(), o.want) {
			t.Errorf("EditCluster(%+v) = %v, want an error mentioning %q", o.opts, err, o.want)
		}
		if now, _ := te.rt.InspectNode(ctx, "k3d-dev-serverlb"); now.ID != before.ID {
			t.Errorf("EditCluster(%+v) failed but replaced the load balancer", o.opts)
		}
	}

	if err := te.e.EditCluster(ctx, "dev", EditClusterOptions{PortDelete: []string{"127.0.0.1:" + strconv.Itoa(int(add))}}); err != nil {
		t.Fatalf("port-delete: %v", err)
	}
	ports, cfg = te.lbState(t)
	if hasHostPort(ports, add) || hasListener(cfg, 80) || !hasListener(cfg, 6443) {
		t.Errorf("after --port-delete: ports %+v, listeners %+v", ports, cfg.Listeners)
	}
	if err := te.e.EditNode(ctx, "k3d-dev-agent-0", EditClusterOptions{PortAdd: []string{"9997:80"}}); err == nil || !strings.Contains(err.Error(), "load balancer") {
		t.Errorf("node edit of an agent: %v, want a refusal naming the load balancer", err)
	}
}
