package podman

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/containers/podman/v4/libpod/define"
	"github.com/containers/podman/v4/pkg/bindings/containers"
	"github.com/containers/podman/v4/pkg/domain/entities"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/fanout"
	"github.com/k3d/k3d/backends/internal/imagelabels"
)

// InspectNode reports a node by its exact name (the service would also
// accept an ID or ID prefix; the contract speaks names only).
func (r *Runtime) InspectNode(ctx context.Context, name string) (backends.Node, error) {
	c, err := r.inspectContainer(ctx, name)
	if err != nil {
		return backends.Node{}, fmt.Errorf("inspect node %s: %w", name, err)
	}
	return nodeFrom(c), nil
}

func (r *Runtime) inspectContainer(ctx context.Context, name string) (*define.InspectContainerData, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return nil, err
	}
	c, err := containers.Inspect(actx, name, nil)
	if err != nil {
		return nil, r.typed(err, nodeObj(name), conflictIsExists)
	}
	if c.Name != name {
		return nil, backends.NotFound(nodeObj(name))
	}
	return c, nil
}

// ListNodes lists the nodes whose labels match selector, running or not.
func (r *Runtime) ListNodes(ctx context.Context, selector map[string]string) ([]backends.Node, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	list, err := containers.List(actx, new(containers.ListOptions).WithAll(true).WithFilters(labelFilters(selector)))
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", r.typed(err, "nodes", conflictIsExists))
	}
	list = slices.DeleteFunc(list, func(c entities.ListContainer) bool {
		return c.IsInfra || !matches(imagelabels.Strip(c.Labels), selector)
	})
	// The list's summaries lack hostname, env, restart policy and more, so
	// each node is inspected.
	nodes, err := fanout.Map(actx, list, func(ctx context.Context, c entities.ListContainer) (backends.Node, bool, error) {
		full, err := containers.Inspect(ctx, c.ID, nil)
		if err != nil {
			if backends.IsNotFound(r.typed(err, "", conflictIsExists)) {
				return backends.Node{}, false, nil // removed since the list was made
			}
			return backends.Node{}, false, r.typed(err, nodeObj(firstOr(c.Names)), conflictIsExists)
		}
		return nodeFrom(full), true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return nodes, nil
}

func firstOr(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

func nodeFrom(c *define.InspectContainerData) backends.Node {
	n := backends.Node{
		ID:      c.ID,
		Name:    c.Name,
		Image:   c.ImageName,
		Created: c.Created,
		Cmd:     append([]string{c.Path}, c.Args...),
	}
	if c.Path == "" {
		n.Cmd = slices.Clone(c.Args)
	}
	n.State.RestartCount = int(c.RestartCount)
	if s := c.State; s != nil {
		n.State.Status = statusFrom(s.Status)
		n.State.Running = s.Running
		n.State.ExitCode = int(s.ExitCode)
		if !s.StartedAt.IsZero() && s.StartedAt.Year() > 1 {
			n.State.StartedAt = s.StartedAt
		}
		if !s.FinishedAt.IsZero() && s.FinishedAt.Year() > 1 {
			n.State.FinishedAt = s.FinishedAt
		}
	}
	if cfg := c.Config; cfg != nil {
		n.Hostname = cfg.Hostname
		n.Labels = imagelabels.Strip(cfg.Labels)
		n.Env = slices.Clone(cfg.Env)
		if n.Image == "" {
			n.Image = cfg.Image
		}
	}
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.GPUs = n.Labels[labelGPUs]
	delete(n.Labels, labelGPUs)
	n.RestartPolicy = backends.RestartNo
	if hc := c.HostConfig; hc != nil {
		n.Privileged = hc.Privileged
		if hc.RestartPolicy != nil && hc.RestartPolicy.Name != "" {
			n.RestartPolicy = backends.RestartPolicy(hc.RestartPolicy.Name)
		}
		n.MemoryLimit = hc.Memory
		n.Ports = portsFrom(hc.PortBindings)
		n.HostPID = hc.PidMode == "host"
		for _, u := range hc.Ulimits {
			// The service names them as the OCI spec does (RLIMIT_NOFILE).
			n.Ulimits = append(n.Ulimits, backends.Ulimit{Name: strings.ToLower(strings.TrimPrefix(u.Name, "RLIMIT_")), Soft: u.Soft, Hard: u.Hard})
		}
	}
	n.Mounts = backends.WithoutMeminfo(n.Name, mountsFrom(c))
	if ns := c.NetworkSettings; ns != nil {
		if n.State.Running && len(ns.Ports) > 0 {
			// Only a running node reports where its ports are published.
			n.Ports = portsFrom(ns.Ports)
		}
		short := c.ID
		if len(short) > 12 {
			short = short[:12]
		}
		for name, ep := range ns.Networks {
			if ep == nil {
				continue
			}
			nn := backends.NodeNetwork{Network: name, IPv4: ep.IPAddress}
			for _, a := range ep.Aliases {
				// Podman adds the short ID (and some versions the name) as
				// aliases; they resolve anyway and were not given.
				if a != short && a != c.ID && a != n.Name && a != n.Hostname {
					nn.Aliases = append(nn.Aliases, a)
				}
			}
			n.Networks = append(n.Networks, nn)
		}
		slices.SortFunc(n.Networks, func(a, b backends.NodeNetwork) int { return strings.Compare(a.Network, b.Network) })
	}
	return n
}

// attachedTo reports whether a container is configured on a network,
// running or not.
func attachedTo(ns *define.InspectNetworkSettings, network string) bool {
	return ns != nil && ns.Networks[network] != nil
}

func statusFrom(s string) backends.NodeStatus {
	switch s {
	case "created", "configured", "initialized":
		return backends.StatusCreated
	case "running", "stopping":
		return backends.StatusRunning
	case "restarting":
		return backends.StatusRestarting
	case "paused":
		return backends.StatusPaused
	case "exited", "stopped", "dead", "removing":
		return backends.StatusExited
	}
	return backends.StatusUnknown
}

// portsFrom reports published ports. A binding to every address is
// reported with an empty HostIP, which the contract uses for "all".
func portsFrom(pm map[string][]define.InspectHostPort) []backends.PortMapping {
	var out []backends.PortMapping
	seen := map[backends.PortMapping]bool{}
	for port, bindings := range pm {
		num, proto, _ := strings.Cut(port, "/")
		if proto == "" {
			proto = "tcp"
		}
		cport, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			continue
		}
		for _, b := range bindings {
			hostPort, _ := strconv.ParseUint(b.HostPort, 10, 16)
			ip := b.HostIP
			if ip == "0.0.0.0" || ip == "::" {
				ip = ""
			}
			m := backends.PortMapping{HostIP: ip, HostPort: uint16(hostPort), ContainerPort: uint16(cport), Protocol: proto}
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b backends.PortMapping) int {
		if a.ContainerPort != b.ContainerPort {
			return int(a.ContainerPort) - int(b.ContainerPort)
		}
		if c := strings.Compare(a.Protocol, b.Protocol); c != 0 {
			return c
		}
		if c := strings.Compare(a.HostIP, b.HostIP); c != 0 {
			return c
		}
		return int(a.HostPort) - int(b.HostPort)
	})
	return out
}

// mountsFrom reports the mounts a node was created with, by target.
func mountsFrom(c *define.InspectContainerData) []backends.Mount {
	var out []backends.Mount
	seen := map[string]bool{}
	for _, m := range c.Mounts {
		bm := backends.Mount{Target: m.Destination, ReadOnly: !m.RW}
		switch m.Type {
		case "volume":
			bm.Type, bm.Source = backends.MountVolume, m.Name
		case "bind":
			bm.Type, bm.Source = backends.MountBind, m.Source
		case "tmpfs":
			bm.Type = backends.MountTmpfs
			bm.TmpfsSize = tmpfsSize(strings.Join(m.Options, ","))
		default:
			continue
		}
		seen[bm.Target] = true
		out = append(out, bm)
	}
	if hc := c.HostConfig; hc != nil {
		for target, opts := range hc.Tmpfs {
			if seen[target] {
				continue
			}
			ro := slices.Contains(strings.Split(opts, ","), "ro")
			out = append(out, backends.Mount{Type: backends.MountTmpfs, Target: target, ReadOnly: ro, TmpfsSize: tmpfsSize(opts)})
		}
	}
	slices.SortFunc(out, func(a, b backends.Mount) int { return strings.Compare(a.Target, b.Target) })
	return out
}

// tmpfsSize reads the size= option of a tmpfs mount (bytes, or with a k, m
// or g suffix); 0 when there is none.
func tmpfsSize(opts string) int64 {
	for _, o := range strings.Split(opts, ",") {
		v, ok := strings.CutPrefix(o, "size=")
		if !ok {
			continue
		}
		mult := int64(1)
		switch {
		case strings.HasSuffix(v, "k"), strings.HasSuffix(v, "K"):
			mult = 1 << 10
		case strings.HasSuffix(v, "m"), strings.HasSuffix(v, "M"):
			mult = 1 << 20
		case strings.HasSuffix(v, "g"), strings.HasSuffix(v, "G"):
			mult = 1 << 30
		}
		if mult > 1 {
			v = v[:len(v)-1]
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		return n * mult
	}
	return 0
}
