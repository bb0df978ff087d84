package flagspec

import (
	"reflect"
	"strings"
	"testing"

	"github.com/k3d/k3d/engine/nodefilter"
)

func pm(ip string, host, container uint16, proto string) PortMapping {
	return PortMapping{HostIP: ip, HostPort: host, ContainerPort: container, Protocol: proto}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in      string
		want    []PortMapping
		filters string
	}{
		{"80", []PortMapping{pm("", 0, 80, "tcp")}, ""},
		{"8080:80", []PortMapping{pm("", 8080, 80, "tcp")}, ""},
		{"8080:80@loadbalancer", []PortMapping{pm("", 8080, 80, "tcp")}, "loadbalancer"},
		{"8080:80/udp", []PortMapping{pm("", 8080, 80, "udp")}, ""},
		{"8080:80/UDP", []PortMapping{pm("", 8080, 80, "udp")}, ""},
		{"127.0.0.1:8080:80", []PortMapping{pm("127.0.0.1", 8080, 80, "tcp")}, ""},
		{"127.0.0.1::80", []PortMapping{pm("127.0.0.1", 0, 80, "tcp")}, ""},
		{"127.0.0.1:80", []PortMapping{pm("127.0.0.1", 0, 80, "tcp")}, ""},
		{"[::1]:8080:80", []PortMapping{pm("::1", 8080, 80, "tcp")}, ""},
		{"[::1]::80/udp", []PortMapping{pm("::1", 0, 80, "udp")}, ""},
		{"[::1]:80", []PortMapping{pm("::1", 0, 80, "tcp")}, ""},
		{"[0:0::1]:8080:80", []PortMapping{pm("::1", 8080, 80, "tcp")}, ""},
		{"[::]:6443:6443", []PortMapping{pm("::", 6443, 6443, "tcp")}, ""},
		{"65535:1", []PortMapping{pm("", 65535, 1, "tcp")}, ""},
		{"8080-8082:80-82", []PortMapping{pm("", 8080, 80, "tcp"), pm("", 8081, 81, "tcp"), pm("", 8082, 82, "tcp")}, ""},
		{"80-81", []PortMapping{pm("", 0, 80, "tcp"), pm("", 0, 81, "tcp")}, ""},
		{"0.0.0.0:30000-30001:30000-30001/udp@agent:0:direct", []PortMapping{pm("0.0.0.0", 30000, 30000, "udp"), pm("0.0.0.0", 30001, 30001, "udp")}, "agent:0:direct"},
		// The seed's examples (thoughts.md).
		{"0.0.0.0:8080:8081/tcp@workers", []PortMapping{pm("0.0.0.0", 8080, 8081, "tcp")}, "agent:*"},
		{"80@workers[0]", []PortMapping{pm("", 0, 80, "tcp")}, "agent:0"},
		{"80@workers[0,2-3]", []PortMapping{pm("", 0, 80, "tcp")}, "agent:0,2-3"},
		{"80@k3d-test-worker-0", []PortMapping{pm("", 0, 80, "tcp")}, "k3d-test-worker-0"},
		{"80@k3d-test-master-0@workers[1-5]", []PortMapping{pm("", 0, 80, "tcp")}, "k3d-test-master-0;agent:1-5"},
		// k3d v5 docs.
		{"8080:80@agent:0", []PortMapping{pm("", 8080, 80, "tcp")}, "agent:0"},
		{"8082:30080@agent:0", []PortMapping{pm("", 8082, 30080, "tcp")}, "agent:0"},
		{"8080:80@server:0:direct", []PortMapping{pm("", 8080, 80, "tcp")}, "server:0:direct"},
	}
	for _, tt := range tests {
		got, err := ParsePort(tt.in)
		if err != nil {
			t.Errorf("ParsePort(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got.Mappings, tt.want) || nodefilter.Format(got.Filters) != tt.filters || got.Spec != tt.in {
			t.Errorf("ParsePort(%q) = %+v @%q; want %+v @%q", tt.in, got.Mappings, nodefilter.Format(got.Filters), tt.want, tt.filters)
		}
		for _, m := range got.Mappings {
			back, err := ParsePortMappings(m.String())
			if err != nil || len(back) != 1 || back[0] != m {
				t.Errorf("ParsePortMappings(%q) = %+v, %v; want %+v", m.String(), back, err, m)
			}
		}
	}
}

// Every malformed port says what is wrong and what to write; the texts are pinned.
func TestParsePortErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `port "": no port given: write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. 8080:80`},
		{"@server:0", `port "@server:0": no port given: write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. 8080:80`},
		{"8080:80@", `port "8080:80@": "8080:80@" ends with '@' but names no node: write a filter after it (e.g. @server:0, @agent:*, @loadbalancer or @all), or \@ for a literal '@'`},
		{"8080:80@workerz", `port "8080:80@workerz": node filter "workerz": unknown node group "workerz": write server, agent, loadbalancer or all (e.g. @server:0, @agent:*, @agent:0-2), the seed's workers[0,2-3] or masters, or a node's full name (e.g. @k3d-dev-agent-0); if the '@' belongs to the value, write it as \@`},
		{"8080:80@agent:0:fast", `port "8080:80@agent:0:fast": node filter "agent:0:fast": unknown suffix "fast": write :proxy or :direct (ports only)`},
		{"8080:80/sctp", `port "8080:80/sctp": protocol sctp is not supported (not every runtime k3d drives can publish it): write tcp or udp`},
		{"8080:80/http", `port "8080:80/http": unknown protocol "http": write tcp or udp`},
		{"8080:80/", `port "8080:80/": empty protocol after '/': write /tcp or /udp, or leave it out for tcp`},
		{"80/tcp/udp", `port "80/tcp/udp": container port "80/tcp" is not a number: write a number from 1 to 65535`},
		{"0", `port "0": container port 0 is not a port: ports are 1 to 65535`},
		{"8080:0", `port "8080:0": container port 0 is not a port: ports are 1 to 65535`},
		{"0:80", `port "0:80": host port 0 is not a port: leave the host port out for a random one (e.g. 80, or 127.0.0.1::80)`},
		{"65536", `port "65536": container port 65536 is out of range: ports are 1 to 65535`},
		{"70000:80", `port "70000:80": host port 70000 is out of range: ports are 1 to 65535`},
		{"99999999999999999999", `port "99999999999999999999": container port 99999999999999999999 is out of range: ports are 1 to 65535`},
		{"http", `port "http": container port "http" is not a number: write a number from 1 to 65535`},
		{"-80", `port "-80": empty container port in a range: write e.g. 8080-8082`},
		{"+80", `port "+80": container port "+80" is not a number: write a number from 1 to 65535`},
		{" 80", `port " 80": container port " 80" is not a number: write a number from 1 to 65535`},
		{"8080:", `port "8080:": empty container port: write a number from 1 to 65535`},
		{":80", `port ":80": empty host port before ':': write one (8080:80), or leave out the ':' for a random one (80)`},
		{"::80", `port "::80": empty host IP before ':': write an address (e.g. 127.0.0.1:8080:80) or leave it out (8080:80)`},
		{"localhost:8080:80", `port "localhost:8080:80": host IP "localhost" is not an IP address: write one such as 127.0.0.1, 0.0.0.0 or [::1]`},
		{"localhost:80", `port "localhost:80": host IP "localhost" is not an IP address: write one such as 127.0.0.1, 0.0.0.0 or [::1]`},
		{"300.1.1.1:8080:80", `port "300.1.1.1:8080:80": host IP "300.1.1.1" is not an IP address: write one such as 127.0.0.1, 0.0.0.0 or [::1]`},
		{"1.2.3:80", `port "1.2.3:80": host IP "1.2.3" is not an IP address`},
		{"::1:8080:80", `port "::1:8080:80": an IPv6 host IP goes in brackets: write [::1]:8080:80`},
		{"2001:db8::1:8080:80", `port "2001:db8::1:8080:80": an IPv6 host IP goes in brackets: write [2001:db8::1]:8080:80`},
		{"1:2:3:4", `port "1:2:3:4": too many ':': write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. 127.0.0.1:8080:80`},
		{"[::1:8080:80", `port "[::1:8080:80": '[' of the host IP is not closed: write e.g. [::1]:8080:80`},
		{"[::1]", `port "[::1]": missing ':' and container port after the host IP: write e.g. [::1]:8080:80`},
		{"[::1]8080:80", `port "[::1]8080:80": missing ':' and container port after the host IP: write e.g. [::1]:8080:80`},
		{"[]:8080:80", `port "[]:8080:80": empty host IP: write an address such as 127.0.0.1 or [::1], or leave it out to bind all addresses`},
		{"[fe80::1%eth0]:8080:80", `port "[fe80::1%eth0]:8080:80": host IP "fe80::1%eth0" has a zone, which runtimes cannot bind: write the address without %eth0`},
		{"[::1]:1:2:3", `port "[::1]:1:2:3": too many ':' after the host IP: write [HOST_IP]:HOST_PORT:CONTAINER_PORT, e.g. [::1]:8080:80`},
		{"[nope]:80", `port "[nope]:80": host IP "nope" is not an IP address`},
		{"8082-8080:80-82", `port "8082-8080:80-82": host port range 8082-8080 runs backwards: write 8080-8082`},
		{"8080-8082:80", `port "8080-8082:80": host ports 8080-8082 and container ports 80 differ in count: give ranges of the same length (e.g. 8080-8082:80-82), or no host port for random ones`},
		{"8080:80-82", `port "8080:80-82": host ports 8080 and container ports 80-82 differ in count`},
		{"8080-8081:80-82", `differ in count`},
		{"80-", `port "80-": empty container port in a range: write e.g. 8080-8082`},
		{"80-x", `port "80-x": container port "x" is not a number`},
		{"1-65535", `port "1-65535": port range 1-65535 has 65535 ports; k3d publishes at most 1000 per --port: split it or narrow it`},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d malformed ports pinned", len(tests))
	}
	for _, tt := range tests {
		_, err := ParsePort(tt.in)
		if err == nil {
			t.Errorf("ParsePort(%q) succeeded, want error %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePort(%q) error\n  %v\nwant\n  %s", tt.in, err, tt.want)
		}
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("ParsePort(%q) error spans lines", tt.in)
		}
	}
}
