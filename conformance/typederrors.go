package conformance

import (
	"context"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// testTypedErrors: every operation on a missing node, network or volume is
// ErrNotFound naming the object, and every name clash is ErrAlreadyExists
// that leaves the existing object untouched.
func testTypedErrors(t *testing.T, f *fixture) {
	missing := f.name("missing")
	notFound := []struct {
		what string
		call func(context.Context) error
	}{
		{"inspect node", func(ctx context.Context) error { _, err := f.rt.InspectNode(ctx, missing); return err }},
		{"delete node", func(ctx context.Context) error { return f.rt.DeleteNode(ctx, missing) }},
		{"start node", func(ctx context.Context) error { return f.rt.StartNode(ctx, missing) }},
		{"inspect network", func(ctx context.Context) error { _, err := f.rt.InspectNetwork(ctx, missing); return err }},
		{"delete network", func(ctx context.Context) error { return f.rt.DeleteNetwork(ctx, missing) }},
		{"inspect volume", func(ctx context.Context) error { _, err := f.rt.InspectVolume(ctx, missing); return err }},
		{"delete volume", func(ctx context.Context) error { return f.rt.DeleteVolume(ctx, missing) }},
		{"save image", func(ctx context.Context) error {
			rc, err := f.rt.ImageSave(ctx, []string{missing + ":absent"})
			if err == nil {
				rc.Close()
			}
			return err
		}},
	}
	for _, c := range notFound {
		err := c.call(f.ctx)
		wantKind(t, c.what+" (missing)", err, backends.ErrNotFound)
		if err != nil && !strings.Contains(err.Error(), missing) {
			t.Errorf("%s (missing): error %q does not name %s", c.what, err, missing)
		}
	}

	// Name clashes leave the first object as it was.
	network := f.name("clash")
	net1 := f.createNetwork(backends.NetworkSpec{Name: network, Labels: map[string]string{"k3d.conformance.which": "first"}})
	_, err := f.rt.CreateNetwork(f.ctx, backends.NetworkSpec{Name: network, Labels: f.withLabels(map[string]string{"k3d.conformance.which": "second"})})
	wantKind(t, "create a second network "+network, err, backends.ErrAlreadyExists)
	if got, err := f.rt.InspectNetwork(f.ctx, network); err != nil || got.ID != net1.ID || got.Labels["k3d.conformance.which"] != "first" {
		t.Errorf("network %s after a clash: %+v, %v; want the first one untouched", network, got, err)
	}

	volume := f.name("vol")
	f.createVolume(backends.VolumeSpec{Name: volume, Labels: map[string]string{"k3d.conformance.which": "first"}})
	_, err = f.rt.CreateVolume(f.ctx, backends.VolumeSpec{Name: volume, Labels: f.withLabels(map[string]string{"k3d.conformance.which": "second"})})
	wantKind(t, "create a second volume "+volume, err, backends.ErrAlreadyExists)
	if got, err := f.rt.InspectVolume(f.ctx, volume); err != nil || got.Labels["k3d.conformance.which"] != "first" {
		t.Errorf("volume %s after a clash: %+v, %v; want the first one untouched", volume, got, err)
	}

	node := f.name("node")
	first := f.createNode(backends.NodeSpec{Name: node, Labels: map[string]string{"k3d.conformance.which": "first"}, Networks: []backends.NetworkAttachment{{Network: network}}})
	_, err = f.rt.CreateNode(f.ctx, f.nodeSpec(backends.NodeSpec{Name: node, Labels: map[string]string{"k3d.conformance.which": "second"}, Cmd: []string{"exit", "1"}}))
	wantKind(t, "create a second node "+node, err, backends.ErrAlreadyExists)
	if err != nil && !strings.Contains(err.Error(), node) {
		t.Errorf("create a second node: error %q does not name node %s", err, node)
	}
	if got, err := f.rt.InspectNode(f.ctx, node); err != nil || got.ID != first.ID || got.Labels["k3d.conformance.which"] != "first" {
		t.Errorf("node %s after a clash: %+v, %v; want the first one untouched", node, got, err)
	}
}
