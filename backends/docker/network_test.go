package docker

import (
	"slices"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

func TestNetworkErrors(t *testing.T) {
	rt, ctx := needDaemon(t)
	netName, subnet := uniqueName(t, "net"), testSubnet(t)
	n := createNetwork(t, backends.NetworkSpec{Name: netName, Labels: labels("k3d.cluster", "a"), Subnet: subnet})
	if n.Subnet != subnet || n.Gateway != strings.TrimSuffix(subnet, "0/24")+"1" || n.ID == "" || n.Labels["k3d.cluster"] != "a" {
		t.Errorf("created network = %+v", n)
	}

	// Docker 20.10 would make a second network of the same name unless told
	// to check; the existing one must stay as it was.
	_, err := rt.CreateNetwork(ctx, backends.NetworkSpec{Name: netName, Labels: labels("k3d.cluster", "b")})
	wantKind(t, err, backends.IsAlreadyExists, "ErrAlreadyExists", netName)
	if got, err := rt.InspectNetwork(ctx, netName); err != nil || got.ID != n.ID || got.Labels["k3d.cluster"] != "a" {
		t.Errorf("network after clash: %+v %v", got, err)
	}

	_, err = rt.InspectNetwork(ctx, "k3d-test-no-such-net")
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", `network "k3d-test-no-such-net"`)
	err = rt.DeleteNetwork(ctx, "k3d-test-no-such-net")
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", `network "k3d-test-no-such-net"`)

	node := nodeSpec(t, "netnode")
	node.Networks = []backends.NetworkAttachment{{Network: netName}}
	createNode(t, node)
	other := createNode(t, nodeSpec(t, "other"))

	err = rt.DeleteNetwork(ctx, netName)
	wantKind(t, err, backends.IsInUse, "ErrInUse", netName)
	if _, err := rt.InspectNetwork(ctx, netName); err != nil {
		t.Errorf("network in use was removed: %v", err)
	}

	err = rt.ConnectNetwork(ctx, netName, node.Name, nil)
	wantKind(t, err, backends.IsAlreadyExists, "ErrAlreadyExists", node.Name)
	err = rt.ConnectNetwork(ctx, netName, "k3d-test-no-such-node", nil)
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", `node "k3d-test-no-such-node"`)
	err = rt.ConnectNetwork(ctx, "k3d-test-no-such-net", node.Name, nil)
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", `network "k3d-test-no-such-net"`)
	err = rt.DisconnectNetwork(ctx, netName, other.Name)
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", other.Name)

	if err := rt.ConnectNetwork(ctx, netName, other.Name, []string{"extra"}); err != nil {
		t.Fatal(err)
	}
	got, err := rt.InspectNode(ctx, other.Name)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(got.Networks, func(nn backends.NodeNetwork) bool { return nn.Network == netName })
	if i < 0 || !slices.Equal(got.Networks[i].Aliases, []string{"extra"}) {
		t.Errorf("after connect: %+v, want %s with alias extra", got.Networks, netName)
	}
	if err := rt.DisconnectNetwork(ctx, netName, other.Name); err != nil {
		t.Fatal(err)
	}
	cleanupNode(node.Name)
	if err := rt.DeleteNetwork(ctx, netName); err != nil {
		t.Errorf("delete of an unused network: %v", err)
	}
}

func TestVolumeErrors(t *testing.T) {
	rt, ctx := needDaemon(t)
	vol := uniqueName(t, "vol")
	createVolume(t, backends.VolumeSpec{Name: vol, Labels: labels("k3d.cluster", "a")})

	// The daemon answers a create of an existing volume with that volume.
	_, err := rt.CreateVolume(ctx, backends.VolumeSpec{Name: vol, Labels: labels("k3d.cluster", "b")})
	wantKind(t, err, backends.IsAlreadyExists, "ErrAlreadyExists", vol)
	if v, err := rt.InspectVolume(ctx, vol); err != nil || v.Labels["k3d.cluster"] != "a" {
		t.Errorf("volume after clash: %+v %v", v, err)
	}

	spec := nodeSpec(t, "volnode")
	spec.Mounts = []backends.Mount{{Type: backends.MountVolume, Source: vol, Target: "/data"}}
	createNode(t, spec)
	err = rt.DeleteVolume(ctx, vol)
	wantKind(t, err, backends.IsInUse, "ErrInUse", vol)

	cleanupNode(spec.Name)
	if err := rt.DeleteVolume(ctx, vol); err != nil {
		t.Errorf("delete of an unused volume: %v", err)
	}
	err = rt.DeleteVolume(ctx, vol)
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", `volume "`+vol+`"`)
	_, err = rt.InspectVolume(ctx, vol)
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", vol)
}

// Selectors become daemon label filters: exact values, and an empty value
// for "has the key".
func TestLabelSelectors(t *testing.T) {
	rt, ctx := needDaemon(t)
	cluster := uniqueName(t, "sel")
	mk := func(role string) map[string]string { return labels("k3d.cluster", cluster, "k3d.role", role) }

	s1, s2 := nodeSpec(t, "sel-server"), nodeSpec(t, "sel-agent")
	s1.Labels, s2.Labels = mk("server"), mk("agent")
	createNode(t, s1)
	createNode(t, s2)
	createNetwork(t, backends.NetworkSpec{Name: uniqueName(t, "selnet"), Labels: mk("network")})
	createVolume(t, backends.VolumeSpec{Name: uniqueName(t, "selvol"), Labels: mk("volume")})

	names := func(ns []backends.Node) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Name)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		selector map[string]string
		want     []string
	}{
		{map[string]string{"k3d.cluster": cluster}, []string{s2.Name, s1.Name}},
		{map[string]string{"k3d.cluster": cluster, "k3d.role": "server"}, []string{s1.Name}},
		{map[string]string{"k3d.cluster": cluster, "k3d.role": ""}, []string{s2.Name, s1.Name}},
		{map[string]string{"k3d.cluster": cluster, "k3d.role": "registry"}, nil},
		{map[string]string{"k3d.cluster": cluster, "no.such.key": ""}, nil},
	} {
		got, err := rt.ListNodes(ctx, tc.selector)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(names(got), want) {
			t.Errorf("ListNodes(%v) = %v, want %v", tc.selector, names(got), want)
		}
	}
	servers, err := rt.ListNodes(ctx, map[string]string{"k3d.cluster": cluster, "k3d.role": "server"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range servers {
		if n.Labels["k3d.role"] != "server" || n.Hostname == "" || n.Image != suite.image {
			t.Errorf("listed node is not fully reported: %+v", n)
		}
	}
	nets, err := rt.ListNetworks(ctx, map[string]string{"k3d.cluster": cluster})
	if err != nil || len(nets) != 1 || nets[0].Labels["k3d.role"] != "network" {
		t.Errorf("ListNetworks = %+v, %v", nets, err)
	}
	vols, err := rt.ListVolumes(ctx, map[string]string{"k3d.cluster": cluster, "k3d.role": ""})
	if err != nil || len(vols) != 1 || vols[0].Labels["k3d.role"] != "volume" {
		t.Errorf("ListVolumes = %+v, %v", vols, err)
	}
	if vols, err := rt.ListVolumes(ctx, map[string]string{"k3d.cluster": cluster, "k3d.role": "network"}); err != nil || len(vols) != 0 {
		t.Errorf("ListVolumes with a non-matching value = %+v, %v", vols, err)
	}
}
