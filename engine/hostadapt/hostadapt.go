// Package hostadapt decides how k3s nodes must be changed so that k3s runs on
// what the host can give them (cgroup v1, no CAP_SYS_RESOURCE, no full
// privileges), from facts the runtime reports.
package hostadapt

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Facts are what the engine knows about the host its nodes run on.
type Facts struct {
	Runtime       string
	CgroupVersion int // 1, 2, or 0 when unknown
	Rootless      bool
	// FullPrivileges is false when the backend falls back to a capability
	// set for privileged nodes (see backends.Info.FullPrivileges).
	FullPrivileges bool
	// MissingCapabilities privileged nodes cannot get (see
	// backends.Info.MissingCapabilities).
	MissingCapabilities []string
}

// CanLowerOOMScoreAdj reports whether processes in a node may lower their
// oom_score_adj, which runc does for every pod sandbox: it needs
// CAP_SYS_RESOURCE in the node's (and so the host's) capability set, and a
// rootless node never has it towards the host.
func (f Facts) CanLowerOOMScoreAdj() bool {
	if f.Rootless {
		return false
	}
	if !f.FullPrivileges && len(f.MissingCapabilities) == 0 {
		return false // the backend could not tell what is missing
	}
	return !slices.Contains(f.MissingCapabilities, "CAP_SYS_RESOURCE")
}

// ID names one adaptation, for the switch that turns it off.
type ID string

const (
	// CgroupV1 lets kubelet 1.35+ start on a cgroup v1 host.
	CgroupV1 ID = "cgroupv1"
	// OOMScoreAdj keeps pod sandboxes from failing where oom_score_adj
	// cannot be lowered.
	OOMScoreAdj ID = "oom-score-adj"
	// UserNamespace lets the kubelet run in a rootless runtime's user
	// namespace, where it cannot read /dev/kmsg or set some sysctls.
	UserNamespace ID = "userns"
	// Privileges is the backend's capability fallback for privileged nodes.
	// It is reported here; the backend applies it, and it cannot be turned
	// off (without it a privileged node cannot be created at all).
	Privileges ID = "privileges"
)

// All lists every adaptation, in the order they are reported.
var All = []ID{Privileges, UserNamespace, CgroupV1, OOMScoreAdj}

// File is a file to write into a node before it starts.
type File struct {
	Path string
	Data []byte
}

// Adaptation is one change to every k3s node, with the one line that tells a
// user why.
type Adaptation struct {
	ID      ID
	Message string
	// K3sArgs are added to every k3s node's command line.
	K3sArgs []string
	// Files are written into every k3s node before it starts.
	Files []File
}

// Options say what the user turned off.
type Options struct {
	// Disabled adaptations are not applied ("all" turns every one off).
	Disabled map[ID]bool
	// K3sArgs are the k3s arguments the user gave, so that a setting the user
	// made themselves is not overridden.
	K3sArgs []string
	// Image is the k3s node image, whose tag tells the config layout.
	Image string
}

// DropInDir is where k3s v1.36+ reads containerd config drop-ins.
const DropInDir = "/var/lib/rancher/k3s/agent/etc/containerd/config-v3.toml.d"

// dropIn tells k3s's containerd (config v3) to keep the oom_score_adj runc is
// given instead of lowering it, which needs CAP_SYS_RESOURCE.
const dropIn = `# Written by k3d: this host cannot lower oom_score_adj (no CAP_SYS_RESOURCE),
# so containerd must not ask runc to.
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
`

// Decide returns the adaptations every k3s node needs on a host with facts f.
// An adaptation the user turned off, or whose setting the user already made,
// is left out.
func Decide(f Facts, opts Options) ([]Adaptation, error) {
	off := func(id ID) bool { return opts.Disabled[id] || opts.Disabled["all"] }
	var out []Adaptation
	if !f.FullPrivileges {
		out = append(out, Adaptation{ID: Privileges,
			Message: fmt.Sprintf("%s cannot grant every capability to privileged containers on this host: nodes get every capability it can grant, unconfined seccomp/AppArmor and all devices instead", f.Runtime)})
	}
	if f.Rootless && !off(UserNamespace) && !userSetKubeletArg(opts.K3sArgs, "feature-gates") {
		out = append(out, Adaptation{ID: UserNamespace,
			Message: "runtime is rootless: adding kubelet-arg feature-gates=KubeletInUserNamespace=true",
			K3sArgs: []string{"--kubelet-arg=feature-gates=KubeletInUserNamespace=true"}})
	}
	if f.CgroupVersion == 1 && !off(CgroupV1) && !userSetKubeletArg(opts.K3sArgs, "fail-cgroupv1") {
		out = append(out, Adaptation{ID: CgroupV1,
			Message: "host uses cgroup v1: adding kubelet-arg fail-cgroupv1=false",
			K3sArgs: []string{"--kubelet-arg=fail-cgroupv1=false"}})
	}
	if !f.CanLowerOOMScoreAdj() && !off(OOMScoreAdj) {
		if v, ok := k3sMinor(opts.Image); ok && v < 36 {
			return nil, fmt.Errorf("this host cannot lower oom_score_adj, and k3s 1.%d (image %s) reads no containerd drop-ins: use k3s v1.36 or later, or turn this adaptation off with --host-adapt=-%s and provide %s yourself", v, opts.Image, OOMScoreAdj, "config.toml.tmpl")
		}
		out = append(out, Adaptation{ID: OOMScoreAdj,
			Message: "host cannot lower oom_score_adj (no CAP_SYS_RESOURCE): adding containerd drop-in restrict_oom_score_adj = true",
			Files:   []File{{Path: DropInDir + "/10-k3d-restrict-oom-score-adj.toml", Data: []byte(dropIn)}}})
	}
	return out, nil
}

// ParseDisabled reads the user's switch: a comma list of adaptations to turn
// off ("-cgroupv1,-oom-score-adj", or "off"/"none" for all). A leading '-' is
// optional.
func ParseDisabled(s string) (map[ID]bool, error) {
	out := map[ID]bool{}
	s = strings.TrimSpace(s)
	if s == "" || s == "on" || s == "auto" {
		return out, nil
	}
	if s == "off" || s == "none" || s == "false" || s == "0" {
		out["all"] = true
		return out, nil
	}
	for _, p := range strings.Split(s, ",") {
		id := ID(strings.TrimPrefix(strings.TrimSpace(p), "-"))
		if id == Privileges {
			return nil, fmt.Errorf("host adaptation %q is the runtime backend's own fallback and cannot be turned off: without it privileged nodes cannot be created on this host", id)
		}
		if !slices.Contains(All, id) {
			return nil, fmt.Errorf("unknown host adaptation %q: use off, or a comma list of -%s, -%s, -%s", id, UserNamespace, CgroupV1, OOMScoreAdj)
		}
		out[id] = true
	}
	return out, nil
}

// userSetKubeletArg reports whether the user's k3s args already set the
// kubelet argument key (--kubelet-arg=key=..., --kubelet-arg key=...).
func userSetKubeletArg(args []string, key string) bool {
	for i, a := range args {
		val := ""
		switch {
		case strings.HasPrefix(a, "--kubelet-arg="):
			val = strings.TrimPrefix(a, "--kubelet-arg=")
		case a == "--kubelet-arg" && i+1 < len(args):
			val = args[i+1]
		default:
			continue
		}
		k, _, _ := strings.Cut(strings.TrimLeft(val, "-"), "=")
		if k == key {
			return true
		}
	}
	return false
}

var k3sTag = regexp.MustCompile(`:v1\.(\d+)\.`)

// k3sMinor reads the Kubernetes minor version from a rancher/k3s-style tag
// ("rancher/k3s:v1.36.0-k3s1"); other tags are taken as current.
func k3sMinor(image string) (int, bool) {
	m := k3sTag.FindStringSubmatch(image)
	if m == nil {
		return 0, false
	}
	v, err := strconv.Atoi(m[1])
	return v, err == nil
}
