package docker

import (
	"context"
	"errors"
	"fmt"
	"github.com/k3d/k3d/backends/internal/caps"
	"slices"
	"strconv"
	"strings"

	"github.com/k3d/k3d/backends"
)

// Info describes the daemon and its host. The daemon's facts are read once
// per process. Whether privileged mode works is decided by probes when a
// privileged node is created (see privileged.go); until then Info answers
// from the bounding set for a local daemon, without starting containers.
func (r *Runtime) Info(ctx context.Context) (backends.Info, error) {
	facts, err := r.info.Get(ctx, r.readInfo)
	if err != nil {
		return backends.Info{}, fmt.Errorf("docker info: %w", err)
	}
	info := facts.info
	// The cached value's slice must not be appended to in place.
	info.Notes = slices.Clone(info.Notes)
	missing, err := r.missingPrivileges(ctx)
	if err != nil {
		return backends.Info{}, fmt.Errorf("docker info: %w", err)
	}
	info.FullPrivileges = len(missing) == 0
	info.MissingCapabilities = slices.Clone(missing)
	if !info.FullPrivileges {
		info.Notes = append(info.Notes, fmt.Sprintf(
			"privileged nodes get every capability but %s, unconfined seccomp/AppArmor, all devices and a writable cgroup tree, because this host cannot grant all capabilities",
			strings.Join(missing, ", ")))
	}
	return info, nil
}

// daemonFacts is what the daemon says about itself, read once per process.
type daemonFacts struct {
	info backends.Info
	// usernsRemap: the daemon runs containers in a remapped user namespace
	// (dockerd --userns-remap), where it refuses privileged containers
	// unless they keep the host's user namespace.
	usernsRemap bool
}

func (r *Runtime) readInfo(ctx context.Context) (daemonFacts, error) {
	ver, err := r.cli.ServerVersion(ctx)
	if err != nil {
		return daemonFacts{}, r.typed(err, "daemon", conflictIsExists)
	}
	sys, err := r.cli.Info(ctx)
	if err != nil {
		return daemonFacts{}, r.typed(err, "daemon", conflictIsExists)
	}
	info := backends.Info{
		Name:           runtimeName,
		Version:        ver.Version,
		APIVersion:     r.cli.ClientVersion(),
		Endpoint:       r.endpoint.host,
		CgroupDriver:   sys.CgroupDriver,
		OS:             ver.Os,
		Arch:           ver.Arch,
		Kernel:         ver.KernelVersion,
		FullPrivileges: true,
	}
	info.CgroupVersion, _ = strconv.Atoi(sys.CgroupVersion)
	opts := securityOptions(sys.SecurityOptions)
	info.Rootless = opts["rootless"]
	if info.Rootless {
		info.Notes = append(info.Notes, "rootless daemon: nodes run in a user namespace, and host ports below 1024 need net.ipv4.ip_unprivileged_port_start lowered")
	}
	if opts["userns"] {
		info.Notes = append(info.Notes, "the daemon remaps user namespaces (--userns-remap): privileged nodes keep the host's user namespace (--userns=host), as Docker requires of privileged containers")
	}
	return daemonFacts{info: info, usernsRemap: opts["userns"]}, nil
}

// securityOptions names the daemon's security options; its entries read
// "name=rootless", "name=userns" or "name=seccomp,profile=default".
func securityOptions(entries []string) map[string]bool {
	names := map[string]bool{}
	for _, opt := range entries {
		for _, kv := range strings.Split(opt, ",") {
			if name, ok := strings.CutPrefix(kv, "name="); ok {
				names[name] = true
			}
		}
	}
	return names
}

// missingPrivileges names the capabilities privileged nodes cannot get here
// (none: the daemon's privileged mode works).
func (r *Runtime) missingPrivileges(ctx context.Context) ([]string, error) {
	if p, ok := r.privs.Peek(); ok {
		return p.missing, nil
	}
	if r.endpoint.local() {
		if bnd, last, err := localCaps(); err == nil {
			return (caps.All(last) &^ bnd).Names(), nil
		}
	}
	p, err := r.privilegesFor(ctx, "")
	if errors.Is(err, errNoProbeImage) {
		// No image to probe with, and so none to make a node from yet.
		return nil, nil
	}
	return p.missing, err
}
