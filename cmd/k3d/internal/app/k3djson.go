package app

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine"
)

// This file is the JSON (and YAML) that `k3d cluster list -o json` and
// `k3d node list -o json` print: k3d v5.9's own shapes, field by field, because
// ctlptl, Tilt, carapace and many scripts decode them. The engine's types stay
// ours; these view types are built from them and exist only to be encoded.
//
// The names, spellings and omitempty rules are those of k3d v5.9's
// pkg/types (Cluster, ClusterNetwork, IPAM, Node, ServerOpts, ExposureOpts,
// NodeState, NodeIP), of docker/go-connections' nat.PortMap/PortBinding that
// k3d embeds, and of the list commands (cmd/cluster/clusterList.go,
// cmd/util/listings.go). Fields k3d declares omitempty and never fills when it
// lists (files, hostPidMode, runtimeUlimits, k3sNodeLabels, hooks, extraArgs,
// externalDatastore, kubeAPI, serverLoadBalancer, volumes) are left out of the
// types: they would never appear. Fields without omitempty appear even when
// empty (InitNode, Members, ExtraHosts, GPURequest, ...), as in k3d.

// k3dClusterListEntry is one element of `k3d cluster list -o json`: the
// cluster with the counts the list command adds.
type k3dClusterListEntry struct {
	k3dCluster
	ServersRunning int  `json:"serversRunning"`
	ServersCount   int  `json:"serversCount"`
	AgentsRunning  int  `json:"agentsRunning"`
	AgentsCount    int  `json:"agentsCount"`
	LoadBalancer   bool `json:"hasLoadbalancer,omitempty"`
}

// k3dCluster is k3d's types.Cluster as its list command fills it: from the
// nodes' labels (network, image volume, token).
type k3dCluster struct {
	Name    string            `json:"name,omitempty"`
	Network k3dClusterNetwork `json:"network,omitempty"`
	// Token is printed only with --token, as in k3d.
	Token string     `json:"clusterToken,omitempty"`
	Nodes []*k3dNode `json:"nodes,omitempty"`
	// InitNode has no JSON tag in k3d and is never filled by a list: null.
	InitNode    *k3dNode
	ImageVolume string `json:"imageVolume,omitempty"`
}

// k3dClusterNetwork is k3d's types.ClusterNetwork.
type k3dClusterNetwork struct {
	Name     string  `json:"name,omitempty"`
	ID       string  `json:"id"`
	External bool    `json:"isExternal,omitempty"`
	IPAM     k3dIPAM `json:"ipam,omitempty"`
	// Members has no tag in k3d; a list leaves it empty: null.
	Members []struct{}
}

// k3dIPAM is k3d's types.IPAM. Its prefix is a netip.Prefix there, which
// encodes as "" when unset; a list never sets it.
type k3dIPAM struct {
	IPPrefix string   `json:"ipPrefix"`
	IPsUsed  []string `json:"ipsUsed,omitempty"`
	Managed  bool
}

// k3dNode is k3d's types.Node as its runtimes translate a container into it.
type k3dNode struct {
	Name    string   `json:"name,omitempty"`
	Role    string   `json:"role,omitempty"`
	Image   string   `json:"image,omitempty"`
	Volumes []string `json:"volumes,omitempty"`
	Env     []string `json:"env,omitempty"`
	Cmd     []string
	// Ports is a nat.PortMap: "6443/tcp" -> [{"HostIp": ..., "HostPort": ...}].
	Ports         map[string][]k3dPortBinding `json:"portMappings,omitempty"`
	Restart       bool                        `json:"restart,omitempty"`
	Created       string                      `json:"created,omitempty"`
	RuntimeLabels map[string]string           `json:"runtimeLabels,omitempty"`
	Networks      []string
	ExtraHosts    []string
	ServerOpts    k3dServerOpts `json:"serverOpts,omitempty"`
	AgentOpts     struct{}      `json:"agentOpts,omitempty"`
	GPURequest    string
	Memory        string
	State         k3dNodeState
	IP            k3dNodeIP
	K3dEntrypoint bool
}

// k3dPortBinding is nat.PortBinding (note the spelling HostIp).
type k3dPortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// k3dServerOpts is k3d's types.ServerOpts; k3d fills KubeAPI on every node,
// from the k3d.server.api.* labels (empty on agents).
type k3dServerOpts struct {
	IsInit  bool             `json:"isInitializingServer,omitempty"`
	KubeAPI *k3dExposureOpts `json:"kubeAPI"`
}

// k3dExposureOpts is k3d's types.ExposureOpts: an embedded nat.PortMapping
// (fields Port and Binding, untagged) and the API host.
type k3dExposureOpts struct {
	Port    string
	Binding k3dPortBinding
	Host    string `json:"host,omitempty"`
}

// k3dNodeState is k3d's types.NodeState. Its runtimes never fill Started
// when they list, so neither do we.
type k3dNodeState struct {
	Running bool
	Status  string
	Started string
}

// k3dNodeIP is k3d's types.NodeIP: the address on the cluster network (a
// netip.Addr there, "" when unknown).
type k3dNodeIP struct {
	IP     string
	Static bool
}

// clusterListJSON is what `k3d cluster list -o json|yaml` prints; the token
// only with --token, as k3d does.
func clusterListJSON(clusters []engine.Cluster, withToken bool) []k3dClusterListEntry {
	out := make([]k3dClusterListEntry, 0, len(clusters))
	for _, c := range clusters {
		e := k3dClusterListEntry{k3dCluster: k3dCluster{
			Name: c.Name,
			Network: k3dClusterNetwork{
				Name:     c.Network,
				External: c.NetworkExternal,
			},
			ImageVolume: c.ImageVolume,
		}}
		if withToken {
			e.Token = c.Token
		}
		for _, n := range c.Nodes {
			e.Nodes = append(e.Nodes, nodeJSON(n))
			switch n.Role {
			case engine.RoleServer:
				e.ServersCount++
				if n.Running {
					e.ServersRunning++
				}
			case engine.RoleAgent:
				e.AgentsCount++
				if n.Running {
					e.AgentsRunning++
				}
			case engine.RoleLoadBalancer:
				e.LoadBalancer = true
			}
		}
		out = append(out, e)
	}
	return out
}

// nodeListJSON is what `k3d node list -o json|yaml` prints: the nodes sorted
// by name, as k3d sorts them. k3d prints null for no nodes; we print [],
// which every decoder of a list accepts.
func nodeListJSON(nodes []engine.Node) []*k3dNode {
	out := make([]*k3dNode, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, nodeJSON(n))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func nodeJSON(n engine.Node) *k3dNode {
	out := &k3dNode{
		Name:          n.Name,
		Role:          k3dRole(n.Role),
		Image:         n.Image,
		Volumes:       binds(n.Mounts),
		Env:           n.Env,
		Cmd:           n.Cmd,
		Ports:         portMap(n.Ports),
		Restart:       n.Restart == backends.RestartAlways || n.Restart == backends.RestartUnlessStopped,
		RuntimeLabels: k3dLabels(n.Labels),
		Networks:      clusterNetworkFirst(n.Networks, "k3d-"+n.Cluster),
		Memory:        humanSize(n.MemoryLimit),
		State:         k3dNodeState{Running: n.Running, Status: string(n.Status)},
		IP:            k3dNodeIP{IP: n.IP, Static: n.Labels[engine.LabelNodeStaticIP] != ""},
		ServerOpts: k3dServerOpts{
			// k3d believes the init label only when the command line agrees.
			IsInit: n.Labels[engine.LabelServerIsInit] == "true" && hasArg(n.Cmd, "--cluster-init"),
			KubeAPI: &k3dExposureOpts{
				Binding: k3dPortBinding{HostIP: n.Labels[engine.LabelServerAPIHostIP], HostPort: n.Labels[engine.LabelServerAPIPort]},
				Host:    n.Labels[engine.LabelServerAPIHost],
			},
		},
	}
	if !n.Created.IsZero() {
		// Docker's own spelling of a container's creation time.
		out.Created = n.Created.UTC().Format(time.RFC3339Nano)
	}
	return out
}

// k3dRole is the role as k3d names it; k3d leaves a role it does not know
// empty (and so out of the JSON).
func k3dRole(r engine.Role) string {
	switch r {
	case engine.RoleServer, engine.RoleAgent, engine.RoleLoadBalancer, engine.RoleRegistry:
		return string(r)
	}
	return ""
}

// binds are the node's volume and bind mounts as Docker's HostConfig.Binds
// spells them (SOURCE:DEST[:ro]); tmpfs mounts are not binds.
func binds(mounts []backends.Mount) []string {
	var out []string
	for _, m := range mounts {
		if m.Type != backends.MountBind && m.Type != backends.MountVolume {
			continue
		}
		b := m.Source + ":" + m.Target
		if m.ReadOnly {
			b += ":ro"
		}
		out = append(out, b)
	}
	return out
}

func portMap(ports []backends.PortMapping) map[string][]k3dPortBinding {
	if len(ports) == 0 {
		return nil
	}
	out := map[string][]k3dPortBinding{}
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		key := fmt.Sprintf("%d/%s", p.ContainerPort, proto)
		hostPort := ""
		if p.HostPort != 0 {
			hostPort = strconv.Itoa(int(p.HostPort))
		}
		out[key] = append(out[key], k3dPortBinding{HostIP: p.HostIP, HostPort: hostPort})
	}
	return out
}

// k3dLabels are the labels k3d reports as runtimeLabels: only its own k3d*.
func k3dLabels(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if strings.HasPrefix(k, "k3d") {
			out[k] = v
		}
	}
	return out
}

// clusterNetworkFirst orders networks as k3d does: those named after the
// cluster first, then the others.
func clusterNetworkFirst(nets []string, prefix string) []string {
	var first, rest []string
	for _, n := range nets {
		if strings.HasPrefix(n, prefix) {
			first = append(first, n)
		} else {
			rest = append(rest, n)
		}
	}
	return append(first, rest...)
}

// humanSize spells a memory limit as k3d does (docker/go-units' HumanSize:
// decimal units, four significant digits); no limit is "".
func humanSize(bytes int64) string {
	if bytes <= 0 {
		return ""
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}
	size, i := float64(bytes), 0
	for size >= 1000 && i < len(units)-1 {
		size /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", size, units[i])
}

func hasArg(args []string, prefix string) bool {
	for _, a := range args {
		if strings.Contains(a, prefix) {
			return true
		}
	}
	return false
}
