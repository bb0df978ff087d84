package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/k3d/k3d/backends"
)

// checkSpec validates what can be checked without containerd.
func checkSpec(spec backends.NodeSpec) error {
	obj := nodeObj(spec.Name)
	if spec.Name == "" {
		return invalid("node", "no name given")
	}
	if !validName.MatchString(spec.Name) || len(spec.Name) > 76 {
		return invalid(obj, "name %q: want letters, digits, '_', '.' and '-', starting with a letter or digit, at most 76 characters", spec.Name)
	}
	if spec.Image == "" {
		return invalid(obj, "no image given")
	}
	if err := spec.CheckResources(); err != nil {
		return invalid(obj, "%v", err)
	}
	switch spec.RestartPolicy {
	case "", backends.RestartNo, backends.RestartAlways, backends.RestartUnlessStopped, backends.RestartOnFailure:
	default:
		return invalid(obj, "unknown restart policy %q", spec.RestartPolicy)
	}
	seen := map[string]bool{}
	for _, n := range spec.Networks {
		if n.Network == "" {
			return invalid(obj, "network attachment without a network name")
		}
		if seen[n.Network] {
			return invalid(obj, "network %q given twice", n.Network)
		}
		seen[n.Network] = true
		if n.IPv4 != "" {
			if _, err := ipv4Of(n.IPv4); err != nil {
				return invalid(obj, "network %s: %v", n.Network, err)
			}
		}
	}
	for _, m := range spec.Mounts {
		if !path.IsAbs(m.Target) {
			return invalid(obj, "mount target %q is not an absolute path", m.Target)
		}
		switch m.Type {
		case backends.MountVolume:
			if err := checkName(volumeObj(m.Source), m.Source); err != nil {
				return err
			}
		case backends.MountBind:
			if !filepath.IsAbs(m.Source) {
				return invalid(obj, "bind mount source %q is not an absolute path", m.Source)
			}
		case backends.MountTmpfs:
			if m.TmpfsSize < 0 {
				return invalid(obj, "tmpfs at %s: negative size", m.Target)
			}
		default:
			return invalid(obj, "mount at %s: unknown type %q", m.Target, m.Type)
		}
	}
	for _, h := range spec.ExtraHosts {
		if h.Hostname == "" || h.IP == "" || strings.ContainsAny(h.Hostname, " \t\n") {
			return invalid(obj, "extra host entry %q -> %q is incomplete", h.Hostname, h.IP)
		}
	}
	return nil
}

// anonVolume is a directory the node gets for one of its image's VOLUMEs,
// as Docker gives anonymous volumes: k3s's data must not sit on the node's
// overlay root (its own containerd cannot put overlays on overlays), and it
// goes away with the node.
type anonVolume struct {
	target string
	source string
}

// anonVolumes lists the node's anonymous volumes: the image's VOLUMEs that
// no mount of the spec covers.
func anonVolumes(dir string, img ocispec.ImageConfig, mounts []backends.Mount) []anonVolume {
	var out []anonVolume
	for target := range img.Volumes {
		target = path.Clean(target)
		if !path.IsAbs(target) || slices.ContainsFunc(mounts, func(m backends.Mount) bool { return path.Clean(m.Target) == target }) {
			continue
		}
		sum := sha256.Sum256([]byte(target))
		out = append(out, anonVolume{target: target, source: filepath.Join(dir, nodeAnonVols, hex.EncodeToString(sum[:8]))})
	}
	slices.SortFunc(out, func(a, b anonVolume) int { return strings.Compare(a.target, b.target) })
	return out
}

// nodeArgs is the command line: an entrypoint given replaces the image's
// entrypoint and drops its cmd, as with Docker.
func nodeArgs(spec backends.NodeSpec, img ocispec.ImageConfig) []string {
	ep, cmd := img.Entrypoint, img.Cmd
	if spec.Entrypoint != nil {
		ep, cmd = spec.Entrypoint, nil
	}
	if spec.Cmd != nil {
		cmd = spec.Cmd
	}
	return append(slices.Clone(ep), cmd...)
}

// nodeMounts is every mount of the node, in order: the backend's files
// (/etc/hosts, /etc/resolv.conf, /etc/hostname, /proc/meminfo with a memory
// limit), anonymous volumes, then the spec's mounts.
func (r *Runtime) nodeMounts(spec backends.NodeSpec, dir string, anon []anonVolume) []specs.Mount {
	bind := func(src, dst string, ro bool) specs.Mount {
		opts := []string{"rbind", "rprivate"}
		if ro {
			opts = append(opts, "ro")
		} else {
			opts = append(opts, "rw")
		}
		return specs.Mount{Type: "bind", Source: src, Destination: dst, Options: opts}
	}
	ms := []specs.Mount{
		bind(filepath.Join(dir, nodeHosts), "/etc/hosts", false),
		bind(filepath.Join(dir, nodeResolvConf), "/etc/resolv.conf", false),
		bind(filepath.Join(dir, nodeHostname), "/etc/hostname", false),
	}
	if spec.MemoryLimit > 0 {
		ms = append(ms, bind(filepath.Join(dir, nodeMeminfo), backends.MeminfoPath, true))
	}
	for _, a := range anon {
		ms = append(ms, bind(a.source, a.target, false))
	}
	for _, m := range spec.Mounts {
		switch m.Type {
		case backends.MountVolume:
			ms = append(ms, bind(r.root.volumeData(m.Source), m.Target, m.ReadOnly))
		case backends.MountBind:
			ms = append(ms, bind(m.Source, m.Target, m.ReadOnly))
		case backends.MountTmpfs:
			opts := []string{"nosuid", "nodev", "mode=1777"}
			if m.TmpfsSize > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", m.TmpfsSize))
			}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			ms = append(ms, specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, Options: opts})
		}
	}
	return ms
}

// withMounts replaces the default mounts at the destinations the node
// mounts something of its own (k3d puts a tmpfs at /run, which the default
// spec has one at too) and adds the cgroup filesystem, which containerd's
// default spec leaves out and k3s and the kubelet need.
func withMounts(ms []specs.Mount, privileged bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		taken := map[string]bool{}
		for _, m := range ms {
			taken[path.Clean(m.Destination)] = true
		}
		var kept []specs.Mount
		for _, m := range s.Mounts {
			if !taken[path.Clean(m.Destination)] {
				kept = append(kept, m)
			}
		}
		if !taken["/sys/fs/cgroup"] {
			mode := "ro"
			if privileged {
				mode = "rw"
			}
			kept = append(kept, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
				Options: []string{"nosuid", "noexec", "nodev", "relatime", mode}})
		}
		s.Mounts = append(kept, ms...)
		return nil
	}
}

// withDockerLike gives a node what Docker gives every container and
// containerd's defaults do not: no 1024 open-file limit (k3s opens far more;
// without a limit in the spec the node inherits containerd's, as with
// Docker, and raising it would need CAP_SYS_RESOURCE, which some hosts lack),
// no no_new_privileges (which would break setuid programs in the node), and
// unprivileged use of low ports and ping (k3d's load balancer binds its
// ports as uid 65534).
func withDockerLike(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process != nil {
		s.Process.Rlimits = nil
		s.Process.NoNewPrivileges = false
	}
	if s.Linux != nil {
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
		s.Linux.Sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
	}
	return nil
}

// withUlimits sets the limits asked for, after withDockerLike has cleared
// containerd's defaults: the others stay inherited.
func withUlimits(us []backends.Ulimit) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		for _, u := range us {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: u.RlimitType(), Soft: uint64(u.Soft), Hard: uint64(u.Hard)})
		}
		return nil
	}
}

// withNetNS joins the node's own network namespace.
func withNetNS(path string) oci.SpecOpts {
	return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path})
}

// specOpts is the node's OCI spec on top of containerd's defaults and the
// image's configuration.
func (r *Runtime) specOpts(spec backends.NodeSpec, img oci.Image, cfg ocispec.ImageConfig, meta nodeMeta, mounts []specs.Mount, cgroupV2 bool, gpus oci.SpecOpts) []oci.SpecOpts {
	opts := []oci.SpecOpts{
		oci.WithImageConfigArgs(img, nil),
		oci.WithProcessArgs(nodeArgs(spec, cfg)...),
		oci.WithEnv(spec.Env),
		oci.WithHostname(meta.Hostname),
		withMounts(mounts, spec.Privileged),
		withNetNS(meta.NetNS),
		withDockerLike,
		withUlimits(spec.Ulimits),
	}
	if spec.HostPID {
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	}
	if gpus != nil {
		opts = append(opts, gpus)
	}
	if spec.User != "" {
		opts = append(opts, oci.WithUser(spec.User))
	}
	if spec.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(spec.MemoryLimit)))
	}
	if cgroupV2 {
		// As Docker does on cgroup v2 hosts: the node sees its own cgroup
		// as the root, which k3s's kubelet expects.
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}))
	}
	if spec.Privileged {
		// containerd's own privileged mode: every capability this process
		// has (on hosts whose bounding set lacks some, those are missing
		// too, and Info says so), no seccomp, AppArmor or masked paths,
		// writable /sys and cgroups, and every host device.
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	} else {
		opts = append(opts, seccomp.WithDefaultProfile())
	}
	return opts
}

// writeNodeFiles writes the files the backend bind-mounts into a node and
// makes its anonymous volumes.
func writeNodeFiles(dir string, meta nodeMeta, anon []anonVolume) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{
		nodeHosts:      []byte(hostsHeader),
		nodeResolvConf: resolvConf(),
		nodeHostname:   []byte(meta.Hostname + "\n"),
	}
	if meta.MemoryLimit > 0 {
		files[nodeMeminfo] = backends.Meminfo(meta.MemoryLimit)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	for _, a := range anon {
		if err := os.MkdirAll(a.source, 0o755); err != nil {
			return err
		}
	}
	return nil
}
