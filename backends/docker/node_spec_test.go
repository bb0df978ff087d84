package docker

import (
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/k3d/k3d/backends"
)

func TestBuildNodeConfig(t *testing.T) {
	spec := backends.NodeSpec{
		Name:  "k3d-x-server-0",
		Image: "rancher/k3s:v1.36.0-k3s1",
		Cmd:   []string{"server"},
		Ports: []backends.PortMapping{
			{HostIP: "127.0.0.1", HostPort: 6550, ContainerPort: 6443},
			{HostPort: 0, ContainerPort: 6443, Protocol: "tcp"},
			{ContainerPort: 53, Protocol: "udp"},
		},
		Mounts: []backends.Mount{
			{Type: backends.MountBind, Source: "/home/me/manifests", Target: "/var/lib/rancher/k3s/server/manifests", ReadOnly: true},
			{Type: backends.MountBind, Source: "/odd:path", Target: "/odd"},
			{Type: backends.MountVolume, Source: "k3d-x-images", Target: "/k3d/images"},
			{Type: backends.MountTmpfs, Target: "/run", TmpfsSize: 1 << 20},
		},
		Networks: []backends.NetworkAttachment{
			{Network: "k3d-x", Aliases: []string{"server"}, IPv4: "172.20.0.3"},
			{Network: "k3d-extra"},
		},
		ExtraHosts: []backends.HostEntry{{Hostname: "host.k3d.internal", IP: "172.20.0.1"}},
	}
	nc, err := buildNodeConfig(spec)
	if err != nil {
		t.Fatal(err)
	}
	if nc.cfg.Hostname != spec.Name || nc.cfg.Entrypoint != nil || !slices.Equal(nc.cfg.Cmd, spec.Cmd) {
		t.Errorf("hostname %q entrypoint %v cmd %v: want the name, the image's entrypoint, the given cmd", nc.cfg.Hostname, nc.cfg.Entrypoint, nc.cfg.Cmd)
	}
	wantBindings := nat.PortMap{
		"6443/tcp": {{HostIP: "127.0.0.1", HostPort: "6550"}, {HostIP: "", HostPort: ""}},
		"53/udp":   {{}},
	}
	if len(nc.host.PortBindings) != 2 || !slices.Equal(nc.host.PortBindings["6443/tcp"], wantBindings["6443/tcp"]) || !slices.Equal(nc.host.PortBindings["53/udp"], wantBindings["53/udp"]) {
		t.Errorf("port bindings = %v, want %v", nc.host.PortBindings, wantBindings)
	}
	if _, ok := nc.cfg.ExposedPorts["53/udp"]; !ok {
		t.Errorf("exposed ports %v lack 53/udp", nc.cfg.ExposedPorts)
	}
	// Short-form binds create a missing host directory, like docker run -v.
	if !slices.Equal(nc.host.Binds, []string{"/home/me/manifests:/var/lib/rancher/k3s/server/manifests:ro"}) {
		t.Errorf("binds = %v", nc.host.Binds)
	}
	wantMounts := []mount.Mount{
		{Type: mount.TypeBind, Source: "/odd:path", Target: "/odd"},
		{Type: mount.TypeVolume, Source: "k3d-x-images", Target: "/k3d/images"},
		{Type: mount.TypeTmpfs, Target: "/run", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}},
	}
	if len(nc.host.Mounts) != 3 || nc.host.Mounts[0] != wantMounts[0] || nc.host.Mounts[1] != wantMounts[1] || nc.host.Mounts[2].TmpfsOptions.SizeBytes != 1<<20 {
		t.Errorf("mounts = %+v", nc.host.Mounts)
	}
	if nc.host.NetworkMode != "k3d-x" || len(nc.net.EndpointsConfig) != 1 || nc.net.EndpointsConfig["k3d-x"].IPAMConfig.IPv4Address != "172.20.0.3" {
		t.Errorf("first network: mode %q endpoints %+v", nc.host.NetworkMode, nc.net.EndpointsConfig)
	}
	if len(nc.later) != 1 || nc.later[0].Network != "k3d-extra" {
		t.Errorf("networks connected after create = %+v", nc.later)
	}
	if nc.host.RestartPolicy.Name != "no" || !slices.Equal(nc.host.ExtraHosts, []string{"host.k3d.internal:172.20.0.1"}) {
		t.Errorf("restart %q extra hosts %v", nc.host.RestartPolicy.Name, nc.host.ExtraHosts)
	}

	// GPUs as `docker run --gpus` asks for them; ulimits and the host's PID
	// namespace as --ulimit and --pid=host.
	gs := spec
	gs.GPUs, gs.HostPID = "2", true
	gs.Ulimits = []backends.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}}
	if nc, err := buildNodeConfig(gs); err != nil || len(nc.host.DeviceRequests) != 1 || nc.host.DeviceRequests[0].Count != 2 ||
		!slices.Equal(nc.host.DeviceRequests[0].Capabilities[0], []string{"gpu"}) || !nc.host.PidMode.IsHost() ||
		len(nc.host.Ulimits) != 1 || *nc.host.Ulimits[0] != (container.Ulimit{Name: "nofile", Soft: 1024, Hard: 2048}) {
		t.Errorf("gpus/pid/ulimits: %v %+v", err, nc.host)
	} else if gpusFrom(nc.host.DeviceRequests) != "2" {
		t.Errorf("inspect reads GPUs %q back, want 2", gpusFrom(nc.host.DeviceRequests))
	}
	gs.GPUs = "all"
	if nc, _ := buildNodeConfig(gs); nc.host.DeviceRequests[0].Count != -1 || gpusFrom(nc.host.DeviceRequests) != "all" {
		t.Errorf("gpus all: %+v", nc.host.DeviceRequests)
	}

	// An explicitly empty entrypoint is sent, to clear the image's.
	spec.Entrypoint = []string{}
	if nc, _ := buildNodeConfig(spec); nc.cfg.Entrypoint == nil {
		t.Error("an empty entrypoint was dropped")
	}

	for name, bad := range map[string]func(*backends.NodeSpec){
		"no name":           func(s *backends.NodeSpec) { s.Name = "" },
		"no image":          func(s *backends.NodeSpec) { s.Image = "" },
		"bad protocol":      func(s *backends.NodeSpec) { s.Ports = []backends.PortMapping{{ContainerPort: 1, Protocol: "icmp"}} },
		"no container port": func(s *backends.NodeSpec) { s.Ports = []backends.PortMapping{{HostPort: 80}} },
		"relative target":   func(s *backends.NodeSpec) { s.Mounts = []backends.Mount{{Type: backends.MountTmpfs, Target: "run"}} },
		"relative bind": func(s *backends.NodeSpec) {
			s.Mounts = []backends.Mount{{Type: backends.MountBind, Source: "dir", Target: "/x"}}
		},
		"unknown mount":     func(s *backends.NodeSpec) { s.Mounts = []backends.Mount{{Type: "nfs", Target: "/x"}} },
		"restart policy":    func(s *backends.NodeSpec) { s.RestartPolicy = "sometimes" },
		"negative memory":   func(s *backends.NodeSpec) { s.MemoryLimit = -1 },
		"network twice":     func(s *backends.NodeSpec) { s.Networks = append(s.Networks, s.Networks[0]) },
		"half a host entry": func(s *backends.NodeSpec) { s.ExtraHosts = []backends.HostEntry{{Hostname: "x"}} },
		"unknown ulimit":    func(s *backends.NodeSpec) { s.Ulimits = []backends.Ulimit{{Name: "files", Soft: 1, Hard: 1}} },
		"soft above hard":   func(s *backends.NodeSpec) { s.Ulimits = []backends.Ulimit{{Name: "nofile", Soft: 2, Hard: 1}} },
		"gpu count":         func(s *backends.NodeSpec) { s.GPUs = "many" },
	} {
		s := spec
		s.Networks = slices.Clone(spec.Networks)
		bad(&s)
		if _, err := buildNodeConfig(s); !backends.IsInvalid(err) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestNodeFrom(t *testing.T) {
	c := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: "0123456789abcdef", Name: "/k3d-x-server-0", Path: "/bin/k3s", Args: []string{"server"},
			Created:      "2026-01-02T03:04:05.123456789Z",
			RestartCount: 2,
			State:        &container.State{Status: container.StateExited, ExitCode: 137, StartedAt: "2026-01-02T03:04:06Z", FinishedAt: "0001-01-01T00:00:00Z"},
			HostConfig: &container.HostConfig{
				NetworkMode: "k3d-x",
				Binds:       []string{"/src:/dst:ro,rprivate"},
				Mounts: []mount.Mount{
					{Type: mount.TypeBind, Source: cgroupRoot, Target: cgroupRoot},
					{Type: mount.TypeTmpfs, Target: "/run", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 5}},
				},
				PortBindings: nat.PortMap{"6443/tcp": {{HostIP: "0.0.0.0", HostPort: "6550"}, {HostIP: "::", HostPort: "6550"}}},
			},
		},
		Config: &container.Config{Hostname: "k3d-x-server-0", Image: "rancher/k3s", Labels: map[string]string{labelPrivileged: "fallback"}},
	}
	n := nodeFrom(c)
	if n.Name != "k3d-x-server-0" || !slices.Equal(n.Cmd, []string{"/bin/k3s", "server"}) || n.RestartPolicy != backends.RestartNo {
		t.Errorf("name %q cmd %v restart %q", n.Name, n.Cmd, n.RestartPolicy)
	}
	if n.State.Status != backends.StatusExited || n.State.ExitCode != 137 || n.State.RestartCount != 2 || !n.State.FinishedAt.IsZero() || n.State.StartedAt.IsZero() {
		t.Errorf("state = %+v", n.State)
	}
	if n.Created != time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC) {
		t.Errorf("created = %v", n.Created)
	}
	if !n.Privileged {
		t.Error("a fallback node is reported unprivileged")
	}
	want := []backends.Mount{{Type: backends.MountBind, Source: "/src", Target: "/dst", ReadOnly: true}, {Type: backends.MountTmpfs, Target: "/run", TmpfsSize: 5}}
	if !slices.Equal(n.Mounts, want) {
		t.Errorf("mounts = %+v, want %+v (the fallback's cgroup mount hidden)", n.Mounts, want)
	}
	if !slices.Equal(n.Ports, []backends.PortMapping{{HostPort: 6550, ContainerPort: 6443, Protocol: "tcp"}}) {
		t.Errorf("ports = %+v, want one binding on all addresses", n.Ports)
	}
}
