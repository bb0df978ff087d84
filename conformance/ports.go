package conformance

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
)

// testPublishedPorts: a node's TCP and UDP ports are reachable from the host
// on fixed and runtime-chosen host ports, the chosen ones are reported by
// inspect, and a port bound to 127.0.0.1 is not reachable on another address
// of the machine.
func testPublishedPorts(t *testing.T, f *fixture) {
	// Hold the fixed ports until just before the node starts, so nothing
	// else on the machine takes them in between.
	tcpHold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free TCP port: %v", err)
	}
	defer tcpHold.Close()
	udpHold, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free UDP port: %v", err)
	}
	defer udpHold.Close()
	fixedTCP := uint16(tcpHold.Addr().(*net.TCPAddr).Port)
	fixedUDP := uint16(udpHold.LocalAddr().(*net.UDPAddr).Port)

	name := f.name("srv")
	f.createNode(backends.NodeSpec{
		Name: name,
		Cmd:  []string{"serve", "7000", "7001"},
		Ports: []backends.PortMapping{
			{HostIP: "127.0.0.1", HostPort: fixedTCP, ContainerPort: 7000, Protocol: "tcp"},
			{HostIP: "127.0.0.1", HostPort: fixedUDP, ContainerPort: 7000, Protocol: "udp"},
			{ContainerPort: 7001}, // TCP by default, any address, runtime's choice of port
			{ContainerPort: 7001, Protocol: "udp"},
		},
	})
	tcpHold.Close()
	udpHold.Close()
	f.start(name)
	n := f.waitRunning(name)

	// port finds a published port in what inspect reports. A port bound to
	// all addresses may be reported once per address family; the IPv4 (or
	// unspecified) one is what the host dials here.
	port := func(containerPort uint16, proto string, loopback bool) uint16 {
		t.Helper()
		var found *backends.PortMapping
		for i, p := range n.Ports {
			pp := p.Protocol
			if pp == "" {
				pp = "tcp"
			}
			if p.ContainerPort != containerPort || pp != proto || (p.HostIP == "127.0.0.1") != loopback {
				continue
			}
			if found == nil || p.HostIP == "" || p.HostIP == "0.0.0.0" {
				found = &n.Ports[i]
			}
		}
		if found == nil {
			t.Fatalf("node %s: inspect reports no %d/%s port (bound to 127.0.0.1: %t): %+v", name, containerPort, proto, loopback, n.Ports)
		}
		if found.HostPort == 0 {
			t.Fatalf("node %s: port %d/%s reported with host port 0: %+v", name, containerPort, proto, n.Ports)
		}
		return found.HostPort
	}
	if got := port(7000, "tcp", true); got != fixedTCP {
		t.Errorf("node %s: 7000/tcp on host port %d, want %d as requested", name, got, fixedTCP)
	}
	if got := port(7000, "udp", true); got != fixedUDP {
		t.Errorf("node %s: 7000/udp on host port %d, want %d as requested", name, got, fixedUDP)
	}
	randomTCP := port(7001, "tcp", false)
	randomUDP := port(7001, "udp", false)

	loop := "127.0.0.1"
	f.eventually("TCP echo on "+hostPort(loop, fixedTCP), 15*time.Second, func() (bool, string) { return tcpEcho(hostPort(loop, fixedTCP)) })
	f.eventually("UDP echo on "+hostPort(loop, fixedUDP), 15*time.Second, func() (bool, string) { return udpEcho(hostPort(loop, fixedUDP)) })
	f.eventually("TCP echo on "+hostPort(loop, randomTCP), 15*time.Second, func() (bool, string) { return tcpEcho(hostPort(loop, randomTCP)) })
	f.eventually("UDP echo on "+hostPort(loop, randomUDP), 15*time.Second, func() (bool, string) { return udpEcho(hostPort(loop, randomUDP)) })

	other := otherHostAddress()
	if other == "" {
		t.Logf("this machine has no non-loopback IPv4 address: cannot check that 127.0.0.1 bindings stay local")
		return
	}
	f.eventually("TCP echo on "+hostPort(other, randomTCP), 15*time.Second, func() (bool, string) { return tcpEcho(hostPort(other, randomTCP)) })
	if ok, state := tcpEcho(hostPort(other, fixedTCP)); ok {
		t.Errorf("port bound to 127.0.0.1 answers on %s too: %s", hostPort(other, fixedTCP), state)
	}
}

func hostPort(ip string, port uint16) string {
	return net.JoinHostPort(ip, strconv.Itoa(int(port)))
}

// otherHostAddress is a non-loopback IPv4 address of this machine.
func otherHostAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	return ""
}

// tcpEcho sends a line to the test program's echo server at addr and reports
// whether it came back.
func tcpEcho(addr string) (bool, string) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false, err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(c, "ping over tcp"); err != nil {
		return false, err.Error()
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return false, fmt.Sprintf("read: %v", err)
	}
	return line == "ping over tcp\n", fmt.Sprintf("reply %q", line)
}

// udpEcho sends one datagram to addr and reports whether it came back.
func udpEcho(addr string) (bool, string) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false, err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("ping over udp")); err != nil {
		return false, err.Error()
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return false, fmt.Sprintf("read: %v", err)
	}
	return string(buf[:n]) == "ping over udp", fmt.Sprintf("reply %q", buf[:n])
}
