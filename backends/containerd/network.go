package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/k3d/k3d/backends"
)

// netConf is a network as stored: a CNI configuration list that the CNI
// library reads as it is, with k3d's own facts under a key CNI ignores.
type netConf struct {
	CNIVersion string           `json:"cniVersion"`
	Name       string           `json:"name"`
	Plugins    []map[string]any `json:"plugins"`
	K3d        netInfo          `json:"k3d"`
}

// netInfo is what the contract reports about a network.
type netInfo struct {
	ID      string            `json:"id"`
	Labels  map[string]string `json:"labels"`
	Subnet  string            `json:"subnet"`
	Gateway string            `json:"gateway"`
	Bridge  string            `json:"bridge"`
	Created time.Time         `json:"created"`
}

// cniVersion is the CNI spec version of the configurations written; Debian
// bookworm's plugins (1.1) speak it.
const cniVersion = "1.0.0"

// newNetConf is the CNI configuration of a k3d network: a Linux bridge with
// host-local addresses (kept under the data root), masquerading for traffic
// that leaves the host, portmap for published ports, and firewall, which
// accepts the network's traffic in the FORWARD chain (Docker sets its policy
// to DROP on hosts that run both).
func newNetConf(name string, info netInfo, ipamDir string) netConf {
	return netConf{
		CNIVersion: cniVersion,
		Name:       name,
		K3d:        info,
		Plugins: []map[string]any{
			{
				"type":        "bridge",
				"bridge":      info.Bridge,
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				// "ips" passes a node's static address to host-local.
				"capabilities": map[string]bool{"ips": true},
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": info.Subnet, "gateway": info.Gateway}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": ipamDir,
				},
			},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			{"type": "firewall"},
		},
	}
}

// CreateNetwork writes a network's CNI configuration. The bridge itself is
// made by the bridge plugin when the first node joins.
func (r *Runtime) CreateNetwork(ctx context.Context, spec backends.NetworkSpec) (backends.Network, error) {
	n, err := r.createNetwork(ctx, spec)
	if err != nil {
		return backends.Network{}, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	return n, nil
}

func (r *Runtime) createNetwork(ctx context.Context, spec backends.NetworkSpec) (backends.Network, error) {
	if err := checkName(networkObj(spec.Name), spec.Name); err != nil {
		return backends.Network{}, err
	}
	if _, err := r.client(ctx); err != nil {
		return backends.Network{}, err
	}
	unlock, err := r.lock(ctx, lockState)
	if err != nil {
		return backends.Network{}, err
	}
	defer unlock()
	if _, err := r.readNetwork(spec.Name); err == nil {
		return backends.Network{}, backends.AlreadyExists(networkObj(spec.Name))
	} else if !backends.IsNotFound(err) {
		return backends.Network{}, err
	}
	taken, err := r.allSubnets()
	if err != nil {
		return backends.Network{}, err
	}

	var subnet netip.Prefix
	if spec.Subnet != "" {
		subnet, err = parseSubnet(spec.Subnet)
		if err != nil {
			return backends.Network{}, invalid(networkObj(spec.Name), "%v", err)
		}
		for _, t := range taken {
			if t.Overlaps(subnet) {
				return backends.Network{}, invalid(networkObj(spec.Name), "subnet %s overlaps subnet %s of another network", subnet, t)
			}
		}
	} else {
		routes, err := hostRoutes()
		if err != nil {
			return backends.Network{}, fmt.Errorf("read the host's routes: %w", err)
		}
		subnet, err = pickSubnet(append(taken, routes...))
		if err != nil {
			return backends.Network{}, err
		}
	}
	id := randomHex(32)
	info := netInfo{
		ID:      id,
		Labels:  copyLabels(spec.Labels),
		Subnet:  subnet.String(),
		Gateway: subnet.Addr().Next().String(),
		Bridge:  bridgeName(id),
		Created: time.Now().UTC(),
	}
	data, err := json.MarshalIndent(newNetConf(spec.Name, info, r.root.ipamDir()), "", "  ")
	if err != nil {
		return backends.Network{}, err
	}
	if err := os.MkdirAll(r.root.networksDir(), 0o755); err != nil {
		return backends.Network{}, err
	}
	if err := writeFileAtomic(r.root.networkFile(spec.Name), data, 0o644); err != nil {
		return backends.Network{}, err
	}
	return networkFrom(spec.Name, info), nil
}

// bridgeName is the Linux bridge of a network: at most 15 characters, and
// named for k3d so that a user looking at `ip link` knows whose it is.
func bridgeName(id string) string { return "k3d" + id[:12] }

// parseSubnet checks a requested subnet: IPv4, with room for a gateway and
// nodes, written canonically.
func parseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("subnet %q: %w", s, err)
	}
	if !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("subnet %q: want an IPv4 subnet of at least 4 addresses", s)
	}
	return p.Masked(), nil
}

// InspectNetwork reads a network's configuration.
func (r *Runtime) InspectNetwork(ctx context.Context, name string) (backends.Network, error) {
	if err := ctx.Err(); err != nil {
		return backends.Network{}, err
	}
	c, err := r.readNetwork(name)
	if err != nil {
		return backends.Network{}, fmt.Errorf("inspect network %s: %w", name, err)
	}
	return networkFrom(c.Name, c.K3d), nil
}

// ListNetworks lists the networks whose labels match selector.
func (r *Runtime) ListNetworks(ctx context.Context, selector map[string]string) ([]backends.Network, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	confs, err := r.listNetConfs()
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	out := []backends.Network{}
	for _, c := range confs {
		if matches(c.K3d.Labels, selector) {
			out = append(out, networkFrom(c.Name, c.K3d))
		}
	}
	return out, nil
}

// DeleteNetwork removes a network no node is attached to, its address
// allocations and its bridge.
func (r *Runtime) DeleteNetwork(ctx context.Context, name string) error {
	if err := r.deleteNetwork(ctx, name); err != nil {
		return fmt.Errorf("delete network %s: %w", name, err)
	}
	return nil
}

func (r *Runtime) deleteNetwork(ctx context.Context, name string) error {
	if _, err := r.readNetwork(name); err != nil {
		return err
	}
	unlock, err := r.lock(ctx, lockState)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := r.readNetwork(name)
	if err != nil {
		return err
	}
	// Created and stopped nodes count: their network must be there when
	// they start again.
	nodes, err := r.listNodeRecords(ctx)
	if err != nil {
		return err
	}
	var members []string
	for _, n := range nodes {
		if n.meta.attachment(name) != nil {
			members = append(members, n.name)
		}
	}
	if len(members) > 0 {
		slices.Sort(members)
		return backends.NewError(backends.ErrInUse, networkObj(name), "nodes attached: "+strings.Join(members, ", "))
	}
	if err := os.Remove(r.root.networkFile(name)); err != nil {
		return err
	}
	if err := os.RemoveAll(r.root.path("ipam", name)); err != nil {
		return err
	}
	if l, err := netlink.LinkByName(c.K3d.Bridge); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			return fmt.Errorf("remove bridge %s: %w", c.K3d.Bridge, err)
		}
	}
	if r.lastNetwork() {
		if err := r.removeSharedChains(ctx); err != nil {
			fmt.Fprintf(r.report, "containerd: %v\n", err)
		}
	}
	return nil
}

// readNetwork reads one network's configuration.
func (r *Runtime) readNetwork(name string) (netConf, error) {
	if !validName.MatchString(name) {
		return netConf{}, backends.NotFound(networkObj(name))
	}
	data, err := os.ReadFile(r.root.networkFile(name))
	if errors.Is(err, fs.ErrNotExist) {
		return netConf{}, backends.NotFound(networkObj(name))
	}
	if err != nil {
		return netConf{}, err
	}
	var c netConf
	if err := json.Unmarshal(data, &c); err != nil {
		return netConf{}, fmt.Errorf("read %s: %w", r.root.networkFile(name), err)
	}
	return c, nil
}

// rawNetwork is a network's configuration as the CNI library reads it.
func (r *Runtime) rawNetwork(name string) ([]byte, error) {
	data, err := os.ReadFile(r.root.networkFile(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, backends.NotFound(networkObj(name))
	}
	return data, err
}

func (r *Runtime) listNetConfs() ([]netConf, error) {
	entries, err := os.ReadDir(r.root.networksDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []netConf
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".conflist")
		if !ok || e.IsDir() {
			continue
		}
		c, err := r.readNetwork(name)
		if backends.IsNotFound(err) {
			continue // deleted since the directory was read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// allSubnets lists the subnets of every network under the data root, in
// every namespace: their bridges share the host.
func (r *Runtime) allSubnets() ([]netip.Prefix, error) {
	files, err := filepath.Glob(r.root.shared("*", "networks", "*.conflist"))
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // deleted since the glob
		}
		var c netConf
		if json.Unmarshal(data, &c) != nil {
			continue
		}
		if p, err := netip.ParsePrefix(c.K3d.Subnet); err == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

func networkFrom(name string, info netInfo) backends.Network {
	return backends.Network{
		Name:    name,
		ID:      info.ID,
		Labels:  copyLabels(info.Labels),
		Subnet:  info.Subnet,
		Gateway: info.Gateway,
	}
}
