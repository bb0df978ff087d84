package containerd

import (
	"testing"

	"github.com/k3d/k3d/backends"
)

// Fixed host ports another node publishes are refused; random ones are
// chosen free of the host's sockets and of other nodes' ports.
func TestAllocatePorts(t *testing.T) {
	taken := []backends.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}
	_, err := allocatePorts("n", []backends.PortMapping{{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80}}, taken)
	if !backends.IsInUse(err) {
		t.Errorf("publish 127.0.0.1:8080 while another node has 0.0.0.0:8080: %v, want in use", err)
	}
	if _, err := allocatePorts("n", []backends.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "udp"}}, taken); err != nil {
		t.Errorf("publish 8080/udp while another node has 8080/tcp: %v", err)
	}
	got, err := allocatePorts("n", []backends.PortMapping{
		{ContainerPort: 7000},
		{ContainerPort: 7000, Protocol: "UDP", HostIP: "0.0.0.0"},
		{HostIP: "127.0.0.1", HostPort: 9999, ContainerPort: 7001},
	}, taken)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].HostPort == 0 || got[0].HostPort == 8080 || got[0].Protocol != "tcp" {
		t.Errorf("random TCP port: %+v", got[0])
	}
	if got[1].HostPort == 0 || got[1].Protocol != "udp" || got[1].HostIP != "" {
		t.Errorf("random UDP port on all addresses: %+v", got[1])
	}
	if got[2].HostPort != 9999 {
		t.Errorf("fixed port: %+v", got[2])
	}
	for _, bad := range []backends.PortMapping{{ContainerPort: 0}, {ContainerPort: 1, Protocol: "icmp"}, {ContainerPort: 1, HostIP: "::1"}} {
		if _, err := allocatePorts("n", []backends.PortMapping{bad}, nil); !backends.IsInvalid(err) {
			t.Errorf("port %+v: %v, want invalid", bad, err)
		}
	}
}
