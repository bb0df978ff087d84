package engine

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/k3d/k3d/backends"
)

// Cluster is a cluster as rebuilt from its nodes' labels.
type Cluster struct {
	Name string `json:"name"`
	// Network is the cluster network; NetworkExternal says k3d did not
	// create it for this cluster, so deleting the cluster keeps it.
	Network         string `json:"network,omitempty"`
	NetworkExternal bool   `json:"networkExternal,omitempty"`
	// ImageVolume is shared by the nodes for image import; external when
	// reused with --image-vol.
	ImageVolume         string `json:"imageVolume,omitempty"`
	ImageVolumeExternal bool   `json:"imageVolumeExternal,omitempty"`
	Token               string `json:"token,omitempty"`
	// URL is where joining nodes reach the cluster (https://k3d-NAME-server-0:6443).
	URL string `json:"url,omitempty"`
	// API is the Kubernetes API endpoint published on the host.
	API   APIEndpoint `json:"api"`
	Nodes []Node      `json:"nodes"`
}

// APIEndpoint is where the Kubernetes API is published on the host.
type APIEndpoint struct {
	// Host is the name or address written into the kubeconfig.
	Host string `json:"host,omitempty"`
	// HostIP is the address the port is bound to.
	HostIP string `json:"hostIP,omitempty"`
	Port   string `json:"port,omitempty"`
}

// Node is a node as the runtime reports it, seen through k3d's labels.
type Node struct {
	Name    string                 `json:"name"`
	Cluster string                 `json:"cluster,omitempty"`
	Role    Role                   `json:"role"`
	Image   string                 `json:"image"`
	Status  backends.NodeStatus    `json:"status"`
	Running bool                   `json:"running"`
	IP      string                 `json:"ip,omitempty"`
	Ports   []backends.PortMapping `json:"ports,omitempty"`
	Labels  map[string]string      `json:"labels,omitempty"`
	Created time.Time              `json:"created"`
	// Cmd is what the node runs; kept for copying onto nodes added later.
	Cmd []string `json:"-"`
	Env []string `json:"-"`
	// Mounts are kept for copying onto nodes added later.
	Mounts      []backends.Mount `json:"-"`
	MemoryLimit int64            `json:"-"`
	// Networks are the networks the node is attached to, and Restart its
	// restart policy: `k3d node list -o json` reports both, as k3d v5 does.
	Networks []string               `json:"-"`
	Restart  backends.RestartPolicy `json:"-"`
}

func nodeFromRuntime(n backends.Node) Node {
	out := Node{
		Name:        n.Name,
		Cluster:     n.Labels[LabelCluster],
		Role:        Role(n.Labels[LabelRole]),
		Image:       n.Image,
		Status:      n.State.Status,
		Running:     n.State.Running,
		Ports:       n.Ports,
		Labels:      n.Labels,
		Created:     n.Created,
		Cmd:         n.Cmd,
		Env:         n.Env,
		Mounts:      n.Mounts,
		MemoryLimit: n.MemoryLimit,
		Restart:     n.RestartPolicy,
	}
	net := n.Labels[LabelNetwork]
	for _, a := range n.Networks {
		out.Networks = append(out.Networks, a.Network)
		if a.Network == net || out.IP == "" {
			out.IP = a.IPv4
		}
	}
	return out
}

// Servers returns the cluster's server nodes, ordered by index.
func (c Cluster) Servers() []Node { return c.byRole(RoleServer) }

// Agents returns the cluster's agent nodes, ordered by index.
func (c Cluster) Agents() []Node { return c.byRole(RoleAgent) }

// LoadBalancer returns the cluster's load balancer node, if it has one.
func (c Cluster) LoadBalancer() (Node, bool) {
	lbs := c.byRole(RoleLoadBalancer)
	if len(lbs) == 0 {
		return Node{}, false
	}
	return lbs[0], true
}

func (c Cluster) byRole(r Role) []Node {
	var out []Node
	for _, n := range c.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

// Running counts the running nodes among nodes.
func Running(nodes []Node) int {
	n := 0
	for _, nd := range nodes {
		if nd.Running {
			n++
		}
	}
	return n
}

// sortNodes orders servers, agents, then the rest, by index within a role.
func sortNodes(nodes []Node) {
	rank := map[Role]int{RoleServer: 0, RoleAgent: 1, RoleLoadBalancer: 2}
	sort.SliceStable(nodes, func(i, j int) bool {
		ri, ok := rank[nodes[i].Role]
		if !ok {
			ri = 3
		}
		rj, ok := rank[nodes[j].Role]
		if !ok {
			rj = 3
		}
		if ri != rj {
			return ri < rj
		}
		ii, ij := nodeIndex(nodes[i].Name), nodeIndex(nodes[j].Name)
		if ii != ij {
			return ii < ij
		}
		return nodes[i].Name < nodes[j].Name
	})
}

// clusterFromNodes rebuilds a cluster from its nodes' labels, the way k3d v5
// does: the first node that carries a label decides its value.
func clusterFromNodes(name string, nodes []Node) Cluster {
	c := Cluster{Name: name, Nodes: nodes}
	sortNodes(c.Nodes)
	for _, n := range c.Nodes {
		l := n.Labels
		if c.Network == "" && l[LabelNetwork] != "" {
			c.Network = l[LabelNetwork]
			c.NetworkExternal = isTrue(l, LabelNetworkExternal)
		}
		if c.ImageVolume == "" && l[LabelImageVolume] != "" {
			c.ImageVolume = l[LabelImageVolume]
			c.ImageVolumeExternal = isTrue(l, LabelImageVolumeExternal)
		}
		if c.Token == "" {
			c.Token = l[LabelClusterToken]
		}
		if c.URL == "" {
			c.URL = l[LabelClusterURL]
		}
		if c.API.Port == "" && n.Role == RoleServer && l[LabelServerAPIPort] != "" {
			c.API = APIEndpoint{Host: l[LabelServerAPIHost], HostIP: l[LabelServerAPIHostIP], Port: l[LabelServerAPIPort]}
		}
	}
	if c.API.Port == "" {
		// Nodes added by hand or a cluster whose servers are gone: the
		// published 6443 port still says where the API is.
		for _, n := range c.Nodes {
			for _, p := range n.Ports {
				if p.ContainerPort == 6443 && (n.Role == RoleLoadBalancer || n.Role == RoleServer) {
					c.API = APIEndpoint{HostIP: p.HostIP, Port: fmt.Sprint(p.HostPort)}
				}
			}
		}
	}
	return c
}

// ListClusters returns every cluster whose nodes the runtime holds, by name.
func (e *Engine) ListClusters(ctx context.Context) ([]Cluster, error) {
	nodes, err := e.rt.ListNodes(ctx, appSelector())
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	byCluster := map[string][]Node{}
	for _, n := range nodes {
		name := n.Labels[LabelCluster]
		role := Role(n.Labels[LabelRole])
		// Registries serve several clusters and are not part of one; nodes
		// that joined a cluster elsewhere by URL are not a cluster here.
		if name == "" || role == RoleRegistry || isTrue(n.Labels, LabelClusterExternal) {
			continue
		}
		byCluster[name] = append(byCluster[name], nodeFromRuntime(n))
	}
	out := make([]Cluster, 0, len(byCluster))
	for name, ns := range byCluster {
		out = append(out, clusterFromNodes(name, ns))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetCluster rebuilds one cluster; a cluster without nodes is not found.
func (e *Engine) GetCluster(ctx context.Context, name string) (Cluster, error) {
	nodes, err := e.clusterNodes(ctx, name)
	if err != nil {
		return Cluster{}, err
	}
	if len(nodes) == 0 {
		return Cluster{}, notFoundf("cluster %s not found: list clusters with `k3d get cluster`", name)
	}
	return clusterFromNodes(name, nodes), nil
}

func (e *Engine) clusterNodes(ctx context.Context, name string) ([]Node, error) {
	// k3d v5 finds a cluster's nodes by k3d.cluster alone; so do we, so
	// that nodes it made are found too.
	list, err := e.rt.ListNodes(ctx, map[string]string{LabelCluster: name})
	if err != nil {
		return nil, fmt.Errorf("list nodes of cluster %s: %w", name, err)
	}
	var out []Node
	for _, n := range list {
		if Role(n.Labels[LabelRole]) == RoleRegistry {
			continue
		}
		out = append(out, nodeFromRuntime(n))
	}
	return out, nil
}

// ListNodes returns every k3d node, sorted by cluster then role and index.
func (e *Engine) ListNodes(ctx context.Context) ([]Node, error) {
	list, err := e.rt.ListNodes(ctx, appSelector())
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	out := make([]Node, 0, len(list))
	for _, n := range list {
		// Objects labelled app=k3d that belong to no cluster are not nodes.
		if n.Labels[LabelCluster] == "" {
			continue
		}
		out = append(out, nodeFromRuntime(n))
	}
	sortNodes(out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Cluster < out[j].Cluster })
	return out, nil
}

// GetNode returns one k3d node by name.
func (e *Engine) GetNode(ctx context.Context, name string) (Node, error) {
	n, err := e.rt.InspectNode(ctx, name)
	if err != nil {
		if backends.IsNotFound(err) {
			return Node{}, notFoundf("node %s not found: list nodes with `k3d get node`", name)
		}
		return Node{}, wrapf(err, "inspect node %s", name)
	}
	if n.Labels[LabelApp] != LabelAppValue {
		return Node{}, invalidf("%s is not a k3d node (it has no app=k3d label)", name)
	}
	return nodeFromRuntime(n), nil
}
