package engine

import (
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/hostadapt"
)

// DefaultImage is the k3s node image used when none is given.
const DefaultImage = "rancher/k3s:v1.36.1-k3s1"

// CreateClusterOptions is everything `k3d create cluster` can be told. The
// zero value of each field is the default, except Servers (at least 1).
type CreateClusterOptions struct {
	Name    string
	Servers int
	Agents  int
	// Image is the k3s node image; it must be present in the runtime.
	Image string
	// APIPort is "[HOST:][HOST_IP:]PORT": where the Kubernetes API is
	// published on the host. Empty publishes it on 127.0.0.1 at a free port.
	// HOST may be a name, written into the kubeconfig, with the port bound on
	// HOST_IP (default: all addresses).
	APIPort string
	// Ports are "[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL][@FILTER]".
	Ports []string
	// Volumes are "[SOURCE:]DEST[:ro|rw][@FILTER]".
	Volumes []string
	// Env are "KEY=VALUE[@FILTER]".
	Env []string
	// Labels are container labels "KEY=VALUE[@FILTER]".
	Labels []string
	// K3sArgs are "ARG[@FILTER]" added to the k3s command line of the nodes.
	K3sArgs []string
	// Files are host files copied into nodes before they start (a config
	// file's files: section).
	Files []File
	// Token joins nodes to the cluster; empty generates one.
	Token string
	// Network is an existing network to use (kept on delete) or the name of
	// the one to create; empty means k3d-NAME.
	Network string
	// Subnet for the network k3d creates (CIDR).
	Subnet string
	// NoLoadBalancer publishes the API on server-0 instead of a load balancer.
	NoLoadBalancer bool
	// ImageVolume reuses an existing volume for image import (kept on delete).
	ImageVolume string
	// NoImageVolume makes the cluster without the shared image volume.
	NoImageVolume bool
	Datastore     Datastore
	// NoWait returns once the nodes are started, without waiting for them
	// to be ready (and without touching the kubeconfig).
	NoWait bool
	// Timeout bounds the whole create; 0 means no bound.
	Timeout time.Duration
	// NoRollback keeps what a failed create made, for inspection.
	NoRollback bool
	// UpdateKubeconfig merges the cluster's kubeconfig into the engine's
	// kubeconfig file; SwitchContext also makes it the current context.
	UpdateKubeconfig bool
	SwitchContext    bool
	// ServersMemory and AgentsMemory limit each node's memory ("512m", "2g").
	ServersMemory string
	AgentsMemory  string
	// HostAdapt turns host adaptations off (hostadapt.ParseDisabled).
	HostAdapt map[hostadapt.ID]bool
	// Registries are what the nodes pull through (--registry-*).
	Registries ClusterRegistries
	// HostAliases go into every node's /etc/hosts and CoreDNS's NodeHosts.
	HostAliases []HostAlias
	// Ulimits, HostPID and GPUs apply to every server and agent
	// (--runtime-ulimit, --host-pid-mode, --gpus).
	Ulimits []backends.Ulimit
	HostPID bool
	// GPUs is "all" or a count; empty for none.
	GPUs string
	// NoAutoRestart makes nodes that stay down when they exit or the
	// runtime restarts (restart policy "no"); by default they come back
	// unless stopped with k3d (unless-stopped), as in k3d v5.
	NoAutoRestart bool
	// LBConfigOverrides set load balancer settings by k3d v5's dotted
	// paths ("settings.workerConnections=2048").
	LBConfigOverrides []string
}

// File is a host file copied into the nodes its filters select (default:
// every server and agent) before they start, as k3d v5's files: do.
type File struct {
	// Source is a host path.
	Source string
	// Destination is an absolute path in the node, or one of k3d's
	// shortcuts (k3s-manifests, k3s-manifests-custom, k3s-config, ...)
	// optionally followed by /NAME.
	Destination string
	// Filters is a node filter chain ("server:*", "agent:0;agent:1").
	Filters string
}

// Datastore points the servers at an external datastore instead of the
// embedded one. The certificate files are host paths, mounted read-only.
type Datastore struct {
	Endpoint string
	CAFile   string
	CertFile string
	KeyFile  string
	// Network is an existing network the servers also join to reach it.
	Network string
}

// CreateNodeOptions is everything `k3d create node` can be told.
type CreateNodeOptions struct {
	// Name is the base name: nodes are called k3d-NAME-0 ... k3d-NAME-(N-1).
	Name     string
	Cluster  string
	Role     Role
	Replicas int
	// Image defaults to the image of a node of the same role in the cluster.
	Image string
	// Memory limits each node's memory ("512m", "2g").
	Memory  string
	NoWait  bool
	Timeout time.Duration
	// K3sArgs are added to the nodes' k3s command line.
	K3sArgs []string
	// Env are KEY=VALUE pairs added to the nodes' environment.
	Env []string
	// Labels are KEY=VALUE container labels.
	Labels []string
	// Ulimits replace those the cluster's nodes of the role have.
	Ulimits []backends.Ulimit
	// HostAdapt turns host adaptations off (hostadapt.ParseDisabled).
	HostAdapt map[hostadapt.ID]bool
	// Token is the cluster's token, for a Cluster given as a server's URL.
	Token string
	// AutoRestart sets the nodes' restart policy (unless-stopped or no);
	// nil copies the cluster's nodes' (--auto-restart).
	AutoRestart *bool
}

// StartOptions bound starting a cluster or node.
type StartOptions struct {
	NoWait  bool
	Timeout time.Duration
}
