package podman

import (
	"fmt"
	"github.com/k3d/k3d/backends/internal/caps"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// hostFacts reads the few facts about this machine that matter when the
// service runs on it (a unix:// endpoint): what the service's info does not
// say. Passed in so that the decisions built on them are tested without
// touching the machine.
type hostFacts struct {
	readFile func(string) ([]byte, error)
	stat     func(string) (fs.FileInfo, error)
}

func localHost() hostFacts {
	return hostFacts{readFile: os.ReadFile, stat: os.Stat}
}

// missingCaps names the capabilities this process's bounding set lacks. For
// a service on a local socket it is a fair proxy for the service's own: both
// descend from the same init in the same container or VM, and a process can
// only shrink its bounding set. Podman's privileged mode grants the bounding
// set, so these are what privileged nodes lack.
func (h hostFacts) missingCaps() ([]string, error) {
	status, err := h.readFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	bnd, err := caps.ParseBnd(status)
	if err != nil {
		return nil, err
	}
	lastB, err := h.readFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return nil, err
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(lastB)))
	if err != nil {
		return nil, fmt.Errorf("cap_last_cap %q: %w", lastB, err)
	}
	return (caps.All(last) &^ bnd).Names(), nil
}

// unprivilegedPortStart is net.ipv4.ip_unprivileged_port_start: the lowest
// port an unprivileged process (rootless Podman's port forwarder) may bind.
func (h hostFacts) unprivilegedPortStart() (int, bool) {
	b, err := h.readFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}

// tunDevice is what slirp4netns, rootless Podman's network, opens.
const tunDevice = "/dev/net/tun"

// tunProblem says why the user uid:gid cannot open /dev/net/tun read-write
// and how to fix it, or "" when it can.
func (h hostFacts) tunProblem(uid, gid int) (problem, fix string) {
	fi, err := h.stat(tunDevice)
	if err != nil {
		return tunDevice + " is missing", fmt.Sprintf("create it as root: mkdir -p /dev/net && mknod %s c 10 200 && chmod 0666 %s", tunDevice, tunDevice)
	}
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return tunDevice + " is not a character device", fmt.Sprintf("recreate it as root: rm %s && mknod %s c 10 200 && chmod 0666 %s", tunDevice, tunDevice, tunDevice)
	}
	perm := fi.Mode().Perm()
	ok := perm&0o006 == 0o006
	if st, isUnix := fi.Sys().(*syscall.Stat_t); isUnix {
		ok = ok || (int(st.Uid) == uid && perm&0o600 == 0o600) || (int(st.Gid) == gid && perm&0o060 == 0o060)
	}
	if !ok {
		return fmt.Sprintf("%s (mode %04o) cannot be opened read-write by uid %d", tunDevice, perm, uid), "as root: chmod 0666 " + tunDevice
	}
	return "", ""
}
