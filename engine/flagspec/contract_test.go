package flagspec

import (
	"testing"

	"github.com/k3d/k3d/backends"
)

// PortMapping promises the engine a plain conversion to the contract's type; this stops
// compiling if either side changes shape.
func TestPortMappingConvertsToContract(t *testing.T) {
	m := PortMapping{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "udp"}
	b := backends.PortMapping(m)
	if b.HostIP != m.HostIP || b.HostPort != m.HostPort || b.ContainerPort != m.ContainerPort || b.Protocol != m.Protocol {
		t.Fatalf("backends.PortMapping(%+v) = %+v", m, b)
	}
}
