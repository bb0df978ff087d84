package podman

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/blang/semver/v4"
	nettypes "github.com/containers/common/libnetwork/types"
	"github.com/containers/podman/v4/pkg/bindings"
	"github.com/containers/podman/v4/pkg/bindings/containers"
	"github.com/containers/podman/v4/pkg/bindings/network"

	"github.com/k3d/k3d/backends"
)

// CreateNetwork creates a bridge network with DNS: Podman's aardvark-dns then
// resolves every member by container name and alias, also after restarts.
// (Podman's default network has no DNS, which is why k3d never uses it.)
func (r *Runtime) CreateNetwork(ctx context.Context, spec backends.NetworkSpec) (backends.Network, error) {
	if spec.Name == "" {
		return backends.Network{}, backends.NewError(backends.ErrInvalid, "network", "no name given")
	}
	n := nettypes.Network{
		Name:       spec.Name,
		Driver:     "bridge",
		DNSEnabled: true,
		Labels:     copyLabels(spec.Labels),
	}
	if spec.Subnet != "" {
		sub, gw, err := subnetAndGateway(spec.Subnet)
		if err != nil {
			return backends.Network{}, backends.NewError(backends.ErrInvalid, networkObj(spec.Name), err.Error())
		}
		n.Subnets = []nettypes.Subnet{{Subnet: sub, Gateway: gw}}
	}
	actx, err := r.api(ctx)
	if err != nil {
		return backends.Network{}, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	created, err := network.Create(actx, &n)
	// Podman 4 picks a free subnet by listing the host's interfaces and
	// then looking each up; one removed in between (another network's
	// bridge going away) fails the create with "no such network interface".
	// The next try lists again.
	for try := 0; err != nil && try < 3 && strings.Contains(err.Error(), "no such network interface"); try++ {
		time.Sleep(100 * time.Millisecond)
		created, err = network.Create(actx, &n)
	}
	if err != nil {
		return backends.Network{}, fmt.Errorf("create network %s: %w", spec.Name, r.typed(err, networkObj(spec.Name), conflictIsExists))
	}
	return networkFrom(created), nil
}

// InspectNetwork finds a network by its exact name (the service would also
// accept an ID or ID prefix; the contract speaks names only).
func (r *Runtime) InspectNetwork(ctx context.Context, name string) (backends.Network, error) {
	n, err := r.inspectNetwork(ctx, name)
	if err != nil {
		return backends.Network{}, fmt.Errorf("inspect network %s: %w", name, err)
	}
	return networkFrom(n), nil
}

func (r *Runtime) inspectNetwork(ctx context.Context, name string) (nettypes.Network, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return nettypes.Network{}, err
	}
	n, err := network.Inspect(actx, name, nil)
	if err != nil {
		return n, r.typed(err, networkObj(name), conflictIsExists)
	}
	if n.Name != name {
		return n, backends.NotFound(networkObj(name))
	}
	return n, nil
}

// ListNetworks lists the networks whose labels match selector.
func (r *Runtime) ListNetworks(ctx context.Context, selector map[string]string) ([]backends.Network, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	list, err := network.List(actx, new(network.ListOptions).WithFilters(labelFilters(selector)))
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", r.typed(err, "networks", conflictIsExists))
	}
	out := make([]backends.Network, 0, len(list))
	for _, n := range list {
		if matches(n.Labels, selector) {
			out = append(out, networkFrom(n))
		}
	}
	return out, nil
}

// DeleteNetwork removes a network no node is attached to, running or not.
func (r *Runtime) DeleteNetwork(ctx context.Context, name string) error {
	if _, err := r.inspectNetwork(ctx, name); err != nil {
		return fmt.Errorf("delete network %s: %w", name, err)
	}
	actx, err := r.api(ctx)
	if err != nil {
		return fmt.Errorf("delete network %s: %w", name, err)
	}
	// Named in the error, so that a user sees what still holds it.
	members, err := containers.List(actx, new(containers.ListOptions).WithAll(true).WithFilters(map[string][]string{"network": {name}}))
	if err != nil {
		return fmt.Errorf("delete network %s: %w", name, r.typed(err, networkObj(name), conflictIsExists))
	}
	if len(members) > 0 {
		var names []string
		for _, m := range members {
			if len(m.Names) > 0 {
				names = append(names, m.Names[0])
			}
		}
		slices.Sort(names)
		return fmt.Errorf("delete network %s: %w", name, backends.NewError(backends.ErrInUse, networkObj(name), "nodes attached: "+strings.Join(names, ", ")))
	}
	if _, err := network.Remove(actx, name, nil); err != nil {
		return fmt.Errorf("delete network %s: %w", name, r.typed(err, networkObj(name), conflictIsInUse))
	}
	return nil
}

// ConnectNetwork attaches a node under aliases.
func (r *Runtime) ConnectNetwork(ctx context.Context, netName, node string, aliases []string) error {
	if _, err := r.inspectNetwork(ctx, netName); err != nil {
		return fmt.Errorf("connect node %s to network %s: %w", node, netName, err)
	}
	c, err := r.inspectContainer(ctx, node)
	if err != nil {
		return fmt.Errorf("connect node %s to network %s: %w", node, netName, err)
	}
	if attachedTo(c.NetworkSettings, netName) {
		return fmt.Errorf("connect node %s to network %s: %w", node, netName,
			backends.AlreadyExists(fmt.Sprintf("node %q on network %q", node, netName)))
	}
	actx, err := r.api(ctx)
	if err != nil {
		return fmt.Errorf("connect node %s to network %s: %w", node, netName, err)
	}
	if err := network.Connect(actx, netName, node, &nettypes.PerNetworkOptions{Aliases: aliases}); err != nil {
		return fmt.Errorf("connect node %s to network %s: %w", node, netName,
			r.typed(err, fmt.Sprintf("node %q on network %q", node, netName), conflictIsExists))
	}
	return nil
}

// DisconnectNetwork detaches a node.
func (r *Runtime) DisconnectNetwork(ctx context.Context, netName, node string) error {
	c, err := r.inspectContainer(ctx, node)
	if err != nil {
		return fmt.Errorf("disconnect node %s from network %s: %w", node, netName, err)
	}
	if !attachedTo(c.NetworkSettings, netName) {
		if _, err := r.inspectNetwork(ctx, netName); err != nil {
			return fmt.Errorf("disconnect node %s from network %s: %w", node, netName, err)
		}
		return fmt.Errorf("disconnect node %s from network %s: %w", node, netName,
			backends.NotFound(fmt.Sprintf("node %q on network %q", node, netName)))
	}
	actx, err := r.api(ctx)
	if err != nil {
		return fmt.Errorf("disconnect node %s from network %s: %w", node, netName, err)
	}
	restart := c.State != nil && c.State.Running && bindings.ServiceVersion(actx).LT(liveDisconnectSince)
	if restart {
		if err := r.StopNode(ctx, node, 10*time.Second); err != nil {
			return fmt.Errorf("disconnect node %s from network %s: %w", node, netName, err)
		}
	}
	if err := network.Disconnect(actx, netName, node, nil); err != nil {
		err = fmt.Errorf("disconnect node %s from network %s: %w", node, netName,
			r.typed(err, fmt.Sprintf("node %q on network %q", node, netName), conflictIsNotRun))
		if restart {
			_ = r.StartNode(ctx, node)
		}
		return err
	}
	if restart {
		if err := r.StartNode(ctx, node); err != nil {
			return fmt.Errorf("disconnect node %s from network %s: restart it: %w", node, netName, err)
		}
	}
	return nil
}

// liveDisconnectSince is the first service version trusted to disconnect a
// running container. Podman 4 (4.3.1 in Debian 12) leaves the container's
// entry in aardvark-dns's file for its other networks, so when the container
// is removed its name and address stay there; the next container given that
// address makes aardvark-dns exit, and DNS fails on every network of that
// user (rootless) or host. Stopping first tears every network down properly,
// so there k3d disconnects a stopped container and starts it again. 5.5
// reworked connect/disconnect (containers/podman#25793).
var liveDisconnectSince = semver.MustParse("5.5.0")

func networkFrom(n nettypes.Network) backends.Network {
	out := backends.Network{Name: n.Name, ID: n.ID, Labels: copyLabels(n.Labels)}
	for _, s := range n.Subnets {
		// The IPv4 subnet is the one k3d uses; a dual-stack network lists an
		// IPv6 one too, in no promised order.
		if s.Subnet.IP.To4() != nil && out.Subnet == "" {
			out.Subnet = s.Subnet.String()
			if s.Gateway != nil {
				out.Gateway = s.Gateway.String()
			}
		}
	}
	return out
}

// subnetAndGateway parses a subnet and picks its first host as the gateway,
// the address the service would pick itself; k3d points host.k3d.internal at it.
func subnetAndGateway(subnet string) (nettypes.IPNet, net.IP, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		return nettypes.IPNet{}, nil, fmt.Errorf("subnet %q: %w", subnet, err)
	}
	if !p.Addr().Is4() || p.Bits() > 30 {
		return nettypes.IPNet{}, nil, fmt.Errorf("subnet %q: want an IPv4 subnet of at least 4 addresses", subnet)
	}
	sub, err := nettypes.ParseCIDR(p.Masked().String())
	if err != nil {
		return nettypes.IPNet{}, nil, fmt.Errorf("subnet %q: %w", subnet, err)
	}
	return sub, net.IP(p.Masked().Addr().Next().AsSlice()), nil
}
