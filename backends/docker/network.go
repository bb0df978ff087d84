package docker

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/k3d/k3d/backends"
)

// CreateNetwork creates a user-defined bridge network: unlike the default
// bridge, it gives its members DNS by container name and alias.
func (r *Runtime) CreateNetwork(ctx context.Context, spec backends.NetworkSpec) (backends.Network, error) {
	if spec.Name == "" {
		return backends.Network{}, backends.NewError(backends.ErrInvalid, "network", "no name given")
	}
	opts := network.CreateOptions{
		Driver: "bridge",
		Labels: copyLabels(spec.Labels),
	}
	if spec.Subnet != "" {
		gw, err := firstHost(spec.Subnet)
		if err != nil {
			return backends.Network{}, backends.NewError(backends.ErrInvalid, networkObj(spec.Name), err.Error())
		}
		// The gateway is the address the default IPAM would pick, given
		// explicitly because the daemon reports only a given one (k3d points
		// host.k3d.internal at it).
		opts.IPAM = &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: spec.Subnet, Gateway: gw}}}
	}
	// Docker 20.10 (API < 1.44) allows two networks of one name unless asked
	// to check; the client asks for us on those versions, newer daemons
	// always check.
	// A name clash is a Conflict; an overlapping subnet is Forbidden, which
	// is a bad request, not a clash.
	if _, err := r.cli.NetworkCreate(ctx, spec.Name, opts); err != nil {
		return backends.Network{}, fmt.Errorf("create network %s: %w", spec.Name, r.typed(err, networkObj(spec.Name), conflictIsExists))
	}
	n, err := r.InspectNetwork(ctx, spec.Name)
	if err != nil {
		return backends.Network{}, fmt.Errorf("create network %s: %w", spec.Name, err)
	}
	return n, nil
}

// InspectNetwork finds a network by its exact name (the daemon would also
// accept an ID or ID prefix; the contract speaks names only).
func (r *Runtime) InspectNetwork(ctx context.Context, name string) (backends.Network, error) {
	res, err := r.cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if err == nil && res.Name != name {
		return backends.Network{}, backends.NotFound(networkObj(name))
	}
	if err != nil {
		return backends.Network{}, fmt.Errorf("inspect network %s: %w", name, r.typed(err, networkObj(name), conflictIsExists))
	}
	return networkFrom(res), nil
}

// ListNetworks lists the networks whose labels match selector.
func (r *Runtime) ListNetworks(ctx context.Context, selector map[string]string) ([]backends.Network, error) {
	res, err := r.cli.NetworkList(ctx, network.ListOptions{Filters: labelFilter(selector)})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", r.typed(err, "networks", conflictIsExists))
	}
	out := make([]backends.Network, 0, len(res))
	for _, n := range res {
		out = append(out, networkFrom(n))
	}
	return out, nil
}

// DeleteNetwork removes a network that has no nodes attached.
func (r *Runtime) DeleteNetwork(ctx context.Context, name string) error {
	// Check the name first: NetworkRemove accepts ID prefixes too.
	if _, err := r.InspectNetwork(ctx, name); err != nil {
		return fmt.Errorf("delete network %s: %w", name, err)
	}
	// The daemon counts only running members: it would remove a network
	// that created or stopped nodes are configured with, and they could not
	// start again.
	members, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("network", name))})
	if err != nil {
		return fmt.Errorf("delete network %s: %w", name, r.typed(err, networkObj(name), conflictIsExists))
	}
	if len(members) > 0 {
		var names []string
		for _, m := range members {
			names = append(names, strings.TrimPrefix(firstOr(m.Names), "/"))
		}
		return fmt.Errorf("delete network %s: %w", name, backends.NewError(backends.ErrInUse, networkObj(name), "nodes attached: "+strings.Join(names, ", ")))
	}
	// "has active endpoints" is Forbidden on Docker 20.10 and Conflict on newer
	// daemons: both mean nodes are still attached.
	if err := r.cli.NetworkRemove(ctx, name); err != nil {
		return fmt.Errorf("delete network %s: %w", name, r.typed(err, networkObj(name), conflictIsInUse))
	}
	return nil
}

// ConnectNetwork attaches a node under aliases.
func (r *Runtime) ConnectNetwork(ctx context.Context, netName, node string, aliases []string) error {
	// For a node that is not running the daemon checks nothing: it records
	// an attachment to a missing network, or replaces an existing one. Look
	// first.
	if _, err := r.InspectNetwork(ctx, netName); err != nil {
		return fmt.Errorf("connect node %s to network %s: %w", node, netName, err)
	}
	if c, err := r.inspectContainer(ctx, node); err != nil {
		return fmt.Errorf("connect node %s to network %s: %w", node, netName, err)
	} else if c.NetworkSettings != nil && c.NetworkSettings.Networks[netName] != nil {
		return fmt.Errorf("connect node %s to network %s: %w", node, netName,
			backends.AlreadyExists(fmt.Sprintf("node %q on network %q", node, netName)))
	}
	err := r.cli.NetworkConnect(ctx, netName, node, &network.EndpointSettings{Aliases: aliases})
	if err != nil {
		return fmt.Errorf("connect node %s to network %s: %w", node, netName, r.attachErr(ctx, err, netName, node, forbiddenIsExists))
	}
	return nil
}

// DisconnectNetwork detaches a node.
func (r *Runtime) DisconnectNetwork(ctx context.Context, netName, node string) error {
	// The daemon checks attachment only for running nodes (and answers
	// Forbidden on 20.10, NotFound later); look first.
	c, err := r.inspectContainer(ctx, node)
	if err != nil {
		return fmt.Errorf("disconnect node %s from network %s: %w", node, netName, err)
	}
	if c.NetworkSettings == nil || c.NetworkSettings.Networks[netName] == nil {
		if _, err := r.InspectNetwork(ctx, netName); err != nil {
			return fmt.Errorf("disconnect node %s from network %s: %w", node, netName, err)
		}
		return fmt.Errorf("disconnect node %s from network %s: %w", node, netName,
			backends.NotFound(fmt.Sprintf("node %q on network %q", node, netName)))
	}
	if err := r.cli.NetworkDisconnect(ctx, netName, node, false); err != nil {
		return fmt.Errorf("disconnect node %s from network %s: %w", node, netName, r.attachErr(ctx, err, netName, node, forbiddenIsMissing))
	}
	return nil
}

// attachErr names the right object in a connect/disconnect error: the daemon
// says "not found" alike for a missing node and a missing network.
func (r *Runtime) attachErr(ctx context.Context, err error, netName, node string, as conflictAs) error {
	obj := fmt.Sprintf("node %q on network %q", node, netName)
	typed := r.typed(err, obj, as)
	if !backends.IsNotFound(typed) {
		return typed
	}
	if _, ierr := r.cli.ContainerInspect(ctx, node); ierr != nil {
		return r.typed(ierr, nodeObj(node), conflictIsExists)
	}
	if _, ierr := r.cli.NetworkInspect(ctx, netName, network.InspectOptions{}); ierr != nil {
		return r.typed(ierr, networkObj(netName), conflictIsExists)
	}
	return typed
}

func networkFrom(n network.Inspect) backends.Network {
	out := backends.Network{Name: n.Name, ID: n.ID, Labels: copyLabels(n.Labels)}
	for _, c := range n.IPAM.Config {
		// The IPv4 subnet is the one k3d uses; a dual-stack network lists an
		// IPv6 one too, in no promised order.
		if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() && out.Subnet == "" {
			out.Subnet, out.Gateway = c.Subnet, c.Gateway
		}
	}
	return out
}

// firstHost is a subnet's first host address (the conventional gateway).
func firstHost(subnet string) (string, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		return "", fmt.Errorf("subnet %q: %w", subnet, err)
	}
	if !p.Addr().Is4() || p.Bits() > 30 {
		return "", fmt.Errorf("subnet %q: want an IPv4 subnet of at least 4 addresses", subnet)
	}
	return p.Masked().Addr().Next().String(), nil
}
