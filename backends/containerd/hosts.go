package containerd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Name resolution between nodes is a /etc/hosts per node, bind-mounted from
// the node's directory and rewritten in place whenever a node joins or leaves
// one of its networks: containerd has no DNS of its own, and k3s and the
// tools in a node all read /etc/hosts first.

const hostsHeader = `# Written by k3d: the nodes on this node's networks, kept in sync as nodes come and go.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
`

// renderHosts is self's /etc/hosts: its extra hosts, itself, then every
// node on each of its networks with that node's address there and its
// aliases on that network. A name is written once (the first wins), so that
// a resolver never sees two addresses for one node.
func renderHosts(self nodeRecord, all []nodeRecord) []byte {
	var b bytes.Buffer
	b.WriteString(hostsHeader)
	seen := map[string]bool{"localhost": true}
	line := func(ip string, names ...string) {
		var fresh []string
		for _, n := range names {
			k := strings.ToLower(n)
			if n == "" || seen[k] {
				continue
			}
			seen[k] = true
			fresh = append(fresh, n)
		}
		if ip != "" && len(fresh) > 0 {
			fmt.Fprintf(&b, "%s\t%s\n", ip, strings.Join(fresh, " "))
		}
	}
	for _, h := range self.meta.ExtraHosts {
		line(h.IP, h.Hostname)
	}
	if len(self.meta.Networks) > 0 {
		line(self.meta.Networks[0].IPv4, self.meta.Hostname, self.name)
	}
	peers := slices.Clone(all)
	slices.SortFunc(peers, func(a, b nodeRecord) int { return strings.Compare(a.name, b.name) })
	for _, own := range self.meta.Networks {
		for _, p := range peers {
			a := p.meta.attachment(own.Network)
			if a == nil || a.IPv4 == "" {
				continue
			}
			line(a.IPv4, append([]string{p.name, p.meta.Hostname}, a.Aliases...)...)
		}
	}
	return b.Bytes()
}

// syncHosts rewrites the hosts file of every node that shares a network
// with networks (or is named in nodes). Callers hold the state lock, so the
// records read here are the ones every node's file is made from.
func (r *Runtime) syncHosts(ctx context.Context, networks []string, nodes ...string) error {
	all, err := r.listNodeRecords(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range all {
		touched := slices.Contains(nodes, n.name)
		for _, a := range n.meta.Networks {
			touched = touched || slices.Contains(networks, a.Network)
		}
		if !touched {
			continue
		}
		path := filepath.Join(r.root.nodeDir(n.name), nodeHosts)
		if _, err := os.Stat(filepath.Dir(path)); errors.Is(err, fs.ErrNotExist) {
			continue // being created or deleted right now
		}
		if err := writeFileInPlace(path, renderHosts(n, all), 0o644); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("update /etc/hosts of node %s: %w", n.name, err))
		}
	}
	return errors.Join(errs...)
}

// resolvConf is the nodes' /etc/resolv.conf: the host's, without name
// servers on the host's loopback (a node cannot reach them; systemd-resolved
// keeps the real ones in its own file), and Google's public servers when
// none are left, as Docker does.
func resolvConf() []byte {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		data = nil
	}
	if hasLoopbackServer(data) {
		if alt, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			data = alt
		}
	}
	return filterResolvConf(data)
}

func hasLoopbackServer(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(f[1]); ip != nil && ip.IsLoopback() {
				return true
			}
		}
	}
	return false
}

func filterResolvConf(data []byte) []byte {
	var b bytes.Buffer
	servers := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := sc.Text()
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(f[1]); ip == nil || ip.IsLoopback() {
				continue
			}
			servers++
		}
		b.WriteString(l + "\n")
	}
	if servers == 0 {
		b.WriteString("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
	}
	return b.Bytes()
}
