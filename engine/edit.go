package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/flagspec"
	"github.com/k3d/k3d/engine/loadbalancer"
	"github.com/k3d/k3d/engine/nodefilter"
)

// EditClusterOptions change a running cluster (k3d v5's cluster edit).
type EditClusterOptions struct {
	// PortAdd are port specs as --port takes them, published on the load
	// balancer ([HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO][@FILTER]).
	PortAdd []string
	// PortDelete are published ports to remove: [HOST_IP:]HOST_PORT[/PROTO]
	// or the spec they were added with.
	PortDelete []string
}

// EditCluster changes the load balancer's published ports. A container's
// published ports are fixed at its creation, so the load balancer is made
// again with the new set and its proxy configuration; the k3s nodes, and
// what runs on them, are not touched. If the new load balancer cannot be
// made, the old one is made again as it was.
func (e *Engine) EditCluster(ctx context.Context, name string, o EditClusterOptions) error {
	if len(o.PortAdd) == 0 && len(o.PortDelete) == 0 {
		return invalidf("cluster edit %s: nothing to change: give --port-add or --port-delete", name)
	}
	c, err := e.GetCluster(ctx, name)
	if err != nil {
		return err
	}
	lbNode, ok := c.LoadBalancer()
	if !ok {
		return invalidf("cluster %s has no load balancer (made with --no-lb): its ports cannot be edited", name)
	}
	old, err := e.rt.InspectNode(ctx, lbNode.Name)
	if err != nil {
		return wrapf(err, "inspect node %s", lbNode.Name)
	}
	raw, err := e.readFile(ctx, old.Name, loadbalancer.ConfigDir+"/"+loadbalancer.ConfigFile)
	if err != nil {
		return wrapf(err, "read the load balancer's configuration from %s", old.Name)
	}
	oldCfg, err := loadbalancer.Parse(raw)
	if err != nil {
		return fmt.Errorf("read the load balancer's configuration from %s: %w", old.Name, err)
	}
	ports, cfg, err := editedPorts(c, old.Ports, oldCfg, o)
	if err != nil {
		return err
	}
	spec := lbSpecFrom(old, lbCmd())
	spec.Ports = ports
	return e.step("Recreating the load balancer "+old.Name+" with the new ports", func() error {
		return e.replaceLB(ctx, spec, cfg, lbSpecFrom(old, lbCmd()), oldCfg)
	})
}

// editedPorts is the load balancer's port list and proxy configuration
// after o, checked against each other and against the host.
func editedPorts(c Cluster, cur []backends.PortMapping, cfg loadbalancer.Config, o EditClusterOptions) ([]backends.PortMapping, loadbalancer.Config, error) {
	ports := slices.Clone(cur)
	cfg.Listeners = slices.Clone(cfg.Listeners)
	for _, spec := range o.PortDelete {
		m, err := deleteTarget(spec)
		if err != nil {
			return nil, cfg, err
		}
		i := slices.IndexFunc(ports, func(p backends.PortMapping) bool {
			return p.HostPort == m.HostPort && p.Protocol == m.Protocol && (m.HostIP == "" || m.HostIP == p.HostIP)
		})
		if i < 0 {
			return nil, cfg, notFoundf("--port-delete %s: the load balancer publishes no host port %d/%s (it publishes %s)", spec, m.HostPort, m.Protocol, describePorts(ports))
		}
		if ports[i].ContainerPort == apiContainerPort && ports[i].Protocol == "tcp" {
			return nil, cfg, invalidf("--port-delete %s: that is the Kubernetes API's port", spec)
		}
		gone := ports[i]
		ports = slices.Delete(ports, i, i+1)
		if !slices.ContainsFunc(ports, func(p backends.PortMapping) bool {
			return p.ContainerPort == gone.ContainerPort && p.Protocol == gone.Protocol
		}) {
			cfg.Listeners = slices.DeleteFunc(cfg.Listeners, func(l loadbalancer.Listener) bool {
				return l.Port == gone.ContainerPort && l.Protocol == gone.Protocol
			})
		}
	}
	var refs []nodefilter.NodeRef
	for _, n := range c.Nodes {
		if n.Role.k3sNode() || n.Role == RoleLoadBalancer {
			refs = append(refs, nodefilter.NodeRef{Name: n.Name, Role: string(n.Role), Index: nodeIndex(n.Name)})
		}
	}
	for _, spec := range o.PortAdd {
		p, err := flagspec.ParsePort(spec)
		if err != nil {
			return nil, cfg, invalidf("--port-add: %v", err)
		}
		t, err := p.Targets(refs)
		if err != nil {
			return nil, cfg, invalidf("--port-add: %v", err)
		}
		if len(t.Direct) > 0 || len(t.Proxied) == 0 {
			return nil, cfg, invalidf("--port-add %s: only the load balancer's ports can be edited: give @loadbalancer or servers and agents behind it", spec)
		}
		for _, fm := range p.Mappings {
			m := backends.PortMapping(fm)
			if cfg.Listeners, err = withListener(cfg.Listeners, m.ContainerPort, m.Protocol, upstreamsFor(t.Proxied, m.ContainerPort)); err != nil {
				return nil, cfg, invalidf("--port-add %s: %v", spec, err)
			}
			if m.HostPort != 0 {
				if slices.ContainsFunc(ports, func(p backends.PortMapping) bool { return p.HostPort == m.HostPort && p.Protocol == m.Protocol }) {
					return nil, cfg, existsf("--port-add %s: the load balancer publishes host port %d/%s already", spec, m.HostPort, m.Protocol)
				}
				if err := portFree(m); err != nil {
					return nil, cfg, invalidf("--port-add %s: host port %s:%d/%s is not available (%v): choose another host port", spec, hostOrAll(m.HostIP), m.HostPort, m.Protocol, unwrapOpError(err))
				}
			}
			ports = append(ports, m)
		}
	}
	return ports, cfg, nil
}

// deleteTarget reads --port-delete: [HOST_IP:]HOST_PORT[/PROTO], or a
// full port spec, of which the host side counts.
func deleteTarget(spec string) (backends.PortMapping, error) {
	if p, err := flagspec.ParsePort(spec); err == nil && len(p.Mappings) == 1 {
		m := backends.PortMapping(p.Mappings[0])
		if m.HostPort == 0 { // a bare number: the host port
			m.HostPort = m.ContainerPort
		}
		return m, nil
	}
	return backends.PortMapping{}, invalidf("--port-delete %q: give the host port to remove, [HOST_IP:]HOST_PORT[/PROTO], e.g. 8080 or 127.0.0.1:8080/tcp", spec)
}

func describePorts(ports []backends.PortMapping) string {
	var out []string
	for _, p := range ports {
		out = append(out, strconv.Itoa(int(p.HostPort))+"/"+p.Protocol)
	}
	if len(out) == 0 {
		return "none"
	}
	return fmt.Sprint(out)
}

// lbSpecFrom is the spec that makes the load balancer n again.
func lbSpecFrom(n backends.Node, cmd []string) backends.NodeSpec {
	s := backends.NodeSpec{
		Name: n.Name, Hostname: n.Hostname, Image: n.Image, Cmd: cmd,
		Labels: maps.Clone(n.Labels), Ports: slices.Clone(n.Ports),
		RestartPolicy: cmp.Or(n.RestartPolicy, backends.RestartUnlessStopped),
	}
	for _, a := range n.Networks {
		s.Networks = append(s.Networks, backends.NetworkAttachment{Network: a.Network, Aliases: a.Aliases})
	}
	return s
}

// replaceLB deletes the load balancer and makes it from spec and cfg; if
// that fails, it makes it again from prev and prevCfg.
func (e *Engine) replaceLB(ctx context.Context, spec backends.NodeSpec, cfg loadbalancer.Config, prev backends.NodeSpec, prevCfg loadbalancer.Config) error {
	if err := e.rt.DeleteNode(ctx, spec.Name); err != nil && !backends.IsNotFound(err) {
		return wrapf(err, "delete node %s", spec.Name)
	}
	err := e.makeLB(ctx, spec, cfg)
	if err == nil {
		return nil
	}
	_ = e.rt.DeleteNode(context.WithoutCancel(ctx), spec.Name)
	if rerr := e.makeLB(context.WithoutCancel(ctx), prev, prevCfg); rerr != nil {
		return fmt.Errorf("%w; restoring the old load balancer failed too: %v", err, rerr)
	}
	return fmt.Errorf("%w (the load balancer was restored with its old ports)", err)
}

func (e *Engine) makeLB(ctx context.Context, spec backends.NodeSpec, cfg loadbalancer.Config) error {
	if _, err := e.rt.CreateNode(ctx, spec); err != nil {
		return wrapf(err, "create node %s", spec.Name)
	}
	f, err := lbConfigFile(cfg)
	if err != nil {
		return err
	}
	if err := e.writeFiles(ctx, spec.Name, []nodeFile{f}); err != nil {
		return err
	}
	if err := e.rt.StartNode(ctx, spec.Name); err != nil {
		return wrapf(err, "start node %s", spec.Name)
	}
	return nil
}

// EditNode changes a node's published ports; as in k3d v5, only a
// cluster's load balancer can be edited.
func (e *Engine) EditNode(ctx context.Context, name string, o EditClusterOptions) error {
	name = ObjectName(name)
	n, err := e.rt.InspectNode(ctx, name)
	if err != nil {
		if backends.IsNotFound(err) {
			return notFoundf("node %s not found: list nodes with `k3d node list`", name)
		}
		return wrapf(err, "inspect node %s", name)
	}
	if Role(n.Labels[LabelRole]) != RoleLoadBalancer || n.Labels[LabelCluster] == "" {
		return invalidf("node %s is a %s: only a cluster's load balancer (k3d-CLUSTER-serverlb) can be edited", name, n.Labels[LabelRole])
	}
	return e.EditCluster(ctx, n.Labels[LabelCluster], o)
}
