package k3s

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Host holds the facts about the machine that decide whether a real k3s node
// would work there; the double fails where k3s fails.
type Host struct {
	// CgroupV1 reports a host without the unified cgroup v2 hierarchy,
	// which the kubelet in k3s v1.36 refuses by default.
	CgroupV1 func() bool
	// LowerOOMScoreAdj tries what containerd's runc does for every pod
	// sandbox: lower oom_score_adj, which needs CAP_SYS_RESOURCE.
	LowerOOMScoreAdj func() error
	// Addrs lists the node's own addresses.
	Addrs func() []net.IP
	// Kernel is the kernel release (uname -r).
	Kernel func() string
	// CreateCgroup tries what the kubelet does at start: create its own
	// cgroups (kubepods) under the node's cgroup, which needs a writable tree.
	CreateCgroup func() error
	// OpenKmsg tries what the kubelet's OOM watcher does: read /dev/kmsg.
	OpenKmsg func() error
	// MemTotalKB is the machine's memory as cadvisor reads it for the
	// kubelet: MemTotal in /proc/meminfo (0 when unreadable).
	MemTotalKB func() int64
}

// OSHost is the machine the process runs on.
func OSHost() Host {
	return Host{
		CgroupV1:         cgroupV1,
		LowerOOMScoreAdj: lowerOOMScoreAdj,
		Addrs:            interfaceAddrs,
		Kernel:           kernelRelease,
		CreateCgroup:     createCgroup,
		OpenKmsg:         openKmsg,
		MemTotalKB:       memTotalKB,
	}
}

func interfaceAddrs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var v4, v6 []net.IP
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() {
			continue
		}
		if n.IP.To4() != nil {
			v4 = append(v4, n.IP.To4())
		} else {
			v6 = append(v6, n.IP)
		}
	}
	return append(v4, v6...)
}

func lowerOOMScoreAdj() error {
	return os.WriteFile("/proc/self/oom_score_adj", []byte("-998"), 0)
}

// kubeletFailsOnCgroupV1 is the kubelet's default: only
// --kubelet-arg=fail-cgroupv1=false lets it start on cgroup v1.
func kubeletFailsOnCgroupV1(kubeletArgs []string) bool {
	fail := true
	for _, a := range kubeletArgs {
		k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if k == "fail-cgroupv1" {
			fail = !(v == "false" || v == "0")
		}
	}
	return fail
}

var restrictOOMRe = regexp.MustCompile(`(?m)^\s*restrict_oom_score_adj\s*=\s*true\b`)

// containerdRestrictsOOMScoreAdj reports whether the node's containerd
// configuration (a drop-in or a template, where k3s reads them) sets
// restrict_oom_score_adj, which makes runc keep the score it is given.
func containerdRestrictsOOMScoreAdj(dataDir string) bool {
	dir := filepath.Join(dataDir, "agent", "etc", "containerd")
	var files []string
	for _, d := range []string{"config.toml.d", "config-v3.toml.d"} {
		m, _ := filepath.Glob(filepath.Join(dir, d, "*.toml"))
		files = append(files, m...)
	}
	files = append(files, filepath.Join(dir, "config.toml.tmpl"), filepath.Join(dir, "config-v3.toml.tmpl"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && restrictOOMRe.Match(b) {
			return true
		}
	}
	return false
}

func openKmsg() error {
	f, err := os.Open("/dev/kmsg")
	if err != nil {
		return err
	}
	return f.Close()
}

// createCgroup makes and removes a child of the node's own memory cgroup (v1)
// or cgroup (v2), where the kubelet puts kubepods.
func createCgroup() error {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err
	}
	base := ""
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			base = filepath.Join("/sys/fs/cgroup", parts[2])
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			base = filepath.Join("/sys/fs/cgroup/memory", parts[2])
		}
		if base != "" && strings.Contains(parts[1], "memory") {
			break
		}
	}
	if base == "" {
		return nil // no cgroup to speak of: nothing a kubelet could check either
	}
	// With a private cgroup namespace or a bind of the node's own cgroup, the
	// path from /proc/self/cgroup is the mount's root.
	if _, err := os.Stat(base); err != nil {
		base = filepath.Dir(strings.TrimSuffix(base, "/"))
		for !isDir(base) && base != "/sys/fs/cgroup" {
			base = filepath.Dir(base)
		}
	}
	dir := filepath.Join(base, "kubepods-k3s-double")
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return os.Remove(dir)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// kubeletFeatureGate reports whether the kubelet args turn feature gate on
// (--kubelet-arg=feature-gates=A=true,B=false).
func kubeletFeatureGate(kubeletArgs []string, gate string) bool {
	on := false
	for _, a := range kubeletArgs {
		k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if k != "feature-gates" {
			continue
		}
		for _, g := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(g, "=")
			if strings.TrimSpace(name) == gate {
				on = strings.TrimSpace(val) == "true"
			}
		}
	}
	return on
}

func memTotalKB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	return parseMemTotal(string(b))
}

// parseMemTotal reads "MemTotal: N kB" out of a meminfo.
func parseMemTotal(meminfo string) int64 {
	for _, line := range strings.Split(meminfo, "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n
		}
	}
	return 0
}
