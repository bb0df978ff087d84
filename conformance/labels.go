package conformance

import (
	"slices"
	"testing"

	"github.com/k3d/k3d/backends"
)

// awkwardLabels are values k3d really stores (URLs, tokens, empty values)
// that a backend must not mangle.
var awkwardLabels = map[string]string{
	"k3d.cluster.url":         "https://k3d-dev-server-0:6443",
	"k3d.conformance.equals":  "a=b,c=d",
	"k3d.conformance.spaces":  "  two  words ",
	"k3d.conformance.unicode": "größe ✓",
	"k3d.conformance.empty":   "",
}

// testLabels: labels round-trip verbatim on nodes, networks and volumes, and
// selectors match by value, by key alone (empty value), and not at all.
func testLabels(t *testing.T, f *fixture) {
	server := map[string]string{"k3d.role": "server"}
	agent := map[string]string{"k3d.role": "agent"}
	for k, v := range awkwardLabels {
		server[k] = v
	}

	nodeA, nodeB := f.name("server"), f.name("agent")
	netA, netB := f.name("net-server"), f.name("net-agent")
	volA, volB := f.name("vol-server"), f.name("vol-agent")
	f.createNetwork(backends.NetworkSpec{Name: netA, Labels: server})
	f.createNetwork(backends.NetworkSpec{Name: netB, Labels: agent})
	f.createVolume(backends.VolumeSpec{Name: volA, Labels: server})
	f.createVolume(backends.VolumeSpec{Name: volB, Labels: agent})
	f.createNode(backends.NodeSpec{Name: nodeA, Labels: server, Networks: []backends.NetworkAttachment{{Network: netA}}})
	f.createNode(backends.NodeSpec{Name: nodeB, Labels: agent, Networks: []backends.NetworkAttachment{{Network: netB}}})

	n, err := f.rt.InspectNode(f.ctx, nodeA)
	if err != nil {
		t.Fatalf("inspect node %s: %v", nodeA, err)
	}
	wantLabels(t, "inspect node "+nodeA, n.Labels, f.withLabels(server))
	nw, err := f.rt.InspectNetwork(f.ctx, netA)
	if err != nil {
		t.Fatalf("inspect network %s: %v", netA, err)
	}
	wantLabels(t, "inspect network "+netA, nw.Labels, f.withLabels(server))
	v, err := f.rt.InspectVolume(f.ctx, volA)
	if err != nil {
		t.Fatalf("inspect volume %s: %v", volA, err)
	}
	wantLabels(t, "inspect volume "+volA, v.Labels, f.withLabels(server))

	selectors := []struct {
		what  string
		extra map[string]string
		want  func(server, agent string) []string
	}{
		{"k3d.role=server", map[string]string{"k3d.role": "server"}, func(s, a string) []string { return []string{s} }},
		{"k3d.role (any value)", map[string]string{"k3d.role": ""}, func(s, a string) []string { return sorted(s, a) }},
		{"k3d.role=loadbalancer", map[string]string{"k3d.role": "loadbalancer"}, func(s, a string) []string { return nil }},
		{"k3d.conformance.empty (any value, here empty)", map[string]string{"k3d.conformance.empty": ""}, func(s, a string) []string { return []string{s} }},
		{"k3d.cluster.url=the URL", map[string]string{"k3d.cluster.url": awkwardLabels["k3d.cluster.url"]}, func(s, a string) []string { return []string{s} }},
		{"k3d.conformance.equals=a=b,c=d", map[string]string{"k3d.conformance.equals": "a=b,c=d"}, func(s, a string) []string { return []string{s} }},
		{"k3d.role=server and k3d.conformance.absent", map[string]string{"k3d.role": "server", "k3d.conformance.absent": ""}, func(s, a string) []string { return nil }},
	}
	for _, sel := range selectors {
		selector := f.withLabels(sel.extra)
		nodes, err := f.rt.ListNodes(f.ctx, selector)
		if err != nil {
			t.Fatalf("list nodes by %s: %v", sel.what, err)
		}
		if got, want := nodeNames(nodes), sel.want(nodeA, nodeB); !slices.Equal(got, want) {
			t.Errorf("list nodes by %s: %q, want %q", sel.what, got, want)
		}
		for _, n := range nodes {
			if n.Name == nodeA {
				wantLabels(t, "listed node "+nodeA, n.Labels, f.withLabels(server))
			}
		}
		nets, err := f.rt.ListNetworks(f.ctx, selector)
		if err != nil {
			t.Fatalf("list networks by %s: %v", sel.what, err)
		}
		if got, want := networkNames(nets), sel.want(netA, netB); !slices.Equal(got, want) {
			t.Errorf("list networks by %s: %q, want %q", sel.what, got, want)
		}
		vols, err := f.rt.ListVolumes(f.ctx, selector)
		if err != nil {
			t.Fatalf("list volumes by %s: %v", sel.what, err)
		}
		if got, want := volumeNames(vols), sel.want(volA, volB); !slices.Equal(got, want) {
			t.Errorf("list volumes by %s: %q, want %q", sel.what, got, want)
		}
	}

	// A nil selector sees everything, ours included.
	all, err := f.rt.ListNodes(f.ctx, nil)
	if err != nil {
		t.Fatalf("list all nodes: %v", err)
	}
	if names := nodeNames(all); !slices.Contains(names, nodeA) || !slices.Contains(names, nodeB) {
		t.Errorf("list nodes with no selector: %d nodes without %s and %s", len(all), nodeA, nodeB)
	}
}
