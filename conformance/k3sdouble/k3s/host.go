package k3s

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
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
}

// OSHost is the machine the process runs on.
func OSHost() Host {
	return Host{
		CgroupV1:         cgroupV1,
		LowerOOMScoreAdj: lowerOOMScoreAdj,
		Addrs:            interfaceAddrs,
		Kernel:           kernelRelease,
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
