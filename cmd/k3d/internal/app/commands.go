package app

// Globals are the flags every command takes.
type Globals struct {
	Runtime string `help:"Container runtime: docker, podman or containerd (default: K3D_RUNTIME, else the first one found running)." placeholder:"NAME"`
	Verbose bool   `help:"Show debug output, including the backend's own log."`
	Trace   bool   `help:"Show trace output (more than --verbose)."`
}

// CLI is the command tree: the seed's verb-noun form (`k3d create cluster`)
// and the noun-verb form k3d v5 users type (`k3d cluster create`) run the
// same commands.
type CLI struct {
	Globals

	Create CreateCmd `cmd:"" help:"Create a cluster, nodes, a registry, a volume or a network."`
	Delete DeleteCmd `cmd:"" help:"Delete clusters, nodes or registries."`
	Get    GetCmd    `cmd:"" help:"List clusters, nodes or registries, or print a kubeconfig."`
	Start  StartCmd  `cmd:"" help:"Start clusters, nodes or registries."`
	Stop   StopCmd   `cmd:"" help:"Stop clusters, nodes or registries."`
	Edit   EditCmd   `cmd:"" help:"Change a running cluster's load balancer ports."`
	Prune  PruneCmd  `cmd:"" help:"Remove dangling k3d nodes, volumes and networks."`
	Shell  ShellCmd  `cmd:"" help:"Start a shell (or run a command after --) with KUBECONFIG set to one cluster only."`

	Version     VersionCmd     `cmd:"" help:"Print k3d's version and the runtimes it can drive."`
	Completion  CompletionCmd  `cmd:"" help:"Print shell code for tab completion: source <(k3d completion bash|zsh|fish)."`
	RuntimeInfo RuntimeInfoCmd `cmd:"" name:"runtime-info" help:"Print what the container runtime says about itself and its host."`

	Cluster    ClusterNounCmd    `cmd:"" help:"Manage clusters (k3d v5 form: k3d cluster create|delete|list|start|stop)."`
	Node       NodeNounCmd       `cmd:"" help:"Manage nodes (k3d v5 form: k3d node create|delete|list|start|stop)."`
	Registry   RegistryNounCmd   `cmd:"" aliases:"registries,reg" help:"Manage registries (k3d v5 form: k3d registry create|delete|list|start|stop)."`
	Kubeconfig KubeconfigNounCmd `cmd:"" help:"Get, merge or write kubeconfigs (k3d v5 form)."`
	Image      ImageNounCmd      `cmd:"" aliases:"images" help:"Import images into a cluster (k3d image import|load)."`
	Config     ConfigNounCmd     `cmd:"" help:"Write or migrate k3d.io config files (k3d config init|migrate)."`
	Tools      ToolsCmd          `cmd:"" hidden:"" help:"The seed's tools (k3d tools import-images)."`

	LBProxy LBProxyCmd `cmd:"" name:"lb-proxy" hidden:"" help:"Run the load balancer proxy (inside the load balancer node)."`
}

// CreateCmd groups the create commands.
type CreateCmd struct {
	Cluster  CreateClusterCmd  `cmd:"" help:"Create a cluster."`
	Node     CreateNodeCmd     `cmd:"" help:"Add nodes to a running cluster."`
	Registry CreateRegistryCmd `cmd:"" help:"Create a registry."`
	Volume   CreateVolumeCmd   `cmd:"" help:"Create a volume for --image-vol (kept when clusters are deleted)."`
	Network  CreateNetworkCmd  `cmd:"" help:"Create a network for --network (kept when clusters are deleted)."`
}

// DeleteCmd groups the delete commands.
type DeleteCmd struct {
	Cluster  DeleteClusterCmd  `cmd:"" help:"Delete clusters and everything they own."`
	Node     DeleteNodeCmd     `cmd:"" help:"Delete nodes."`
	Registry DeleteRegistryCmd `cmd:"" help:"Delete registries."`
}

// GetCmd groups the get commands.
type GetCmd struct {
	Cluster    GetClusterCmd    `cmd:"" aliases:"clusters" help:"List clusters."`
	Node       GetNodeCmd       `cmd:"" aliases:"nodes" help:"List nodes."`
	Registry   GetRegistryCmd   `cmd:"" aliases:"registries" help:"List registries."`
	Kubeconfig GetKubeconfigCmd `cmd:"" help:"Print or write the kubeconfig of clusters."`
}

// StartCmd groups the start commands.
type StartCmd struct {
	Cluster  StartClusterCmd  `cmd:"" help:"Start clusters and wait until they are ready."`
	Node     StartNodeCmd     `cmd:"" help:"Start nodes."`
	Registry StartRegistryCmd `cmd:"" help:"Start registries."`
}

// StopCmd groups the stop commands.
type StopCmd struct {
	Cluster  StopClusterCmd  `cmd:"" help:"Stop clusters."`
	Node     StopNodeCmd     `cmd:"" help:"Stop nodes."`
	Registry StopRegistryCmd `cmd:"" help:"Stop registries."`
}

// ClusterNounCmd is `k3d cluster ...`.
type ClusterNounCmd struct {
	Create CreateClusterCmd `cmd:"" help:"Create a cluster."`
	Delete DeleteClusterCmd `cmd:"" aliases:"rm" help:"Delete clusters."`
	List   GetClusterCmd    `cmd:"" aliases:"ls,get" help:"List clusters."`
	Start  StartClusterCmd  `cmd:"" help:"Start clusters."`
	Stop   StopClusterCmd   `cmd:"" help:"Stop clusters."`
	Edit   EditClusterCmd   `cmd:"" help:"Add or remove the load balancer's published ports."`
}

// NodeNounCmd is `k3d node ...`.
type NodeNounCmd struct {
	Create CreateNodeCmd `cmd:"" help:"Add nodes to a running cluster."`
	Delete DeleteNodeCmd `cmd:"" aliases:"rm" help:"Delete nodes."`
	List   GetNodeCmd    `cmd:"" aliases:"ls,get" help:"List nodes."`
	Start  StartNodeCmd  `cmd:"" help:"Start nodes."`
	Stop   StopNodeCmd   `cmd:"" help:"Stop nodes."`
	Edit   EditNodeCmd   `cmd:"" help:"Add or remove a load balancer's published ports."`
}

// KubeconfigNounCmd is `k3d kubeconfig ...`.
type KubeconfigNounCmd struct {
	Get   GetKubeconfigCmd   `cmd:"" help:"Print the kubeconfig of clusters."`
	Merge MergeKubeconfigCmd `cmd:"" help:"Merge the kubeconfig of clusters into a kubeconfig file."`
	Write WriteKubeconfigCmd `cmd:"" help:"Write the kubeconfig of a cluster to its own file."`
}

// EditCmd groups the edit commands.
type EditCmd struct {
	Cluster EditClusterCmd `cmd:"" help:"Add or remove the load balancer's published ports."`
	Node    EditNodeCmd    `cmd:"" help:"Add or remove a load balancer's published ports."`
}
