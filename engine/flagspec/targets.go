package flagspec

import (
	"fmt"
	"strings"

	"github.com/k3d/k3d/engine/nodefilter"
)

// PortTargets says where a port is published.
type PortTargets struct {
	// LoadBalancer publishes the port when Proxied is not empty and forwards it to Proxied.
	LoadBalancer nodefilter.NodeRef
	Proxied      []nodefilter.NodeRef
	// Direct nodes publish the port themselves.
	Direct []nodefilter.NodeRef
}

// Targets resolves where the port goes in a cluster of nodes, following k3d v5:
//
//   - no filter: through the load balancer to every server and agent; without a load
//     balancer, directly on the lowest-numbered server;
//   - @loadbalancer (or the load balancer's name): through it to every server and agent;
//   - a filter without suffix: through the load balancer to the nodes it selects, or
//     directly on them when the cluster has no load balancer;
//   - :proxy forces the load balancer (an error without one), :direct publishes on the
//     selected nodes themselves.
//
// A fixed host port can be published directly on one node only (and not also on the load
// balancer), since two containers cannot bind the same host port; a random host port can.
func (p Port) Targets(nodes []nodefilter.NodeRef) (PortTargets, error) {
	fail := func(format string, args ...any) (PortTargets, error) {
		return PortTargets{}, fmt.Errorf("port %q: %s", p.Spec, fmt.Sprintf(format, args...))
	}
	lb, hasLB := loadBalancer(nodes)
	k3s := k3sNodes(nodes)
	var proxied, direct []nodefilter.NodeRef

	if len(p.Filters) == 0 {
		if hasLB {
			proxied = k3s
		} else if s, ok := firstServer(nodes); ok {
			direct = []nodefilter.NodeRef{s}
		} else {
			return fail("the cluster has no server to publish it on")
		}
	} else if _, err := nodefilter.Match(p.Filters, nodes); err != nil {
		return PortTargets{}, fmt.Errorf("port %q: %w", p.Spec, err)
	}

	for _, f := range p.Filters {
		matched, err := f.Match(nodes)
		if err != nil {
			return PortTargets{}, fmt.Errorf("port %q: %w", p.Spec, err)
		}
		if f.Group == nodefilter.GroupLoadBalancer || (f.Group == nodefilter.GroupNode && matched[0].Role == nodefilter.RoleLoadBalancer) {
			if f.Suffix == nodefilter.SuffixDirect {
				return fail("the load balancer only serves the ports it forwards, so %q cannot be :direct: write @loadbalancer, or @server:0:direct to publish on a server", f.String())
			}
			if !hasLB {
				return fail("the cluster has no load balancer: publish the port on a node instead, e.g. @server:0:direct")
			}
			proxied = append(proxied, k3s...)
			continue
		}
		matched = onlyK3s(matched)
		if len(matched) == 0 && f.Group == nodefilter.GroupNode {
			return fail("%s runs no k3s, so it cannot serve a port: name a server or agent", f.Name)
		}
		suffix := f.Suffix
		if suffix == nodefilter.SuffixNone {
			suffix = nodefilter.SuffixDirect
			if hasLB {
				suffix = nodefilter.SuffixProxy
			}
		}
		if suffix == nodefilter.SuffixProxy {
			if !hasLB {
				plain := f
				plain.Suffix = nodefilter.SuffixDirect
				return fail("%q forwards through the load balancer, but the cluster has none: write @%s", f.String(), plain.String())
			}
			proxied = append(proxied, matched...)
		} else {
			direct = append(direct, matched...)
		}
	}

	proxied, direct = inOrder(nodes, proxied), inOrder(nodes, direct)
	if len(proxied) == 0 && len(direct) == 0 {
		return fail("it selects no server or agent: name one, e.g. @server:0")
	}
	if fixed := p.fixedHostPort(); fixed != 0 {
		if len(direct) > 1 {
			return fail("host port %d can be published directly on one node only, but %d are selected (%s): drop :direct to forward through the load balancer, or leave the host port out for a random one per node",
				fixed, len(direct), nodeNames(direct))
		}
		if len(direct) == 1 && len(proxied) > 0 {
			return fail("host port %d cannot be published both on the load balancer and directly on %s: use two different host ports", fixed, direct[0].Name)
		}
	}
	t := PortTargets{Proxied: proxied, Direct: direct}
	if len(proxied) > 0 {
		t.LoadBalancer = lb
	}
	return t, nil
}

func (p Port) fixedHostPort() uint16 {
	for _, m := range p.Mappings {
		if m.HostPort != 0 {
			return m.HostPort
		}
	}
	return 0
}

// Targets resolves the nodes a volume is mounted into: its filters' nodes, or every server and agent.
func (v Volume) Targets(nodes []nodefilter.NodeRef) ([]nodefilter.NodeRef, error) {
	return resolve("volume", v.Spec, v.Filters, nodes, k3sDefault)
}

// FileTargets resolves the nodes a config file's files: entry is copied
// into: its filters' nodes, or every server and agent.
func FileTargets(source string, filters []nodefilter.Filter, nodes []nodefilter.NodeRef) ([]nodefilter.NodeRef, error) {
	return resolve("file", source, filters, nodes, k3sDefault)
}

// Targets resolves the nodes that get the variable: its filters' nodes, or every server and agent.
func (e Env) Targets(nodes []nodefilter.NodeRef) ([]nodefilter.NodeRef, error) {
	return resolve("env", e.Spec, e.Filters, nodes, k3sDefault)
}

// Targets resolves the nodes that get the label: its filters' nodes, or every node.
func (l Label) Targets(nodes []nodefilter.NodeRef) ([]nodefilter.NodeRef, error) {
	return resolve("label", l.Spec, l.Filters, nodes, func(n []nodefilter.NodeRef) ([]nodefilter.NodeRef, error) {
		if len(n) == 0 {
			return nil, fmt.Errorf("the cluster has no nodes")
		}
		return n, nil
	})
}

// Targets resolves the k3s nodes that get the argument. Without a filter that is the
// cluster's only k3s node; with several, a filter is required (k3d v5 does the same): a
// server-only flag such as --disable given to an agent makes that agent's k3s exit.
// `@all` means every server and agent; naming the load balancer is an error.
func (a K3sArg) Targets(nodes []nodefilter.NodeRef) ([]nodefilter.NodeRef, error) {
	if len(a.Filters) == 0 {
		k3s := k3sNodes(nodes)
		switch len(k3s) {
		case 0:
			return nil, fmt.Errorf("k3s arg %q: the cluster has no servers or agents", a.Spec)
		case 1:
			return k3s, nil
		}
		ex := func(chain string) string { return nodefilter.Join(a.Arg, nodefilter.MustParse(chain)) }
		return nil, fmt.Errorf("k3s arg %q: the cluster has %d k3s nodes, so say which get it: write %s (every server), %s or %s",
			a.Spec, len(k3s), ex("server:*"), ex("agent:*"), ex("all"))
	}
	for _, f := range a.Filters {
		if f.Group == nodefilter.GroupLoadBalancer {
			return nil, fmt.Errorf("k3s arg %q: the load balancer does not run k3s: name servers or agents, e.g. @server:*", a.Spec)
		}
	}
	matched, err := nodefilter.Match(a.Filters, nodes)
	if err != nil {
		return nil, fmt.Errorf("k3s arg %q: %w", a.Spec, err)
	}
	for _, n := range matched {
		if !isK3s(n) && namedIn(a.Filters, n.Name) {
			return nil, fmt.Errorf("k3s arg %q: %s does not run k3s: name servers or agents, e.g. @server:*", a.Spec, n.Name)
		}
	}
	k3s := onlyK3s(matched)
	if len(k3s) == 0 {
		return nil, fmt.Errorf("k3s arg %q: it selects no server or agent: name one, e.g. @server:*", a.Spec)
	}
	return k3s, nil
}

// resolve applies filters, or def when there are none, and names the flag in errors.
func resolve(what, spec string, filters []nodefilter.Filter, nodes []nodefilter.NodeRef,
	def func([]nodefilter.NodeRef) ([]nodefilter.NodeRef, error)) ([]nodefilter.NodeRef, error) {
	var out []nodefilter.NodeRef
	var err error
	if len(filters) == 0 {
		out, err = def(nodes)
	} else {
		out, err = nodefilter.Match(filters, nodes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", what, spec, err)
	}
	return out, nil
}

func k3sDefault(nodes []nodefilter.NodeRef) ([]nodefilter.NodeRef, error) {
	k3s := k3sNodes(nodes)
	if len(k3s) == 0 {
		return nil, fmt.Errorf("the cluster has no servers or agents")
	}
	return k3s, nil
}

func isK3s(n nodefilter.NodeRef) bool {
	return n.Role == nodefilter.RoleServer || n.Role == nodefilter.RoleAgent
}

func k3sNodes(nodes []nodefilter.NodeRef) []nodefilter.NodeRef { return onlyK3s(nodes) }

func onlyK3s(nodes []nodefilter.NodeRef) []nodefilter.NodeRef {
	var out []nodefilter.NodeRef
	for _, n := range nodes {
		if isK3s(n) {
			out = append(out, n)
		}
	}
	return out
}

func loadBalancer(nodes []nodefilter.NodeRef) (nodefilter.NodeRef, bool) {
	for _, n := range nodes {
		if n.Role == nodefilter.RoleLoadBalancer {
			return n, true
		}
	}
	return nodefilter.NodeRef{}, false
}

func firstServer(nodes []nodefilter.NodeRef) (nodefilter.NodeRef, bool) {
	var best nodefilter.NodeRef
	found := false
	for _, n := range nodes {
		if n.Role == nodefilter.RoleServer && (!found || n.Index < best.Index) {
			best, found = n, true
		}
	}
	return best, found
}

func namedIn(filters []nodefilter.Filter, name string) bool {
	for _, f := range filters {
		if f.Group == nodefilter.GroupNode && f.Name == name {
			return true
		}
	}
	return false
}

// inOrder returns the distinct nodes of picked in the order of nodes.
func inOrder(nodes, picked []nodefilter.NodeRef) []nodefilter.NodeRef {
	want := map[string]bool{}
	for _, n := range picked {
		want[n.Name] = true
	}
	var out []nodefilter.NodeRef
	for _, n := range nodes {
		if want[n.Name] {
			out = append(out, n)
			delete(want, n.Name)
		}
	}
	return out
}

func nodeNames(nodes []nodefilter.NodeRef) string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return strings.Join(names, ", ")
}
