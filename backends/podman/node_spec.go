package podman

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	nettypes "github.com/containers/common/libnetwork/types"
	"github.com/containers/podman/v4/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/k3d/k3d/backends"
)

// buildSpec translates a NodeSpec into Podman's container spec without
// touching the service; what depends on the service (the image's labels,
// rootless limits) is the caller's.
func buildSpec(ns backends.NodeSpec) (*specgen.SpecGenerator, error) {
	invalid := func(format string, args ...any) (*specgen.SpecGenerator, error) {
		return nil, backends.NewError(backends.ErrInvalid, nodeObj(ns.Name), fmt.Sprintf(format, args...))
	}
	if ns.Name == "" {
		return invalid("no name given")
	}
	if ns.Image == "" {
		return invalid("no image given")
	}
	if err := ns.CheckResources(); err != nil {
		return invalid("%v", err)
	}
	s := specgen.NewSpecGenerator(ns.Image, false)
	s.Name = ns.Name
	// Podman's default hostname is the container's short ID; k3d's nodes are
	// known by name.
	s.Hostname = ns.Hostname
	if s.Hostname == "" {
		s.Hostname = ns.Name
	}
	// nil keeps the image's entrypoint and command (the fields are omitted).
	s.Entrypoint = ns.Entrypoint
	s.Command = ns.Cmd
	s.User = ns.User
	s.Labels = copyLabels(ns.Labels)
	if len(ns.Env) > 0 {
		s.Env = make(map[string]string, len(ns.Env))
		for _, kv := range ns.Env {
			k, v, _ := strings.Cut(kv, "=")
			if k == "" {
				return invalid("environment entry %q has no name", kv)
			}
			s.Env[k] = v
		}
	}

	restart := ns.RestartPolicy
	if restart == "" {
		restart = backends.RestartNo
	}
	switch restart {
	case backends.RestartNo, backends.RestartAlways, backends.RestartUnlessStopped, backends.RestartOnFailure:
	default:
		return invalid("unknown restart policy %q", restart)
	}
	s.RestartPolicy = string(restart)
	// Docker (since 20.10) lets every process in a container with a network
	// namespace of its own bind ports below 1024, by setting this namespaced
	// sysctl to 0; Podman 4 does not. k3d's load balancer binds the ports it
	// publishes (80, 443) as uid 65534, so nodes get what Docker gives.
	s.Sysctl = map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}
	// Privileged as Podman means it: every capability of the service's
	// bounding set, no seccomp, all devices, writable /sys and cgroups.
	s.Privileged = ns.Privileged
	if ns.MemoryLimit > 0 {
		limit := ns.MemoryLimit
		s.ResourceLimits = &spec.LinuxResources{Memory: &spec.LinuxMemory{Limit: &limit}}
	}

	for _, u := range ns.Ulimits {
		// The service prefixes RLIMIT_ itself.
		s.Rlimits = append(s.Rlimits, spec.POSIXRlimit{Type: u.Name, Soft: uint64(u.Soft), Hard: uint64(u.Hard)})
	}
	if ns.HostPID {
		s.PidNS = specgen.Namespace{NSMode: specgen.Host}
	}
	gpus, _ := backends.CDIGPUDevices(ns.GPUs) // checked above
	// Podman takes GPUs as CDI devices (what `podman run --device
	// nvidia.com/gpu=all` asks for); inspect does not report CDI devices, so
	// the request is kept in a label for InspectNode.
	for _, d := range gpus {
		s.Devices = append(s.Devices, spec.LinuxDevice{Path: d})
	}
	if ns.GPUs != "" {
		s.Labels[labelGPUs] = ns.GPUs
	}

	for _, p := range ns.Ports {
		pm, err := portMapping(p)
		if err != nil {
			return invalid("%v", err)
		}
		s.PortMappings = append(s.PortMappings, pm)
	}

	for _, m := range ns.Mounts {
		if !strings.HasPrefix(m.Target, "/") {
			return invalid("mount target %q is not an absolute path", m.Target)
		}
		var opts []string
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		switch m.Type {
		case backends.MountVolume:
			if m.Source == "" {
				return invalid("volume mount at %s has no volume name", m.Target)
			}
			s.Volumes = append(s.Volumes, &specgen.NamedVolume{Name: m.Source, Dest: m.Target, Options: opts})
		case backends.MountBind:
			if !strings.HasPrefix(m.Source, "/") {
				return invalid("bind mount source %q is not an absolute path", m.Source)
			}
			s.Mounts = append(s.Mounts, spec.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: append(opts, "rbind")})
		case backends.MountTmpfs:
			if m.TmpfsSize > 0 {
				opts = append(opts, "size="+strconv.FormatInt(m.TmpfsSize, 10))
			}
			s.Mounts = append(s.Mounts, spec.Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, Options: opts})
		default:
			return invalid("mount at %s: unknown type %q", m.Target, m.Type)
		}
	}

	for _, h := range ns.ExtraHosts {
		if h.Hostname == "" || h.IP == "" {
			return invalid("extra host entry %q -> %q is incomplete", h.Hostname, h.IP)
		}
		s.HostAdd = append(s.HostAdd, h.Hostname+":"+h.IP)
	}

	if len(ns.Networks) > 0 {
		s.NetNS = specgen.Namespace{NSMode: specgen.Bridge}
		s.Networks = make(map[string]nettypes.PerNetworkOptions, len(ns.Networks))
	}
	for _, a := range ns.Networks {
		if a.Network == "" {
			return invalid("network attachment without a network name")
		}
		if _, dup := s.Networks[a.Network]; dup {
			return invalid("network %q given twice", a.Network)
		}
		opts := nettypes.PerNetworkOptions{Aliases: a.Aliases}
		if a.IPv4 != "" {
			ip := net.ParseIP(a.IPv4)
			if ip == nil || ip.To4() == nil {
				return invalid("network %q: static address %q is not an IPv4 address", a.Network, a.IPv4)
			}
			opts.StaticIPs = []net.IP{ip.To4()}
		}
		s.Networks[a.Network] = opts
	}
	return s, nil
}

// portMapping translates one published port.
func portMapping(p backends.PortMapping) (nettypes.PortMapping, error) {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nettypes.PortMapping{}, fmt.Errorf("port %d: unknown protocol %q", p.ContainerPort, p.Protocol)
	}
	if p.ContainerPort == 0 {
		return nettypes.PortMapping{}, fmt.Errorf("port mapping without container port")
	}
	hostIP := p.HostIP
	if hostIP == "0.0.0.0" {
		// netavark 1.4 turns an explicit 0.0.0.0 into a DNAT rule that
		// matches no packet; no host IP at all means every address, and works.
		hostIP = ""
	}
	if hostIP != "" && net.ParseIP(hostIP) == nil {
		return nettypes.PortMapping{}, fmt.Errorf("port %d: host IP %q is not an IP address", p.ContainerPort, p.HostIP)
	}
	return nettypes.PortMapping{HostIP: hostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, Range: 1}, nil
}

// readOnlyBind mounts a host file or directory read-only.
func readOnlyBind(src, dst string) spec.Mount {
	return spec.Mount{Type: "bind", Source: src, Destination: dst, Options: []string{"ro", "rbind"}}
}
