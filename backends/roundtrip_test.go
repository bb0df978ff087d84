package backends_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/testbackend"
)

func TestEveryFieldCrossesTheBoundary(t *testing.T) {
	ctx := context.Background()
	c := backends.ConnectInProcess(t, testbackend.New())

	info, err := c.Info(ctx)
	if err != nil || !reflect.DeepEqual(info, testbackend.SampleInfo()) {
		t.Errorf("Info = %+v, %v; want %+v", info, err, testbackend.SampleInfo())
	}

	node, err := c.InspectNode(ctx, "k3d-dev-server-0")
	if want := testbackend.SampleNode("k3d-dev-server-0"); err != nil || !reflect.DeepEqual(node, want) {
		t.Errorf("InspectNode =\n %+v, %v\nwant\n %+v", node, err, want)
	}

	spec := backends.NodeSpec{
		Name: "k3d-dev-agent-1", Hostname: "agent-1", Image: "rancher/k3s:v1",
		Entrypoint: []string{"/bin/k3d-entrypoint.sh"}, Cmd: []string{"agent", "--debug"},
		Env:    []string{"A=1", "B="},
		Labels: map[string]string{"app": "k3d", "k3d.role": "agent"},
		Ports:  []backends.PortMapping{{HostIP: "0.0.0.0", HostPort: 0, ContainerPort: 80, Protocol: "tcp"}},
		Mounts: []backends.Mount{{Type: backends.MountTmpfs, Target: "/run", TmpfsSize: 1 << 20}, {Type: backends.MountVolume, Source: "vol", Target: "/var/lib", ReadOnly: true}},
		Networks: []backends.NetworkAttachment{
			{Network: "k3d-dev", Aliases: []string{"agent"}, IPv4: "172.30.0.9"},
			{Network: "other"},
		},
		Privileged: true, RestartPolicy: backends.RestartOnFailure, MemoryLimit: 512 << 20,
		ExtraHosts: []backends.HostEntry{{Hostname: "host.k3d.internal", IP: "172.30.0.1"}},
		User:       "1000:1000",
		Ulimits:    []backends.Ulimit{{Name: "nofile", Soft: 1024, Hard: 65536}, {Name: "nproc", Soft: 100, Hard: 200}},
		HostPID:    true, GPUs: "2",
	}
	created, err := c.CreateNode(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	want := backends.Node{
		Name: spec.Name, ID: "id-" + spec.Name, Hostname: spec.Hostname, Image: spec.Image,
		Labels: map[string]string{"app": "k3d", "k3d.role": "agent", "k3d.runtime.fake.entrypoint": "set"},
		Env:    []string{"A=1", "B=", "HOST_host.k3d.internal=172.30.0.1", "USER=1000:1000"},
		Cmd:    []string{"/bin/k3d-entrypoint.sh", "agent", "--debug"},
		State:  backends.NodeState{Status: backends.StatusCreated},
		Networks: []backends.NodeNetwork{
			{Network: "k3d-dev", IPv4: "172.30.0.9", Aliases: []string{"agent"}},
			{Network: "other"},
		},
		Ports: spec.Ports, Mounts: spec.Mounts, Privileged: true, RestartPolicy: backends.RestartOnFailure, MemoryLimit: 512 << 20,
		Ulimits: spec.Ulimits, HostPID: true, GPUs: "2",
	}
	if !reflect.DeepEqual(created, want) {
		t.Errorf("CreateNode =\n %+v\nwant\n %+v", created, want)
	}

	// A nil entrypoint keeps the image's, an empty one removes it: the
	// difference must survive.
	for _, tc := range []struct {
		entrypoint []string
		want       string
	}{{nil, "nil"}, {[]string{}, "empty"}, {[]string{"x"}, "set"}} {
		n, err := c.CreateNode(ctx, backends.NodeSpec{Name: "n", Entrypoint: tc.entrypoint})
		if err != nil || n.Labels["k3d.runtime.fake.entrypoint"] != tc.want {
			t.Errorf("entrypoint %#v arrived as %q (%v), want %q", tc.entrypoint, n.Labels["k3d.runtime.fake.entrypoint"], err, tc.want)
		}
	}

	selector := map[string]string{"app": "k3d", "k3d.cluster": ""}
	nodes, err := c.ListNodes(ctx, selector)
	if err != nil || len(nodes) != 2 || !reflect.DeepEqual(nodes[1].Labels, selector) || nodes[1].Name != "b" {
		t.Errorf("ListNodes = %+v, %v", nodes, err)
	}

	net, err := c.CreateNetwork(ctx, backends.NetworkSpec{Name: "k3d-dev", Labels: map[string]string{"app": "k3d"}, Subnet: "10.0.0.0/24"})
	if wantNet := (backends.Network{Name: "k3d-dev", ID: "id-k3d-dev", Labels: map[string]string{"app": "k3d"}, Subnet: "10.0.0.0/24", Gateway: "10.0.0.1"}); err != nil || !reflect.DeepEqual(net, wantNet) {
		t.Errorf("CreateNetwork = %+v, %v; want %+v", net, err, wantNet)
	}
	if nets, err := c.ListNetworks(ctx, selector); err != nil || len(nets) != 2 || !reflect.DeepEqual(nets[0].Labels, selector) {
		t.Errorf("ListNetworks = %+v, %v", nets, err)
	}
	if n, err := c.InspectNetwork(ctx, "x"); err != nil || n.Subnet != "10.0.0.0/24" {
		t.Errorf("InspectNetwork = %+v, %v", n, err)
	}
	if err := c.ConnectNetwork(ctx, "net", "node", []string{"a"}); err != nil {
		t.Errorf("ConnectNetwork: %v", err)
	}
	if err := c.DisconnectNetwork(ctx, "net", "node"); err != nil {
		t.Errorf("DisconnectNetwork: %v", err)
	}
	if err := c.DeleteNetwork(ctx, "net"); err != nil {
		t.Errorf("DeleteNetwork: %v", err)
	}

	vol, err := c.CreateVolume(ctx, backends.VolumeSpec{Name: "k3d-dev-images", Labels: map[string]string{"app": "k3d"}})
	if err != nil || vol.Name != "k3d-dev-images" || vol.Labels["app"] != "k3d" {
		t.Errorf("CreateVolume = %+v, %v", vol, err)
	}
	if vols, err := c.ListVolumes(ctx, selector); err != nil || len(vols) != 1 || !reflect.DeepEqual(vols[0].Labels, selector) {
		t.Errorf("ListVolumes = %+v, %v", vols, err)
	}
	if v, err := c.InspectVolume(ctx, "v"); err != nil || v.Name != "v" {
		t.Errorf("InspectVolume = %+v, %v", v, err)
	}
	if err := c.DeleteVolume(ctx, "v"); err != nil {
		t.Errorf("DeleteVolume: %v", err)
	}

	if err := c.StartNode(ctx, "n"); err != nil {
		t.Errorf("StartNode: %v", err)
	}
	if err := c.DeleteNode(ctx, "n"); err != nil {
		t.Errorf("DeleteNode: %v", err)
	}
	// The fake answers StopNode and KillNode with what it received.
	if err := c.StopNode(ctx, "n", 1500*time.Millisecond); err == nil || !strings.Contains(err.Error(), "timeout 1.5s") {
		t.Errorf("StopNode: the timeout did not arrive: %v", err)
	}
	if err := c.KillNode(ctx, "n", "SIGTERM"); err == nil || !strings.Contains(err.Error(), `signal "SIGTERM"`) {
		t.Errorf("KillNode: the signal did not arrive: %v", err)
	}

	if ok, err := c.ImageExists(ctx, "present"); !ok || err != nil {
		t.Errorf("ImageExists(present) = %v, %v", ok, err)
	}
	if ok, err := c.ImageExists(ctx, "absent"); ok || err != nil {
		t.Errorf("ImageExists(absent) = %v, %v", ok, err)
	}
	if err := c.ImageTag(ctx, "a", "b"); err != nil {
		t.Errorf("ImageTag: %v", err)
	}
	if img, err := c.ImageInspect(ctx, "present"); err != nil || !reflect.DeepEqual(img, testbackend.SampleImage()) {
		t.Errorf("ImageInspect = %+v, %v; want %+v", img, err, testbackend.SampleImage())
	}

	var out strings.Builder
	code, err := c.Exec(ctx, "n", backends.ExecSpec{Cmd: []string{"env"}, Env: []string{"X=1"}, WorkDir: "/w", User: "root", Stdout: &out})
	if wantOut := "env=[\"X=1\"] workdir=\"/w\" user=\"root\" stdin=false\n"; err != nil || code != 0 || out.String() != wantOut {
		t.Errorf("Exec env = %d, %v, %q; want %q", code, err, out.String(), wantOut)
	}
}
