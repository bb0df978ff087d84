package conformance

import (
	"slices"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// testVolumes: create, inspect, list by label, name clash; a volume carries
// an executable from one node to another (the way k3d's image volume carries
// tools); delete is refused while mounted; named volumes outlive their nodes;
// a node's missing named volume is created for it.
func testVolumes(t *testing.T, f *fixture) {
	shared := f.name("shared")
	other := f.name("other")
	v := f.createVolume(backends.VolumeSpec{Name: shared, Labels: map[string]string{"k3d.conformance.which": "shared"}})
	if v.Name != shared {
		t.Errorf("create volume %s returned name %q", shared, v.Name)
	}
	f.createVolume(backends.VolumeSpec{Name: other})
	got, err := f.rt.InspectVolume(f.ctx, shared)
	if err != nil {
		t.Fatalf("inspect volume %s: %v", shared, err)
	}
	wantLabels(t, "inspect volume "+shared, got.Labels, f.withLabels(map[string]string{"k3d.conformance.which": "shared"}))

	_, err = f.rt.CreateVolume(f.ctx, backends.VolumeSpec{Name: shared, Labels: f.withLabels(map[string]string{"k3d.conformance.which": "clash"})})
	wantKind(t, "create volume with a taken name", err, backends.ErrAlreadyExists)
	if again, err := f.rt.InspectVolume(f.ctx, shared); err != nil || again.Labels["k3d.conformance.which"] != "shared" {
		t.Errorf("volume %s after a name clash: %+v, %v; want it untouched", shared, again, err)
	}

	all, err := f.rt.ListVolumes(f.ctx, f.selector())
	if err != nil {
		t.Fatalf("list volumes: %v", err)
	}
	if got, want := volumeNames(all), sorted(shared, other); !slices.Equal(got, want) {
		t.Errorf("list volumes by the subtest's labels: %q, want %q", got, want)
	}
	one, err := f.rt.ListVolumes(f.ctx, f.withLabels(map[string]string{"k3d.conformance.which": "shared"}))
	if err != nil {
		t.Fatalf("list volumes: %v", err)
	}
	if got := volumeNames(one); !slices.Equal(got, []string{shared}) {
		t.Errorf("list volumes by k3d.conformance.which=shared: %q, want only %s", got, shared)
	}

	// A writer node puts an executable into the volume; a reader node that
	// mounts it read-only runs it.
	writer := f.name("writer")
	reader := f.name("reader")
	auto := f.name("auto")
	f.deleteLater("volume", auto, f.rt.DeleteVolume) // created by CreateNode, maybe without labels
	f.runNode(backends.NodeSpec{Name: writer, Mounts: []backends.Mount{
		{Type: backends.MountVolume, Source: shared, Target: "/vol"},
		{Type: backends.MountVolume, Source: auto, Target: "/auto"},
	}})
	if _, err := f.rt.InspectVolume(f.ctx, auto); err != nil {
		t.Errorf("volume %s named in a node's mounts: %v; want it created with the node", auto, err)
	}
	err = f.rt.CopyToNode(f.ctx, writer, "/vol", tarOf(t, tarEntry{name: "bin/prog", mode: 0o755, data: f.s.binary}))
	if err != nil {
		t.Fatalf("copy the test program into volume %s through node %s: %v", shared, writer, err)
	}
	f.runNode(backends.NodeSpec{Name: reader, Mounts: []backends.Mount{
		{Type: backends.MountVolume, Source: shared, Target: "/data", ReadOnly: true},
	}})
	var out, errOut strings.Builder
	code, err := f.rt.Exec(f.ctx, reader, backends.ExecSpec{Cmd: []string{"/data/bin/prog", "out", "from the volume"}, Stdout: &out, Stderr: &errOut})
	if err != nil || code != 0 || strings.TrimSpace(out.String()) != "from the volume" {
		t.Errorf("run the executable from volume %s in node %s: exit %d, %v, stdout %q, stderr %q", shared, reader, code, err, out.String(), errOut.String())
	}
	if r := f.exec(reader, nil, "write", "/data/x", "x"); r.code == 0 {
		t.Errorf("read-only volume mount in %s is writable: %s", reader, r)
	}
	if m := findMount(f.inspect(reader).Mounts, "/data"); m == nil || m.Type != backends.MountVolume || m.Source != shared || !m.ReadOnly {
		t.Errorf("node %s: inspect reports mount %+v at /data, want read-only volume %s", reader, m, shared)
	}

	err = f.rt.DeleteVolume(f.ctx, shared)
	wantKind(t, "delete a mounted volume", err, backends.ErrInUse)
	if err != nil && !strings.Contains(err.Error(), shared) {
		t.Errorf("delete volume in use: error %q does not name volume %s", err, shared)
	}
	if _, err := f.rt.InspectVolume(f.ctx, shared); err != nil {
		t.Errorf("volume %s after a refused delete: %v; want it kept", shared, err)
	}

	for _, n := range []string{reader, writer} {
		if err := f.rt.DeleteNode(f.ctx, n); err != nil {
			t.Fatalf("delete node %s: %v", n, err)
		}
	}
	for _, name := range []string{shared, other, auto} {
		if _, err := f.rt.InspectVolume(f.ctx, name); err != nil {
			t.Errorf("named volume %s after deleting its nodes: %v; want it kept", name, err)
		}
		if err := f.rt.DeleteVolume(f.ctx, name); err != nil {
			t.Errorf("delete volume %s: %v", name, err)
		}
		_, err := f.rt.InspectVolume(f.ctx, name)
		wantKind(t, "inspect deleted volume", err, backends.ErrNotFound)
	}
}

// findMount is the mount at target, or nil.
func findMount(mounts []backends.Mount, target string) *backends.Mount {
	for i := range mounts {
		if mounts[i].Target == target {
			return &mounts[i]
		}
	}
	return nil
}
