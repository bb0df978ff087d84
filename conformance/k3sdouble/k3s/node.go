package k3s

import (
	"fmt"
	"net"
	"runtime"
	"strings"
)

// nodeIdentity is what a node says about itself when it registers.
func nodeIdentity(cfg *config, env Env) (NodeRecord, error) {
	name := cfg.nodeName
	host, _ := env.Hostname()
	if name == "" {
		name = host
	}
	name = strings.ToLower(name)
	if name == "" {
		return NodeRecord{}, fmt.Errorf("node name is empty: set --node-name")
	}
	rec := NodeRecord{Name: name, Server: cfg.server, Hostname: host, Arch: runtime.GOARCH}
	if env.Host.Kernel != nil {
		rec.Kernel = env.Host.Kernel()
	}
	if env.Host.MemTotalKB != nil {
		rec.MemoryKB = env.Host.MemTotalKB()
	}
	if len(cfg.nodeIPs) > 0 {
		if net.ParseIP(cfg.nodeIPs[0]) == nil {
			return rec, fmt.Errorf("invalid node-ip %q", cfg.nodeIPs[0])
		}
		rec.InternalIP = cfg.nodeIPs[0]
	} else if env.Host.Addrs != nil {
		if addrs := env.Host.Addrs(); len(addrs) > 0 {
			rec.InternalIP = addrs[0].String()
		}
	}
	if rec.InternalIP == "" {
		rec.InternalIP = "127.0.0.1"
	}
	if len(cfg.nodeExternalIPs) > 0 {
		if net.ParseIP(cfg.nodeExternalIPs[0]) == nil {
			return rec, fmt.Errorf("invalid node-external-ip %q", cfg.nodeExternalIPs[0])
		}
		rec.ExternalIP = cfg.nodeExternalIPs[0]
	}
	rec.Etcd = cfg.server && cfg.datastoreEndpoint == "" && (cfg.clusterInit || cfg.serverURL != "")
	rec.Labels = map[string]string{
		"beta.kubernetes.io/arch":          runtime.GOARCH,
		"beta.kubernetes.io/instance-type": "k3s",
		"beta.kubernetes.io/os":            "linux",
		"kubernetes.io/arch":               runtime.GOARCH,
		"kubernetes.io/hostname":           name,
		"kubernetes.io/os":                 "linux",
		"node.kubernetes.io/instance-type": "k3s",
	}
	if cfg.server {
		rec.Labels["node-role.kubernetes.io/control-plane"] = "true"
		rec.Labels["node-role.kubernetes.io/master"] = "true"
		if rec.Etcd {
			rec.Labels["node-role.kubernetes.io/etcd"] = "true"
		}
	}
	for _, l := range cfg.nodeLabels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return rec, fmt.Errorf("invalid node-label %q: want key=value", l)
		}
		rec.Labels[k] = v
	}
	for _, t := range cfg.nodeTaints {
		kv, effect, ok := strings.Cut(t, ":")
		switch effect {
		case "NoSchedule", "PreferNoSchedule", "NoExecute":
		default:
			ok = false
		}
		if !ok {
			return rec, fmt.Errorf("invalid node-taint %q: want key[=value]:NoSchedule|PreferNoSchedule|NoExecute", t)
		}
		k, v, _ := strings.Cut(kv, "=")
		rec.Taints = append(rec.Taints, Taint{Key: k, Value: v, Effect: effect})
	}
	return rec, nil
}

// sandboxError is why containerd on this node could not start a pod sandbox,
// or "" if it could.
func sandboxError(env Env, dataDir string) string {
	if env.Host.LowerOOMScoreAdj == nil || containerdRestrictsOOMScoreAdj(dataDir) {
		return ""
	}
	if err := env.Host.LowerOOMScoreAdj(); err != nil {
		return "rpc error: code = Unknown desc = failed to create containerd task: failed to create shim task: " +
			"OCI runtime create failed: runc create failed: unable to start container process: error during container init: " +
			"error setting oom score adj: " + err.Error() + ": unknown"
	}
	return ""
}

// hostChecks fails where the kubelet inside k3s would fail to start.
func hostChecks(cfg *config, env Env) error {
	if env.Host.CgroupV1 != nil && env.Host.CgroupV1() && kubeletFailsOnCgroupV1(cfg.kubeletArgs) {
		return fmt.Errorf("kubelet exited: failed to run Kubelet: kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is in maintenance mode")
	}
	if env.Host.OpenKmsg != nil {
		// The kubelet's OOM watcher reads /dev/kmsg; in a user namespace
		// (rootless) it may not, and only KubeletInUserNamespace lets the
		// kubelet go on without it.
		if err := env.Host.OpenKmsg(); err != nil && !kubeletFeatureGate(cfg.kubeletArgs, "KubeletInUserNamespace") {
			return fmt.Errorf("kubelet exited: failed to run Kubelet: failed to create kubelet: %w", err)
		}
	}
	if env.Host.CreateCgroup != nil {
		if err := env.Host.CreateCgroup(); err != nil {
			return fmt.Errorf("kubelet exited: failed to run Kubelet: failed to start ContainerManager: failed to initialize top level QOS containers: %w", err)
		}
	}
	return nil
}
