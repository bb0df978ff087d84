package docker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/fanout"
	"github.com/k3d/k3d/backends/internal/imagelabels"
)

// InspectNode reports a node by its exact name (the daemon would also accept
// an ID or ID prefix; the contract speaks names only).
func (r *Runtime) InspectNode(ctx context.Context, name string) (backends.Node, error) {
	c, err := r.inspectContainer(ctx, name)
	if err != nil {
		return backends.Node{}, fmt.Errorf("inspect node %s: %w", name, err)
	}
	return nodeFrom(c), nil
}

func (r *Runtime) inspectContainer(ctx context.Context, name string) (container.InspectResponse, error) {
	c, err := r.cli.ContainerInspect(ctx, name)
	if err != nil {
		return c, r.typed(err, nodeObj(name), conflictIsExists)
	}
	if strings.TrimPrefix(c.Name, "/") != name {
		return c, backends.NotFound(nodeObj(name))
	}
	return c, nil
}

// ListNodes lists the nodes whose labels match selector, running or not.
func (r *Runtime) ListNodes(ctx context.Context, selector map[string]string) ([]backends.Node, error) {
	list, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: labelFilter(selector)})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", r.typed(err, "nodes", conflictIsExists))
	}
	list = slices.DeleteFunc(list, func(c container.Summary) bool {
		return c.Labels[labelProbe] != "" // a probe in flight (privileged.go) is not a node
	})
	// The list's summaries lack hostname, env, restart policy and more, so
	// each node is inspected.
	nodes, err := fanout.Map(ctx, list, func(ctx context.Context, c container.Summary) (backends.Node, bool, error) {
		full, err := r.cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			if backends.IsNotFound(r.typed(err, "", conflictIsExists)) {
				return backends.Node{}, false, nil // removed since the list was made
			}
			return backends.Node{}, false, r.typed(err, nodeObj(strings.TrimPrefix(firstOr(c.Names), "/")), conflictIsExists)
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

func nodeFrom(c container.InspectResponse) backends.Node {
	n := backends.Node{
		ID:   c.ID,
		Name: strings.TrimPrefix(c.Name, "/"),
		Cmd:  append([]string{c.Path}, c.Args...),
	}
	if c.Path == "" {
		n.Cmd = c.Args
	}
	n.Created = parseTime(c.Created)
	n.State.RestartCount = c.RestartCount
	if s := c.State; s != nil {
		n.State.Status = statusFrom(s.Status)
		n.State.Running = s.Running
		n.State.ExitCode = s.ExitCode
		n.State.StartedAt = parseTime(s.StartedAt)
		n.State.FinishedAt = parseTime(s.FinishedAt)
	}
	if cfg := c.Config; cfg != nil {
		n.Hostname = cfg.Hostname
		n.Image = cfg.Image
		n.Labels = imagelabels.Strip(cfg.Labels)
		n.Env = cfg.Env
	}
	fallback := n.Labels[labelPrivileged] != ""
	if hc := c.HostConfig; hc != nil {
		n.Privileged = hc.Privileged || fallback
		n.RestartPolicy = backends.RestartPolicy(hc.RestartPolicy.Name)
		if n.RestartPolicy == "" {
			n.RestartPolicy = backends.RestartNo
		}
		n.MemoryLimit = hc.Memory
		for _, u := range hc.Ulimits {
			n.Ulimits = append(n.Ulimits, backends.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
		}
		n.HostPID = hc.PidMode.IsHost()
		n.GPUs = gpusFrom(hc.DeviceRequests)
		n.Mounts = backends.WithoutMeminfo(n.Name, mountsFrom(hc, fallback))
		n.Ports = portsFrom(hc.PortBindings)
	}
	if ns := c.NetworkSettings; ns != nil {
		if n.State.Running && len(ns.Ports) > 0 {
			// Only a running node has its random host ports chosen.
			n.Ports = portsFrom(ns.Ports)
		}
		primary := ""
		if c.HostConfig != nil {
			primary = string(c.HostConfig.NetworkMode)
		}
		for name, ep := range ns.Networks {
			if ep == nil {
				continue
			}
			nn := backends.NodeNetwork{Network: name, IPv4: ep.IPAddress}
			if nn.IPv4 == "" && ep.IPAMConfig != nil {
				nn.IPv4 = ep.IPAMConfig.IPv4Address
			}
			for _, a := range ep.Aliases {
				// The daemon adds the hostname (by default the short ID) as
				// an alias on API < 1.44; it resolves anyway and was not given.
				if a != shortID(c.ID) && a != n.Name && a != n.Hostname {
					nn.Aliases = append(nn.Aliases, a)
				}
			}
			n.Networks = append(n.Networks, nn)
		}
		slices.SortFunc(n.Networks, func(a, b backends.NodeNetwork) int {
			switch {
			case a.Network == primary:
				return -1
			case b.Network == primary:
				return 1
			}
			return strings.Compare(a.Network, b.Network)
		})
	}
	return n
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func statusFrom(s container.ContainerState) backends.NodeStatus {
	switch s {
	case container.StateCreated:
		return backends.StatusCreated
	case container.StateRunning:
		return backends.StatusRunning
	case container.StateRestarting:
		return backends.StatusRestarting
	case container.StatePaused:
		return backends.StatusPaused
	case container.StateExited, container.StateDead:
		return backends.StatusExited
	}
	return backends.StatusUnknown
}

// parseTime reads the daemon's RFC 3339 times; its "never" is year 1.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// portsFrom reports published ports. The daemon lists a binding to every
// address twice (0.0.0.0 and ::); both mean "all addresses", which the
// contract writes as an empty HostIP.
func portsFrom(pm nat.PortMap) []backends.PortMapping {
	var out []backends.PortMapping
	seen := map[backends.PortMapping]bool{}
	for port, bindings := range pm {
		for _, b := range bindings {
			hostPort, _ := strconv.ParseUint(b.HostPort, 10, 16)
			ip := b.HostIP
			if ip == "0.0.0.0" || ip == "::" {
				ip = ""
			}
			m := backends.PortMapping{HostIP: ip, HostPort: uint16(hostPort), ContainerPort: uint16(port.Int()), Protocol: port.Proto()}
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

// mountsFrom reports the mounts the node was created with, by target (the
// daemon keeps short-form binds apart from the rest, so the order given is
// lost); the fallback's own cgroup mount is the backend's, not the node's.
func mountsFrom(hc *container.HostConfig, fallback bool) []backends.Mount {
	var out []backends.Mount
	for _, b := range hc.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 {
			continue
		}
		m := backends.Mount{Type: backends.MountBind, Source: parts[0], Target: parts[1]}
		if len(parts) > 2 {
			m.ReadOnly = slices.Contains(strings.Split(parts[2], ","), "ro")
		}
		if !strings.HasPrefix(m.Source, "/") {
			m.Type = backends.MountVolume // "name:/path" is a named volume
		}
		out = append(out, m)
	}
	for _, m := range hc.Mounts {
		if fallback && m.Type == mount.TypeBind && m.Source == cgroupRoot && m.Target == cgroupRoot {
			continue
		}
		bm := backends.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		switch m.Type {
		case mount.TypeVolume:
			bm.Type = backends.MountVolume
		case mount.TypeBind:
			bm.Type = backends.MountBind
		case mount.TypeTmpfs:
			bm.Type = backends.MountTmpfs
			if m.TmpfsOptions != nil {
				bm.TmpfsSize = m.TmpfsOptions.SizeBytes
			}
		default:
			continue
		}
		out = append(out, bm)
	}
	slices.SortFunc(out, func(a, b backends.Mount) int { return strings.Compare(a.Target, b.Target) })
	return out
}

// gpusFrom is the GPU request a node was made with, in NodeSpec's words.
func gpusFrom(reqs []container.DeviceRequest) string {
	for _, r := range reqs {
		for _, caps := range r.Capabilities {
			if slices.Contains(caps, "gpu") {
				if r.Count < 0 {
					return "all"
				}
				return strconv.Itoa(r.Count)
			}
		}
	}
	return ""
}
