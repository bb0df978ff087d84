package podman

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/containers/podman/v4/libpod/define"
	"github.com/containers/podman/v4/pkg/bindings/system"
	"github.com/containers/storage/pkg/idtools"

	"github.com/k3d/k3d/backends"
)

// facts is what the backend learns once per process from the service's info
// (an info call takes most of a second) and, for a local service, from this
// machine: the contract's Info and what node creation checks first.
type facts struct {
	info backends.Info
	// Rootless only, each "" when fine (or when it cannot be told):
	// portStart is the lowest host port the service may publish (0: any).
	portStart int
	// missing is what this host lacks for any node to start (no
	// /dev/net/tun, no subordinate ids): Info reports it, in one line.
	missing *backends.PrerequisiteError
	// noMemory says why memory limits cannot be applied.
	noMemory string
}

// Info describes the service and its host, read once per process.
func (r *Runtime) Info(ctx context.Context) (backends.Info, error) {
	f, err := r.facts(ctx)
	if err != nil {
		return backends.Info{}, fmt.Errorf("podman info: %w", err)
	}
	if f.missing != nil {
		return backends.Info{}, f.missing
	}
	info := f.info
	// The cached value's slices must not be shared.
	info.Notes = slices.Clone(info.Notes)
	info.MissingCapabilities = slices.Clone(info.MissingCapabilities)
	return info, nil
}

func (r *Runtime) facts(ctx context.Context) (facts, error) {
	return r.info.Get(ctx, r.readFacts)
}

func (r *Runtime) readFacts(ctx context.Context) (facts, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return facts{}, err
	}
	key := r.serviceKey(r.peer)
	if in, ok := r.loadInfo(key, time.Now()); ok {
		return factsFrom(in, r.endpoint, r.host), nil
	}
	in, err := system.Info(actx, nil)
	if err != nil {
		return facts{}, r.typed(err, "service", conflictIsExists)
	}
	r.storeInfo(key, in, time.Now())
	return factsFrom(in, r.endpoint, r.host), nil
}

// factsFrom turns the service's info (and, for a local service, this
// machine's facts) into the contract's Info and the rootless checks.
func factsFrom(in *define.Info, ep endpoint, h hostFacts) facts {
	f := facts{info: backends.Info{
		Name:       runtimeName,
		Version:    in.Version.Version,
		APIVersion: in.Version.APIVersion,
		Endpoint:   ep.uri,
	}}
	info := &f.info
	if host := in.Host; host != nil {
		info.Rootless = host.Security.Rootless
		info.CgroupDriver = host.CgroupManager
		info.OS = host.OS
		info.Arch = host.Arch
		info.Kernel = host.Kernel
		if host.NetworkBackend == "cni" {
			info.Notes = append(info.Notes, `Podman uses CNI: nodes resolve each other by name only with the dnsname plugin installed; netavark (network_backend = "netavark" in containers.conf) has DNS built in`)
		}
		switch host.CgroupsVersion {
		case "v1":
			info.CgroupVersion = 1
		case "v2":
			info.CgroupVersion = 2
		}
	}

	// Podman's privileged mode grants every capability in the service's
	// bounding set and silently leaves out the others, so it always starts;
	// what it leaves out is reported so that the engine adapts k3s (no
	// CAP_SYS_RESOURCE: oom_score_adj cannot be lowered).
	if ep.local() {
		missing, err := h.missingCaps()
		switch {
		case err != nil:
			info.Notes = append(info.Notes, fmt.Sprintf("cannot tell which capabilities privileged nodes lack (%v)", err))
		case len(missing) > 0:
			info.MissingCapabilities = missing
			info.Notes = append(info.Notes, fmt.Sprintf(
				"privileged nodes get every capability but %s: Podman's privileged mode grants only what this host's capability bounding set holds",
				strings.Join(missing, ", ")))
		default:
			info.FullPrivileges = true
		}
	} else {
		info.Notes = append(info.Notes, "cannot tell which capabilities privileged nodes lack on a remote service: assuming some are missing")
	}

	if info.Rootless {
		rootlessFacts(&f, in, ep, h)
	}
	return f
}

// rootlessFacts decides what a rootless service can give nodes, before any
// node is created: host ports below the unprivileged port start, memory
// limits without cgroup delegation, networks without /dev/net/tun.
func rootlessFacts(f *facts, in *define.Info, ep endpoint, h hostFacts) {
	info := &f.info
	uid, gid := -1, -1
	if host := in.Host; host != nil {
		uid = hostID(host.IDMappings.UIDMap)
		gid = hostID(host.IDMappings.GIDMap)
	}
	who := "an unprivileged user"
	if uid >= 0 {
		who = fmt.Sprintf("uid %d", uid)
	}
	info.Notes = append(info.Notes, fmt.Sprintf("rootless Podman: nodes run in a user namespace of %s", who))

	if ep.local() {
		if b, err := h.readFile("/proc/sys/kernel/dmesg_restrict"); err == nil && strings.TrimSpace(string(b)) == "1" {
			info.Notes = append(info.Notes, "rootless Podman: nodes cannot read /dev/kmsg (kernel.dmesg_restrict=1); real k3s needs --kubelet-arg=feature-gates=KubeletInUserNamespace=true")
		}
		if start, ok := h.unprivilegedPortStart(); ok && start > 0 {
			f.portStart = start
			info.Notes = append(info.Notes, fmt.Sprintf(
				"rootless Podman cannot publish host ports below %d; to allow them: sudo sysctl net.ipv4.ip_unprivileged_port_start=<lowest port>", start))
		}
		if uid >= 0 {
			if p, fix := h.tunProblem(uid, gid); p != "" {
				f.missing = &backends.PrerequisiteError{Runtime: runtimeName,
					Missing: "rootless Podman's networks (slirp4netns) need /dev/net/tun: " + p, Fix: fix}
			}
		}
	}
	// Without subordinate ids the user namespace holds the user alone, and
	// k3s's image (files owned by other ids) cannot even be unpacked.
	if in.Host != nil && f.missing == nil {
		if u, g := mappedIDs(in.Host.IDMappings.UIDMap), mappedIDs(in.Host.IDMappings.GIDMap); u <= 1 || g <= 1 {
			f.missing = &backends.PrerequisiteError{Runtime: runtimeName,
				Missing: fmt.Sprintf("rootless Podman of %s has no subordinate uid/gid ranges (%d uid(s), %d gid(s) mapped)", who, u, g),
				Fix:     "as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER, then as USER: podman system migrate",
			}
		}
	}

	switch info.CgroupVersion {
	case 1:
		// What kind says for rootless providers: Podman ignores every
		// resource limit of rootless containers on cgroup v1.
		f.noMemory = "rootless Podman cannot apply memory limits on a cgroup v1 host (it ignores resource limits there); use cgroup v2 with the memory controller delegated to the user, or rootful Podman"
		info.Notes = append(info.Notes, "rootless Podman on cgroup v1: nodes get no memory limits, and cgroups of their own only where someone delegated a cgroup subtree to the user by hand; real k3s needs cgroup v2 with controllers delegated to the user (systemd: Delegate=yes)")
	case 2:
		var missing []string
		for _, c := range []string{"memory", "pids", "cpu"} {
			if in.Host == nil || !slices.Contains(in.Host.CgroupControllers, c) {
				missing = append(missing, c)
			}
		}
		if slices.Contains(missing, "memory") {
			f.noMemory = fmt.Sprintf("rootless Podman cannot apply memory limits: the memory cgroup controller is not delegated to %s (systemd: Delegate=yes for user@.service)", who)
		}
		if len(missing) > 0 {
			info.Notes = append(info.Notes, fmt.Sprintf(
				"rootless Podman lacks the cgroup controllers %s (not delegated to %s): real k3s may fail; delegate them (systemd: Delegate=yes for user@.service)",
				strings.Join(missing, ", "), who))
		}
	}
}

// mappedIDs counts the ids a user namespace mapping holds.
func mappedIDs(m []idtools.IDMap) int {
	n := 0
	for _, e := range m {
		n += e.Size
	}
	return n
}

// hostID is the host id that the container's id 0 maps to: the rootless user.
func hostID(m []idtools.IDMap) int {
	for _, e := range m {
		if e.ContainerID == 0 {
			return e.HostID
		}
	}
	return -1
}
