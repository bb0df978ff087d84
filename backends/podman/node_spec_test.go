package podman

import (
	"errors"
	"slices"
	"testing"

	nettypes "github.com/containers/common/libnetwork/types"

	"github.com/k3d/k3d/backends"
)

func TestBuildSpec(t *testing.T) {
	s, err := buildSpec(backends.NodeSpec{
		Name:  "k3d-x-server-0",
		Image: "rancher/k3s:v1.36.0-k3s1",
		Cmd:   []string{"server"},
		Env:   []string{"K3S_TOKEN=a=b", "EMPTY="},
		Labels: map[string]string{
			"app": "k3d",
		},
		Ports: []backends.PortMapping{
			{HostIP: "127.0.0.1", HostPort: 6550, ContainerPort: 6443},
			{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80},
			{ContainerPort: 53, Protocol: "udp"},
		},
		Mounts: []backends.Mount{
			{Type: backends.MountBind, Source: "/home/me/manifests", Target: "/var/lib/rancher/k3s/server/manifests", ReadOnly: true},
			{Type: backends.MountVolume, Source: "k3d-x-images", Target: "/k3d/images"},
			{Type: backends.MountTmpfs, Target: "/run", TmpfsSize: 1 << 20},
		},
		Networks: []backends.NetworkAttachment{
			{Network: "k3d-x", Aliases: []string{"server"}, IPv4: "172.20.0.3"},
			{Network: "k3d-extra"},
		},
		ExtraHosts:    []backends.HostEntry{{Hostname: "host.k3d.internal", IP: "172.20.0.1"}},
		Privileged:    true,
		RestartPolicy: backends.RestartUnlessStopped,
		MemoryLimit:   1 << 30,
		User:          "0:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Hostname != "k3d-x-server-0" {
		t.Errorf("hostname %q, want the node name by default", s.Hostname)
	}
	if s.Image != "rancher/k3s:v1.36.0-k3s1" || !slices.Equal(s.Command, []string{"server"}) || s.Entrypoint != nil {
		t.Errorf("image %q, command %q, entrypoint %q", s.Image, s.Command, s.Entrypoint)
	}
	if s.Env["K3S_TOKEN"] != "a=b" || s.Env["EMPTY"] != "" || len(s.Env) != 2 {
		t.Errorf("env %v", s.Env)
	}
	want := []nettypes.PortMapping{
		{HostIP: "127.0.0.1", HostPort: 6550, ContainerPort: 6443, Protocol: "tcp", Range: 1},
		// netavark 1.4 ignores an explicit 0.0.0.0: every address is no address.
		{HostIP: "", HostPort: 8080, ContainerPort: 80, Protocol: "tcp", Range: 1},
		{ContainerPort: 53, Protocol: "udp", Range: 1},
	}
	if !slices.Equal(s.PortMappings, want) {
		t.Errorf("ports %+v, want %+v", s.PortMappings, want)
	}
	if len(s.Mounts) != 2 || s.Mounts[0].Type != "bind" || !slices.Equal(s.Mounts[0].Options, []string{"ro", "rbind"}) ||
		s.Mounts[1].Type != "tmpfs" || s.Mounts[1].Destination != "/run" || !slices.Equal(s.Mounts[1].Options, []string{"size=1048576"}) {
		t.Errorf("mounts %+v", s.Mounts)
	}
	if len(s.Volumes) != 1 || s.Volumes[0].Name != "k3d-x-images" || s.Volumes[0].Dest != "/k3d/images" || len(s.Volumes[0].Options) != 0 {
		t.Errorf("volumes %+v", s.Volumes)
	}
	if n := s.Networks["k3d-x"]; !slices.Equal(n.Aliases, []string{"server"}) || len(n.StaticIPs) != 1 || n.StaticIPs[0].String() != "172.20.0.3" {
		t.Errorf("network k3d-x: %+v", n)
	}
	if _, ok := s.Networks["k3d-extra"]; !ok || len(s.Networks) != 2 {
		t.Errorf("networks %+v", s.Networks)
	}
	if !slices.Equal(s.HostAdd, []string{"host.k3d.internal:172.20.0.1"}) {
		t.Errorf("extra hosts %q", s.HostAdd)
	}
	if !s.Privileged || s.RestartPolicy != "unless-stopped" || s.User != "0:0" {
		t.Errorf("privileged %t, restart %q, user %q", s.Privileged, s.RestartPolicy, s.User)
	}
	if s.ResourceLimits == nil || s.ResourceLimits.Memory == nil || *s.ResourceLimits.Memory.Limit != 1<<30 {
		t.Errorf("memory limit %+v", s.ResourceLimits)
	}
	if s.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" {
		t.Errorf("sysctls %v: want low ports open to every user, as Docker does", s.Sysctl)
	}

	plain, err := buildSpec(backends.NodeSpec{Name: "n", Image: "i", Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Hostname != "h" || plain.RestartPolicy != "no" || plain.ResourceLimits != nil || plain.Networks != nil {
		t.Errorf("plain node: hostname %q, restart %q, limits %+v, networks %+v", plain.Hostname, plain.RestartPolicy, plain.ResourceLimits, plain.Networks)
	}
}

func TestBuildSpecRefusesBadSpecs(t *testing.T) {
	base := backends.NodeSpec{Name: "n", Image: "i"}
	for name, mod := range map[string]func(*backends.NodeSpec){
		"no name":           func(s *backends.NodeSpec) { s.Name = "" },
		"no image":          func(s *backends.NodeSpec) { s.Image = "" },
		"negative memory":   func(s *backends.NodeSpec) { s.MemoryLimit = -1 },
		"restart policy":    func(s *backends.NodeSpec) { s.RestartPolicy = "sometimes" },
		"protocol":          func(s *backends.NodeSpec) { s.Ports = []backends.PortMapping{{ContainerPort: 1, Protocol: "icmp"}} },
		"no container port": func(s *backends.NodeSpec) { s.Ports = []backends.PortMapping{{HostPort: 1}} },
		"host IP":           func(s *backends.NodeSpec) { s.Ports = []backends.PortMapping{{ContainerPort: 1, HostIP: "localhost"}} },
		"relative target":   func(s *backends.NodeSpec) { s.Mounts = []backends.Mount{{Type: backends.MountTmpfs, Target: "run"}} },
		"relative bind": func(s *backends.NodeSpec) {
			s.Mounts = []backends.Mount{{Type: backends.MountBind, Source: "data", Target: "/d"}}
		},
		"volume without name": func(s *backends.NodeSpec) {
			s.Mounts = []backends.Mount{{Type: backends.MountVolume, Target: "/d"}}
		},
		"mount type":       func(s *backends.NodeSpec) { s.Mounts = []backends.Mount{{Type: "nfs", Target: "/d"}} },
		"extra host":       func(s *backends.NodeSpec) { s.ExtraHosts = []backends.HostEntry{{Hostname: "h"}} },
		"network twice":    func(s *backends.NodeSpec) { s.Networks = []backends.NetworkAttachment{{Network: "a"}, {Network: "a"}} },
		"unnamed network":  func(s *backends.NodeSpec) { s.Networks = []backends.NetworkAttachment{{}} },
		"static IPv6":      func(s *backends.NodeSpec) { s.Networks = []backends.NetworkAttachment{{Network: "a", IPv4: "fd00::2"}} },
		"env without name": func(s *backends.NodeSpec) { s.Env = []string{"=x"} },
	} {
		spec := base
		mod(&spec)
		if _, err := buildSpec(spec); !errors.Is(err, backends.ErrInvalid) {
			t.Errorf("%s: %v, want %v", name, err, backends.ErrInvalid)
		}
	}
}
