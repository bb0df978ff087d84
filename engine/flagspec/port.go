package flagspec

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/k3d/k3d/engine/nodefilter"
)

// maxPortsPerSpec bounds a range so that a typo like 1-65535 is an error, not 65535
// proxies and iptables rules.
const maxPortsPerSpec = 1000

// PortMapping publishes one container port on the host. It has the fields, in order, of
// backends.PortMapping, so backends.PortMapping(m) converts it.
type PortMapping struct {
	// HostIP to bind; empty means all addresses.
	HostIP string
	// HostPort 0 lets the runtime pick a free port.
	HostPort      uint16
	ContainerPort uint16
	// Protocol is "tcp" or "udp".
	Protocol string
}

// String renders the mapping as a port spec that ParsePort reads back.
func (m PortMapping) String() string {
	var b strings.Builder
	if m.HostIP != "" {
		if strings.Contains(m.HostIP, ":") {
			b.WriteString("[" + m.HostIP + "]")
		} else {
			b.WriteString(m.HostIP)
		}
		b.WriteByte(':')
	}
	if m.HostPort != 0 {
		b.WriteString(strconv.Itoa(int(m.HostPort)))
		b.WriteByte(':')
	} else if m.HostIP != "" {
		b.WriteByte(':') // ip::port keeps the host port random
	}
	b.WriteString(strconv.Itoa(int(m.ContainerPort)))
	b.WriteString("/" + m.Protocol)
	return b.String()
}

// Port is a parsed --port value: one mapping per port (a range gives several) and where to publish them.
type Port struct {
	Spec     string // as typed, for messages
	Mappings []PortMapping
	Filters  []nodefilter.Filter
}

// ParsePort parses `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL][@FILTERS]`.
//
//	80                      container port 80 on a random host port, tcp
//	8080:80                 host port 8080
//	127.0.0.1:8080:80/udp   bound to one address
//	127.0.0.1::80, 127.0.0.1:80   bound to one address, random host port
//	[::1]:8080:80           IPv6 host IPs go in brackets
//	8080-8082:80-82         ranges of equal length; 80-82 alone gives random host ports
//
// Suffixes :proxy and :direct are accepted on its filters (see Port.Targets).
func ParsePort(spec string) (Port, error) {
	value, filters, err := nodefilter.Split(spec)
	if err != nil {
		return Port{}, fmt.Errorf("port %q: %w", spec, err)
	}
	mappings, err := ParsePortMappings(value)
	if err != nil {
		return Port{}, fmt.Errorf("port %q: %w", spec, err)
	}
	return Port{Spec: spec, Mappings: mappings, Filters: filters}, nil
}

// ParsePortMappings parses a port spec without node filters (a config file's `port:`
// field, whose filters come separately).
func ParsePortMappings(s string) ([]PortMapping, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("no port given: write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. 8080:80")
	}
	if hasControl(s) {
		return nil, fmt.Errorf("the port spec contains a control character such as a line break: write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]")
	}
	protocol := "tcp"
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		protocol = strings.ToLower(s[i+1:])
		s = s[:i]
		switch protocol {
		case "tcp", "udp":
		case "":
			return nil, fmt.Errorf("empty protocol after '/': write /tcp or /udp, or leave it out for tcp")
		case "sctp":
			return nil, fmt.Errorf("protocol sctp is not supported (not every runtime k3d drives can publish it): write tcp or udp")
		default:
			return nil, fmt.Errorf("unknown protocol %q: write tcp or udp", protocol)
		}
	}

	var hostIP, hostPorts, containerPorts string
	var parts []string
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return nil, fmt.Errorf("'[' of the host IP is not closed: write e.g. [::1]:8080:80")
		}
		ip, err := parseHostIP(s[1:end])
		if err != nil {
			return nil, err
		}
		hostIP = ip
		rest := s[end+1:]
		if !strings.HasPrefix(rest, ":") {
			return nil, fmt.Errorf("missing ':' and container port after the host IP: write e.g. [%s]:8080:80", hostIP)
		}
		parts = strings.Split(rest[1:], ":")
		switch len(parts) {
		case 1:
			containerPorts = parts[0]
		case 2:
			hostPorts, containerPorts = parts[0], parts[1]
		default:
			return nil, fmt.Errorf("too many ':' after the host IP: write [HOST_IP]:HOST_PORT:CONTAINER_PORT, e.g. [%s]:8080:80", hostIP)
		}
	} else {
		parts = strings.Split(s, ":")
		switch len(parts) {
		case 1:
			containerPorts = parts[0]
		case 2:
			// 127.0.0.1:80 binds an address with a random host port; 8080:80 maps a port.
			if parts[0] == "" {
				return nil, fmt.Errorf("empty host port before ':': write one (8080:80), or leave out the ':' for a random one (80)")
			}
			if strings.Trim(parts[0], "0123456789-") != "" {
				ip, err := parseHostIP(parts[0])
				if err != nil {
					return nil, err
				}
				hostIP, containerPorts = ip, parts[1]
			} else {
				hostPorts, containerPorts = parts[0], parts[1]
			}
		case 3:
			if parts[0] == "" {
				return nil, fmt.Errorf("empty host IP before ':': write an address (e.g. 127.0.0.1:8080:80) or leave it out (8080:80)")
			}
			ip, err := parseHostIP(parts[0])
			if err != nil {
				return nil, err
			}
			hostIP, hostPorts, containerPorts = ip, parts[1], parts[2]
		default:
			if _, err := netip.ParseAddr(strings.Join(parts[:len(parts)-2], ":")); err == nil {
				return nil, fmt.Errorf("an IPv6 host IP goes in brackets: write [%s]:%s:%s", strings.Join(parts[:len(parts)-2], ":"), parts[len(parts)-2], parts[len(parts)-1])
			}
			return nil, fmt.Errorf("too many ':': write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. 127.0.0.1:8080:80")
		}
	}

	cLo, cHi, err := parsePortRange(containerPorts, "container port")
	if err != nil {
		return nil, err
	}
	var hLo, hHi uint16
	if hostPorts != "" {
		if hLo, hHi, err = parsePortRange(hostPorts, "host port"); err != nil {
			return nil, err
		}
		if hHi-hLo != cHi-cLo {
			return nil, fmt.Errorf("host ports %s and container ports %s differ in count: give ranges of the same length (e.g. 8080-8082:80-82), or no host port for random ones", hostPorts, containerPorts)
		}
	}
	if n := int(cHi) - int(cLo) + 1; n > maxPortsPerSpec {
		return nil, fmt.Errorf("port range %s has %d ports; k3d publishes at most %d per --port: split it or narrow it", containerPorts, n, maxPortsPerSpec)
	}
	var out []PortMapping
	for i := 0; i <= int(cHi-cLo); i++ {
		m := PortMapping{HostIP: hostIP, ContainerPort: cLo + uint16(i), Protocol: protocol}
		if hostPorts != "" {
			m.HostPort = hLo + uint16(i)
		}
		out = append(out, m)
	}
	return out, nil
}

// parseHostIP returns the address in canonical form.
func parseHostIP(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty host IP: write an address such as 127.0.0.1 or [::1], or leave it out to bind all addresses")
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("host IP %q is not an IP address: write one such as 127.0.0.1, 0.0.0.0 or [::1]", s)
	}
	if addr.Zone() != "" {
		return "", fmt.Errorf("host IP %q has a zone, which runtimes cannot bind: write the address without %%%s", s, addr.Zone())
	}
	return addr.String(), nil
}

// parsePortRange reads "80" or "80-82".
func parsePortRange(s, what string) (lo, hi uint16, err error) {
	if s == "" {
		return 0, 0, fmt.Errorf("empty %s: write a number from 1 to 65535", what)
	}
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(a, what); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parsePort(b, what); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("%s range %s runs backwards: write %d-%d", what, s, hi, lo)
	}
	return lo, hi, nil
}

func parsePort(s, what string) (uint16, error) {
	if s == "" {
		return 0, fmt.Errorf("empty %s in a range: write e.g. 8080-8082", what)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%s %q is not a number: write a number from 1 to 65535", what, s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n > 65535 {
		return 0, fmt.Errorf("%s %s is out of range: ports are 1 to 65535", what, s)
	}
	if n == 0 {
		if what == "host port" {
			return 0, fmt.Errorf("host port 0 is not a port: leave the host port out for a random one (e.g. 80, or 127.0.0.1::80)")
		}
		return 0, fmt.Errorf("%s 0 is not a port: ports are 1 to 65535", what)
	}
	return uint16(n), nil
}
