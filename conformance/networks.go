package conformance

import (
	"crypto/rand"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// testNetworks: create (with and without a subnet), inspect, list by label,
// name clash, delete refused while a node is attached, delete.
func testNetworks(t *testing.T, f *fixture) {
	auto := f.name("auto")
	created := f.createNetwork(backends.NetworkSpec{Name: auto, Labels: map[string]string{"k3d.conformance.which": "auto"}})
	if created.Name != auto || created.ID == "" {
		t.Errorf("create network %s returned %+v, want its name and an ID", auto, created)
	}
	got, err := f.rt.InspectNetwork(f.ctx, auto)
	if err != nil {
		t.Fatalf("inspect network %s: %v", auto, err)
	}
	if got.Name != auto || got.ID != created.ID {
		t.Errorf("inspect network %s: got name %q ID %q, want ID %q", auto, got.Name, got.ID, created.ID)
	}
	wantLabels(t, "inspect network "+auto, got.Labels, f.withLabels(map[string]string{"k3d.conformance.which": "auto"}))
	_, subnet, err := net.ParseCIDR(got.Subnet)
	if err != nil {
		t.Errorf("network %s: runtime-chosen subnet %q: %v", auto, got.Subnet, err)
	} else if gw := net.ParseIP(got.Gateway); gw == nil || !subnet.Contains(gw) {
		t.Errorf("network %s: gateway %q is not in subnet %s", auto, got.Gateway, got.Subnet)
	}

	// A name clash leaves the existing network as it was.
	_, err = f.rt.CreateNetwork(f.ctx, backends.NetworkSpec{Name: auto, Labels: f.withLabels(map[string]string{"k3d.conformance.which": "clash"})})
	wantKind(t, "create network with a taken name", err, backends.ErrAlreadyExists)
	if again, err := f.rt.InspectNetwork(f.ctx, auto); err != nil || again.ID != created.ID || again.Labels["k3d.conformance.which"] != "auto" {
		t.Errorf("network %s after a name clash: %+v, %v; want it untouched", auto, again, err)
	}

	fixed, cidr := f.networkWithSubnet("fixed")
	if n, err := f.rt.InspectNetwork(f.ctx, fixed); err != nil {
		t.Fatalf("inspect network %s: %v", fixed, err)
	} else if n.Subnet != cidr.String() {
		t.Errorf("network %s: subnet %q, want %q as requested", fixed, n.Subnet, cidr)
	}

	all, err := f.rt.ListNetworks(f.ctx, f.selector())
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	if got, want := networkNames(all), sorted(auto, fixed); !slices.Equal(got, want) {
		t.Errorf("list networks by the subtest's labels: %q, want %q", got, want)
	}
	one, err := f.rt.ListNetworks(f.ctx, f.withLabels(map[string]string{"k3d.conformance.which": "auto"}))
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	if got := networkNames(one); !slices.Equal(got, []string{auto}) {
		t.Errorf("list networks by k3d.conformance.which=auto: %q, want only %s", got, auto)
	}

	// A node with a static address in the requested subnet.
	ip := hostInSubnet(cidr, 10)
	node := f.name("static")
	f.createNode(backends.NodeSpec{Name: node, Networks: []backends.NetworkAttachment{{Network: fixed, IPv4: ip}}})

	f.start(node)
	running := f.waitRunning(node)
	if got := nodeIP(running, fixed); got != ip {
		t.Errorf("running node %s: address %q on %s, want the static %s", node, got, fixed, ip)
	}
	err = f.rt.DeleteNetwork(f.ctx, fixed)
	wantKind(t, "delete network with a running node", err, backends.ErrInUse)
	if err != nil && !strings.Contains(err.Error(), fixed) {
		t.Errorf("delete network in use: error %q does not name network %s", err, fixed)
	}
	// A stopped node is still attached: deleting its network would leave it
	// unable to start (a stopped cluster could never start again).
	f.stop(node)
	if err := f.rt.DeleteNetwork(f.ctx, fixed); !backends.IsInUse(err) {
		t.Fatalf("delete network %s with a stopped node: %v, want %q", fixed, err, backends.ErrInUse)
	}
	if _, err := f.rt.InspectNetwork(f.ctx, fixed); err != nil {
		t.Errorf("network %s after a refused delete: %v; want it kept", fixed, err)
	}
	f.start(node)
	if got := nodeIP(f.waitRunning(node), fixed); got != ip {
		t.Errorf("restarted node %s: address %q on %s, want the static %s again", node, got, fixed, ip)
	}

	if err := f.rt.DeleteNode(f.ctx, node); err != nil {
		t.Fatalf("delete node %s: %v", node, err)
	}
	for _, name := range []string{fixed, auto} {
		if err := f.rt.DeleteNetwork(f.ctx, name); err != nil {
			t.Fatalf("delete network %s: %v", name, err)
		}
		_, err := f.rt.InspectNetwork(f.ctx, name)
		wantKind(t, "inspect deleted network", err, backends.ErrNotFound)
	}
	left, err := f.rt.ListNetworks(f.ctx, f.selector())
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("list networks after deleting them all: %q", networkNames(left))
	}
}

// networkWithSubnet creates a network with a /24 subnet of its own. The
// subnet is picked at random and retried, because another network on the
// daemon may hold any fixed choice.
func (f *fixture) networkWithSubnet(suffix string) (string, *net.IPNet) {
	f.t.Helper()
	name := f.name(suffix)
	var lastErr error
	for range 5 {
		b := make([]byte, 1)
		_, _ = rand.Read(b)
		_, cidr, _ := net.ParseCIDR(fmt.Sprintf("10.213.%d.0/24", b[0]))
		_, err := f.rt.CreateNetwork(f.ctx, backends.NetworkSpec{Name: name, Subnet: cidr.String(), Labels: f.withLabels(nil)})
		if err == nil {
			f.deleteLater("network", name, f.rt.DeleteNetwork)
			return name, cidr
		}
		lastErr = err
	}
	f.t.Fatalf("create network %s with a subnet: %v", name, lastErr)
	return "", nil
}

// hostInSubnet is the i-th address of an IPv4 subnet.
func hostInSubnet(cidr *net.IPNet, i byte) string {
	ip := slices.Clone(cidr.IP.To4())
	ip[3] += i
	return ip.String()
}

// testNetworkConnect: a node joins a second network under an alias, is found
// there by name and alias, and leaves it again.
func testNetworkConnect(t *testing.T, f *fixture) {
	first := f.defaultNetwork()
	second := f.name("second")
	f.createNetwork(backends.NetworkSpec{Name: second})

	mover := f.name("mover")
	peer := f.name("peer")
	f.runNode(backends.NodeSpec{Name: mover, Cmd: []string{"serve", "7000"}})
	f.runNode(backends.NodeSpec{Name: peer, Networks: []backends.NetworkAttachment{{Network: second}}})

	alias := "conf-" + f.s.runID + "-moved"
	if err := f.rt.ConnectNetwork(f.ctx, second, mover, []string{alias}); err != nil {
		t.Fatalf("connect node %s to network %s: %v", mover, second, err)
	}
	n := f.inspect(mover)
	ip := nodeIP(n, second)
	if ip == "" || nodeIP(n, first) == "" {
		t.Fatalf("node %s after connecting to %s: networks %+v, want both %s and %s", mover, second, n.Networks, first, second)
	}
	for _, name := range []string{mover, alias} {
		f.eventually("resolve "+name+" from "+peer, 15*time.Second, func() (bool, string) {
			r := f.exec(peer, nil, "resolve", name)
			return r.code == 0 && strings.TrimSpace(r.stdout) == ip, r.String()
		})
	}
	// The dial looks the alias up again: retried like the lookups above, as
	// Podman 4.3's aardvark-dns can stall for seconds while containers of
	// other tests come and go.
	f.eventually("dial "+alias+":7000 from "+peer, 15*time.Second, func() (bool, string) {
		r := f.exec(peer, nil, "dial", alias+":7000", "hello")
		return r.code == 0 && strings.TrimSpace(r.stdout) == "hello", r.String()
	})

	err := f.rt.ConnectNetwork(f.ctx, second, mover, nil)
	wantKind(t, "connect a node to a network it is on", err, backends.ErrAlreadyExists)

	if err := f.rt.DisconnectNetwork(f.ctx, second, mover); err != nil {
		t.Fatalf("disconnect node %s from %s: %v", mover, second, err)
	}
	if n := f.inspect(mover); nodeIP(n, second) != "" || nodeIP(n, first) == "" {
		t.Errorf("node %s after disconnecting from %s: networks %+v, want only %s", mover, second, n.Networks, first)
	}
	err = f.rt.DisconnectNetwork(f.ctx, second, mover)
	wantKind(t, "disconnect a node that is not attached", err, backends.ErrNotFound)
	err = f.rt.DisconnectNetwork(f.ctx, f.name("missing"), mover)
	wantKind(t, "disconnect from a missing network", err, backends.ErrNotFound)

	// A node disconnected while running keeps running (the Podman backend
	// may restart it to disconnect it) and keeps its name on the network it
	// stays on; once deleted, its name is gone from that network's DNS.
	moved := f.waitRunning(mover)
	watcher := f.name("watcher")
	f.runNode(backends.NodeSpec{Name: watcher})
	f.eventually("resolve "+mover+" from "+watcher+" after the disconnect", 15*time.Second, func() (bool, string) {
		r := f.exec(watcher, nil, "resolve", mover)
		return r.code == 0 && strings.TrimSpace(r.stdout) == nodeIP(moved, first), r.String()
	})
	if err := f.rt.DeleteNode(f.ctx, mover); err != nil {
		t.Fatalf("delete node %s: %v", mover, err)
	}
	f.eventually("forget "+mover+" on "+first+" once deleted", 15*time.Second, func() (bool, string) {
		r := f.exec(watcher, nil, "resolve", mover)
		return r.code != 0, r.String()
	})
	err = f.rt.DisconnectNetwork(f.ctx, second, mover)
	wantKind(t, "disconnect a deleted node", err, backends.ErrNotFound)

	// The runtime's DNS still serves after that history: a node joining
	// the first network, then connected to another one, is found there.
	// (Podman 4 kept the deleted node's entry, and this connect then made
	// aardvark-dns exit.)
	third := f.name("third")
	f.createNetwork(backends.NetworkSpec{Name: third})
	again := f.name("again")
	f.runNode(backends.NodeSpec{Name: again, Cmd: []string{"serve", "7000"}})
	if err := f.rt.ConnectNetwork(f.ctx, third, again, nil); err != nil {
		t.Fatalf("connect node %s to network %s: %v", again, third, err)
	}
	a := f.inspect(again)
	// Given long: aardvark-dns reloads on every change, and under the other
	// tests' churn a reload can stall it for tens of seconds; a dead one
	// never answers.
	f.eventually("resolve "+again+" from "+watcher+" after the connect", 60*time.Second, func() (bool, string) {
		r := f.exec(watcher, nil, "resolve", again)
		return r.code == 0 && strings.TrimSpace(r.stdout) == nodeIP(a, first), r.String()
	})
}
