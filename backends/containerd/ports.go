package containerd

import (
	"fmt"
	"net"
	"strconv"

	"github.com/k3d/k3d/backends"
)

// Published ports are DNAT rules (CNI's portmap plugin), not listening
// sockets: the kernel knows nothing of them, so the backend itself keeps two
// nodes from publishing the same host port and picks the free ports asked
// for with HostPort 0, recording them in the node's metadata.

// portKey is one published host port.
type portKey struct {
	proto string
	ip    string // "" for all addresses
	port  uint16
}

func (a portKey) clashes(b portKey) bool {
	return a.proto == b.proto && a.port == b.port && (a.ip == "" || b.ip == "" || a.ip == b.ip)
}

func keyOf(p backends.PortMapping) portKey {
	ip := p.HostIP
	if ip == "0.0.0.0" {
		ip = ""
	}
	return portKey{proto: protocol(p.Protocol), ip: ip, port: p.HostPort}
}

// maxPortTries bounds the search for a free random port.
const maxPortTries = 200

// allocatePorts returns node's ports with every host port chosen. taken are
// the ports other nodes publish. Callers hold the state lock.
func allocatePorts(node string, want []backends.PortMapping, taken []backends.PortMapping) ([]backends.PortMapping, error) {
	var used []portKey
	for _, p := range taken {
		used = append(used, keyOf(p))
	}
	inUse := func(k portKey) string {
		for _, u := range used {
			if u.clashes(k) {
				return fmt.Sprintf("host port %s:%d/%s is published already", displayIP(u.ip), u.port, u.proto)
			}
		}
		return ""
	}
	out := make([]backends.PortMapping, 0, len(want))
	// Fixed ports first, so that a random pick never takes one of them.
	for _, p := range want {
		proto := protocol(p.Protocol)
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, invalid(nodeObj(node), "port %d: unknown protocol %q", p.ContainerPort, p.Protocol)
		}
		if p.ContainerPort == 0 {
			return nil, invalid(nodeObj(node), "port mapping without container port")
		}
		if p.HostIP != "" {
			ip := net.ParseIP(p.HostIP)
			if ip == nil || ip.To4() == nil {
				return nil, invalid(nodeObj(node), "port %d: host address %q is not an IPv4 address", p.ContainerPort, p.HostIP)
			}
		}
		if p.HostPort == 0 {
			continue
		}
		k := keyOf(p)
		if why := inUse(k); why != "" {
			return nil, backends.NewError(backends.ErrInUse, fmt.Sprintf("port %s:%d/%s", displayIP(k.ip), k.port, k.proto), why)
		}
		used = append(used, k)
	}
	for _, p := range want {
		p.Protocol = protocol(p.Protocol)
		if p.HostIP == "0.0.0.0" {
			p.HostIP = ""
		}
		if p.HostPort == 0 {
			port, err := freePort(p.Protocol, p.HostIP, func(port uint16) bool {
				k := keyOf(p)
				k.port = port
				return inUse(k) == ""
			})
			if err != nil {
				return nil, invalid(nodeObj(node), "port %d/%s: %v", p.ContainerPort, p.Protocol, err)
			}
			p.HostPort = port
			used = append(used, keyOf(p))
		}
		out = append(out, p)
	}
	return out, nil
}

func displayIP(ip string) string {
	if ip == "" {
		return "0.0.0.0"
	}
	return ip
}

// freePort asks the kernel for a port no socket on the host uses (binding
// port 0 the way a runtime's proxy would), until ok accepts one.
func freePort(proto, hostIP string, ok func(uint16) bool) (uint16, error) {
	addr := net.JoinHostPort(hostIP, "0")
	for range maxPortTries {
		var port int
		switch proto {
		case "udp":
			c, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return 0, err
			}
			port = c.LocalAddr().(*net.UDPAddr).Port
			c.Close()
		default:
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				return 0, err
			}
			port = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		if ok(uint16(port)) {
			return uint16(port), nil
		}
	}
	return 0, fmt.Errorf("no free port after %s tries", strconv.Itoa(maxPortTries))
}
