package docker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/k3d/k3d/backends"
)

// nodeConfig is a NodeSpec in the Engine API's words. The daemon takes one
// network at create on API 1.41 (several only from 1.44), so the others are
// kept apart and connected after create.
type nodeConfig struct {
	cfg   *container.Config
	host  *container.HostConfig
	net   *network.NetworkingConfig
	later []backends.NetworkAttachment
}

// buildNodeConfig translates spec without touching the daemon; privileged
// mode is applied by the caller, which knows what the host allows.
func buildNodeConfig(spec backends.NodeSpec) (nodeConfig, error) {
	invalid := func(format string, args ...any) (nodeConfig, error) {
		return nodeConfig{}, backends.NewError(backends.ErrInvalid, nodeObj(spec.Name), fmt.Sprintf(format, args...))
	}
	if spec.Name == "" {
		return invalid("no name given")
	}
	if spec.Image == "" {
		return invalid("no image given")
	}
	if err := spec.CheckResources(); err != nil {
		return invalid("%v", err)
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.Name
	}
	cfg := &container.Config{
		Hostname:     hostname,
		Image:        spec.Image,
		Env:          spec.Env,
		Labels:       copyLabels(spec.Labels),
		User:         spec.User,
		ExposedPorts: nat.PortSet{},
	}
	// nil keeps the image's entrypoint and command; the API field is
	// omitted when nil.
	if spec.Entrypoint != nil {
		cfg.Entrypoint = spec.Entrypoint
	}
	if spec.Cmd != nil {
		cfg.Cmd = spec.Cmd
	}

	restart := spec.RestartPolicy
	if restart == "" {
		restart = backends.RestartNo
	}
	switch restart {
	case backends.RestartNo, backends.RestartAlways, backends.RestartUnlessStopped, backends.RestartOnFailure:
	default:
		return invalid("unknown restart policy %q", restart)
	}
	hc := &container.HostConfig{
		PortBindings:  nat.PortMap{},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(restart)},
		Resources:     container.Resources{Memory: spec.MemoryLimit},
	}
	for _, u := range spec.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	if spec.HostPID {
		hc.PidMode = "host"
	}
	if gpus, _ := backends.GPUCount(spec.GPUs); gpus != 0 { // checked above
		// What `docker run --gpus` (and k3d v5) ask for: the daemon's
		// NVIDIA device driver picks the devices.
		hc.DeviceRequests = []container.DeviceRequest{{Count: gpus, Capabilities: [][]string{{"gpu"}}}}
	}

	for _, p := range spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return invalid("port %d: unknown protocol %q", p.ContainerPort, p.Protocol)
		}
		if p.ContainerPort == 0 {
			return invalid("port mapping without container port")
		}
		port := nat.Port(fmt.Sprintf("%d/%s", p.ContainerPort, proto))
		cfg.ExposedPorts[port] = struct{}{}
		binding := nat.PortBinding{HostIP: p.HostIP}
		if p.HostPort != 0 {
			binding.HostPort = strconv.Itoa(int(p.HostPort))
		}
		hc.PortBindings[port] = append(hc.PortBindings[port], binding)
	}

	for _, m := range spec.Mounts {
		if m.Target == "" || !strings.HasPrefix(m.Target, "/") {
			return invalid("mount target %q is not an absolute path", m.Target)
		}
		switch m.Type {
		case backends.MountVolume:
			if m.Source == "" {
				return invalid("volume mount at %s has no volume name", m.Target)
			}
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		case backends.MountBind:
			if !strings.HasPrefix(m.Source, "/") {
				return invalid("bind mount source %q is not an absolute path", m.Source)
			}
			if strings.ContainsAny(m.Source+m.Target, ":,") {
				// The short form cannot carry these; the long form can, but
				// then the source must exist already.
				hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
				continue
			}
			// The short "src:dst" form, like `docker run -v` and k3d v5,
			// creates a missing host directory instead of failing.
			b := m.Source + ":" + m.Target
			if m.ReadOnly {
				b += ":ro"
			}
			hc.Binds = append(hc.Binds, b)
		case backends.MountTmpfs:
			hc.Mounts = append(hc.Mounts, mount.Mount{
				Type: mount.TypeTmpfs, Target: m.Target, ReadOnly: m.ReadOnly,
				TmpfsOptions: &mount.TmpfsOptions{SizeBytes: m.TmpfsSize},
			})
		default:
			return invalid("mount at %s: unknown type %q", m.Target, m.Type)
		}
	}

	for _, h := range spec.ExtraHosts {
		if h.Hostname == "" || h.IP == "" {
			return invalid("extra host entry %q -> %q is incomplete", h.Hostname, h.IP)
		}
		hc.ExtraHosts = append(hc.ExtraHosts, h.Hostname+":"+h.IP)
	}

	nc := nodeConfig{cfg: cfg, host: hc}
	if len(spec.Networks) > 0 {
		first := spec.Networks[0]
		hc.NetworkMode = container.NetworkMode(first.Network)
		nc.net = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			first.Network: endpointSettings(first),
		}}
		nc.later = spec.Networks[1:]
	}
	seen := map[string]bool{}
	for _, n := range spec.Networks {
		if n.Network == "" {
			return invalid("network attachment without a network name")
		}
		if seen[n.Network] {
			return invalid("network %q given twice", n.Network)
		}
		seen[n.Network] = true
	}
	return nc, nil
}

func endpointSettings(a backends.NetworkAttachment) *network.EndpointSettings {
	es := &network.EndpointSettings{Aliases: a.Aliases}
	if a.IPv4 != "" {
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a.IPv4}
	}
	return es
}
