package containerd

import (
	"context"
	"fmt"
	"github.com/k3d/k3d/backends/internal/caps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/k3d/k3d/backends"
)

// Info describes containerd and the host, read once per process. containerd
// runs on this host (the backend talks to its local socket and runs CNI
// here), so the host's facts are read directly.
func (r *Runtime) Info(ctx context.Context) (backends.Info, error) {
	info, err := r.info.Get(ctx, r.readInfo)
	if backends.IsPrerequisite(err) {
		return backends.Info{}, err // names the runtime already, in one line
	}
	if err != nil {
		return backends.Info{}, fmt.Errorf("containerd info: %w", err)
	}
	info.Notes = slices.Clone(info.Notes)
	info.MissingCapabilities = slices.Clone(info.MissingCapabilities)
	return info, nil
}

func (r *Runtime) readInfo(ctx context.Context) (backends.Info, error) {
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return backends.Info{}, err
	}
	ver, err := cli.Version(ctx)
	if err != nil {
		return backends.Info{}, r.typed(err, "containerd")
	}
	if err := checkCNIPlugins(r.cniPath); err != nil {
		return backends.Info{}, err
	}
	if err := checkDataRoot(r.root.root); err != nil {
		return backends.Info{}, err
	}
	info := backends.Info{
		Name:           runtimeName,
		Version:        ver.Version,
		APIVersion:     "v1",
		Endpoint:       r.endpoint(),
		CgroupVersion:  cgroupVersion(),
		CgroupDriver:   "cgroupfs",
		OS:             runtime.GOOS,
		Arch:           runtime.GOARCH,
		Kernel:         kernelRelease(),
		FullPrivileges: true,
	}
	// containerd's privileged mode grants every capability this process
	// has: on a host whose bounding set lacks some (LXC, nspawn, some
	// sandboxes), privileged nodes lack them too, instead of failing.
	if bnd, last, err := localCaps(); err == nil {
		if missing := (caps.All(last) &^ bnd).Names(); len(missing) > 0 {
			info.FullPrivileges = false
			info.MissingCapabilities = missing
			info.Notes = append(info.Notes, fmt.Sprintf(
				"privileged nodes get every capability but %s (this host's bounding set lacks them), no seccomp/AppArmor, all devices and a writable cgroup tree",
				strings.Join(missing, ", ")))
		}
	}
	info.Notes = append(info.Notes, fmt.Sprintf("containerd namespace %q, data root %s", r.namespace, r.root))
	return info, nil
}

// cgroupVersion is 2 on a unified hierarchy, else 1.
func cgroupVersion() int {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return 0
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return 2
	}
	return 1
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// localCaps reads this process's capability bounding set and the kernel's
// last capability.
func localCaps() (bnd caps.Set, last int, err error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	if bnd, err = caps.ParseBnd(status); err != nil {
		return 0, 0, err
	}
	lastB, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, 0, err
	}
	last, err = strconv.Atoi(strings.TrimSpace(string(lastB)))
	return bnd, last, err
}
