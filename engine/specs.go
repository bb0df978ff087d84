package engine

import (
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/flagspec"
	"github.com/k3d/k3d/engine/nodefilter"
)

// resolveSpecs parses the user's port, volume, env, label and k3s-arg flags
// and applies each to the nodes its filter selects in the planned cluster.
func (p *clusterPlan) resolveSpecs(local bool, lookupEnv func(string) (string, bool)) error {
	if err := p.resolvePorts(local); err != nil {
		return err
	}
	for _, s := range p.opts.Volumes {
		v, err := flagspec.ParseVolume(s)
		if err != nil {
			return invalidf("%v", err)
		}
		if !v.Named && local {
			if _, err := os.Stat(v.Source); err != nil {
				return invalidf("volume %q: host path %s does not exist: create it first or fix the path", s, v.Source)
			}
		}
		targets, err := v.Targets(p.refs)
		if err != nil {
			return invalidf("%v", err)
		}
		m := backends.Mount{Type: backends.MountBind, Source: v.Source, Target: v.Dest, ReadOnly: v.ReadOnly}
		if v.Named {
			m.Type = backends.MountVolume
		}
		for _, t := range targets {
			if t.Role == nodefilter.RoleLoadBalancer {
				if onlyAll(v.Filters) {
					continue // @all means every node that can take one
				}
				return invalidf("volume %q: the load balancer takes no volumes: name servers or agents, e.g. @server:*", s)
			}
			x := p.extra(t.Name)
			x.mounts = append(x.mounts, m)
		}
	}
	for _, s := range p.opts.Env {
		ev, err := flagspec.ParseEnv(s, lookupEnv)
		if err != nil {
			return invalidf("%v", err)
		}
		targets, err := ev.Targets(p.refs)
		if err != nil {
			return invalidf("%v", err)
		}
		for _, t := range targets {
			if t.Role == nodefilter.RoleLoadBalancer {
				if onlyAll(ev.Filters) {
					continue // @all means every node that can take it, as in k3d
				}
				return invalidf("env %q: the load balancer takes no environment: name servers or agents, e.g. @agent:*", s)
			}
			x := p.extra(t.Name)
			x.env = append(x.env, ev.String())
		}
	}
	for _, s := range p.opts.Labels {
		l, err := flagspec.ParseLabel(s)
		if err != nil {
			return invalidf("%v", err)
		}
		if l.Key == LabelApp || strings.HasPrefix(l.Key, "k3d.") {
			return invalidf("label %q: keys app and k3d.* are k3d's own, which it needs to find the cluster again: choose another key", s)
		}
		targets, err := l.Targets(p.refs)
		if err != nil {
			return invalidf("%v", err)
		}
		for _, t := range targets {
			p.extra(t.Name).labels[l.Key] = l.Value
		}
	}
	for _, f := range p.opts.Files {
		if err := p.resolveFile(f); err != nil {
			return err
		}
	}
	for _, s := range p.opts.K3sArgs {
		a, err := flagspec.ParseK3sArg(s)
		if err != nil {
			return invalidf("%v", err)
		}
		targets, err := a.Targets(p.refs)
		if err != nil {
			return invalidf("%v", err)
		}
		for _, t := range targets {
			x := p.extra(t.Name)
			x.args = append(x.args, a.Arg)
		}
	}
	return nil
}

// resolvePorts places each --port on the load balancer or on nodes, and
// checks that no fixed host port is asked for twice or is taken already.
func (p *clusterPlan) resolvePorts(local bool) error {
	type hostKey struct {
		ip    string
		port  uint16
		proto string
	}
	used := map[hostKey]string{}
	claim := func(m backends.PortMapping, spec string) error {
		if m.HostPort == 0 {
			return nil
		}
		k := hostKey{m.HostIP, m.HostPort, m.Protocol}
		if prev, ok := used[k]; ok {
			return invalidf("port %q: host port %d/%s is also asked for by %q: choose another host port", spec, m.HostPort, m.Protocol, prev)
		}
		used[k] = spec
		if local {
			if err := portFree(m); err != nil {
				return invalidf("port %q: host port %s:%d/%s is not available (%v): choose another host port", spec, hostOrAll(m.HostIP), m.HostPort, m.Protocol, unwrapOpError(err))
			}
		}
		return nil
	}
	// The API port is taken by the plan itself.
	used[hostKey{p.api.hostIP, p.api.port, "tcp"}] = "--api-port"
	for _, s := range p.opts.Ports {
		port, err := flagspec.ParsePort(s)
		if err != nil {
			return invalidf("%v", err)
		}
		t, err := port.Targets(p.refs)
		if err != nil {
			return invalidf("%v", err)
		}
		for _, fm := range port.Mappings {
			m := backends.PortMapping(fm)
			if len(t.Proxied) > 0 {
				if err := claim(m, s); err != nil {
					return err
				}
				if err := p.addLBListener(m.ContainerPort, m.Protocol, upstreamsFor(t.Proxied, m.ContainerPort)); err != nil {
					return invalidf("port %q: %v", s, err)
				}
				// The load balancer listens on the container port and
				// publishes it at the host port asked for.
				p.lbPorts = append(p.lbPorts, m)
			}
			for _, d := range t.Direct {
				if err := claim(m, s); err != nil {
					return err
				}
				x := p.extra(d.Name)
				x.ports = append(x.ports, m)
			}
		}
	}
	return nil
}

// portFree checks that a host port can be bound now.
func portFree(m backends.PortMapping) error {
	addr := net.JoinHostPort(m.HostIP, strconv.Itoa(int(m.HostPort)))
	if m.Protocol == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

func hostOrAll(ip string) string {
	if ip == "" {
		return "0.0.0.0"
	}
	return ip
}

// k3sArgsFor maps the seed's --k3s-server-arg / --k3s-agent-arg to --k3s-arg
// values with the matching filter.
func K3sArgsFor(role Role, args []string) []string {
	group := "server:*"
	if role == RoleAgent {
		group = "agent:*"
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = nodefilter.Join(a, nodefilter.MustParse(group))
	}
	return out
}

// onlyAll reports whether the load balancer was selected only through @all,
// not named: then it is left out of what it cannot take.
func onlyAll(filters []nodefilter.Filter) bool {
	all := false
	for _, f := range filters {
		switch f.Group {
		case nodefilter.GroupAll:
			all = true
		case nodefilter.GroupLoadBalancer, nodefilter.GroupNode:
			return false
		}
	}
	return all
}

// k3sPaths are k3d v5's shortcuts for a file's destination.
var k3sPaths = map[string]string{
	"k3s-storage":          "/var/lib/rancher/k3s/storage",
	"k3s-manifests":        "/var/lib/rancher/k3s/server/manifests",
	"k3s-manifests-custom": "/var/lib/rancher/k3s/server/manifests/custom",
	"k3s-containerd":       "/var/lib/rancher/k3s/agent/etc/containerd/config.toml",
	"k3s-containerd-tmpl":  "/var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl",
	"k3s-registry-config":  "/etc/rancher/k3s/registries.yaml",
	"k3s-config":           "/etc/rancher/k3s/config.yaml",
}

// fileDestination resolves a destination shortcut ("k3s-manifests/app.yaml").
func fileDestination(dest string) (string, bool) {
	head, rest, _ := strings.Cut(dest, "/")
	if p, ok := k3sPaths[head]; ok {
		if rest != "" {
			return p + "/" + rest, true
		}
		return p, true
	}
	return dest, strings.HasPrefix(dest, "/")
}

// resolveFile reads a host file now, so that a missing one fails the plan,
// and gives it to the nodes its filters select (default: servers and agents).
func (p *clusterPlan) resolveFile(f File) error {
	dest, ok := fileDestination(f.Destination)
	if !ok {
		return invalidf("file %s: destination %q is neither an absolute path nor one of k3d's shortcuts (k3s-manifests, k3s-manifests-custom, k3s-config, k3s-registry-config, k3s-storage, k3s-containerd, k3s-containerd-tmpl)", f.Source, f.Destination)
	}
	data, err := os.ReadFile(f.Source)
	if err != nil {
		return invalidf("file %s: %v", f.Source, unwrapPathErr(err))
	}
	var filters []nodefilter.Filter
	if f.Filters != "" {
		if filters, err = nodefilter.Parse(f.Filters); err != nil {
			return invalidf("file %s: %v", f.Source, err)
		}
	}
	targets, err := flagspec.FileTargets(f.Source, filters, p.refs)
	if err != nil {
		return invalidf("%v", err)
	}
	for _, t := range targets {
		if t.Role == nodefilter.RoleLoadBalancer {
			if onlyAll(filters) {
				continue
			}
			return invalidf("file %s: the load balancer takes no files: name servers or agents, e.g. server:*", f.Source)
		}
		x := p.extra(t.Name)
		x.files = append(x.files, nodeFile{path: dest, data: data, mode: 0o644})
	}
	return nil
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
