// Package config reads k3d v5 config files (apiVersion k3d.io/v1alpha5, kind
// Simple) into cluster options, migrates older apiVersions, and writes the
// commented default file.
package config

// APIVersion is the config file version this package reads.
const APIVersion = "k3d.io/v1alpha5"

// KindSimple is the only kind k3d v5 creates clusters from.
const KindSimple = "Simple"

// Simple is k3d v5.9's SimpleConfig, field for field and with its YAML names,
// plus options.runtime.name (see Runtime).
type Simple struct {
	APIVersion  string          `yaml:"apiVersion"`
	Kind        string          `yaml:"kind"`
	Metadata    Metadata        `yaml:"metadata"`
	Servers     *int            `yaml:"servers"`
	Agents      *int            `yaml:"agents"`
	KubeAPI     KubeAPI         `yaml:"kubeAPI"`
	Image       string          `yaml:"image"`
	Network     string          `yaml:"network"`
	Subnet      string          `yaml:"subnet"`
	Token       string          `yaml:"token"`
	Volumes     []VolumeMount   `yaml:"volumes"`
	Ports       []PortMapping   `yaml:"ports"`
	Files       []NodeFile      `yaml:"files"`
	Env         []EnvVar        `yaml:"env"`
	HostAliases []HostAlias     `yaml:"hostAliases"`
	Registries  Registries      `yaml:"registries"`
	Options     Options         `yaml:"options"`
	Manifests   []NamedManifest `yaml:"manifests"`
}

// Metadata holds the cluster's name.
type Metadata struct {
	Name string `yaml:"name"`
}

// KubeAPI is where the Kubernetes API is published: Host goes into the
// kubeconfig, HostIP is the address bound, HostPort the port.
type KubeAPI struct {
	Host     string `yaml:"host"`
	HostIP   string `yaml:"hostIP"`
	HostPort string `yaml:"hostPort"`
}

// VolumeMount is a volume spec ([SOURCE:]DEST[:ro|rw]) and the nodes it goes to.
type VolumeMount struct {
	Volume      string   `yaml:"volume"`
	NodeFilters []string `yaml:"nodeFilters"`
}

// PortMapping is a port spec and the nodes it is published on.
type PortMapping struct {
	Port        string   `yaml:"port"`
	NodeFilters []string `yaml:"nodeFilters"`
}

// NodeFile is a host file copied into nodes before they start.
type NodeFile struct {
	Source      string   `yaml:"source"`
	Destination string   `yaml:"destination"`
	Description string   `yaml:"description"`
	NodeFilters []string `yaml:"nodeFilters"`
}

// EnvVar is KEY=VALUE and the nodes that get it.
type EnvVar struct {
	EnvVar      string   `yaml:"envVar"`
	NodeFilters []string `yaml:"nodeFilters"`
}

// Label is KEY=VALUE and the nodes that get it.
type Label struct {
	Label       string   `yaml:"label"`
	NodeFilters []string `yaml:"nodeFilters"`
}

// K3sArg is a k3s argument and the nodes that get it.
type K3sArg struct {
	Arg         string   `yaml:"arg"`
	NodeFilters []string `yaml:"nodeFilters"`
}

// HostAlias is an /etc/hosts entry for every node.
type HostAlias struct {
	IP        string   `yaml:"ip"`
	Hostnames []string `yaml:"hostnames"`
}

// Registries are the registries a cluster uses or creates.
type Registries struct {
	Use    []string        `yaml:"use"`
	Create *RegistryCreate `yaml:"create"`
	Config string          `yaml:"config"`
}

// RegistryCreate is a registry created with the cluster.
type RegistryCreate struct {
	Name     string        `yaml:"name"`
	Host     string        `yaml:"host"`
	HostPort string        `yaml:"hostPort"`
	Image    string        `yaml:"image"`
	Proxy    RegistryProxy `yaml:"proxy"`
	Volumes  []string      `yaml:"volumes"`
}

// RegistryProxy makes a created registry a pull-through cache.
type RegistryProxy struct {
	RemoteURL string `yaml:"remoteURL"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// NamedManifest is k3d's (undocumented) inline manifest.
type NamedManifest struct {
	Name     string `yaml:"name"`
	Manifest string `yaml:"manifest"`
}

// Options are options.k3d, options.k3s, options.kubeconfig and options.runtime.
type Options struct {
	K3d        K3dOptions        `yaml:"k3d"`
	K3s        K3sOptions        `yaml:"k3s"`
	Kubeconfig KubeconfigOptions `yaml:"kubeconfig"`
	Runtime    RuntimeOptions    `yaml:"runtime"`
}

// K3dOptions steer k3d itself.
type K3dOptions struct {
	Wait                *bool        `yaml:"wait"`
	Timeout             string       `yaml:"timeout"`
	DisableLoadbalancer bool         `yaml:"disableLoadbalancer"`
	DisableImageVolume  bool         `yaml:"disableImageVolume"`
	DisableRollback     bool         `yaml:"disableRollback"`
	Loadbalancer        LoadBalancer `yaml:"loadbalancer"`
	NodeHookActions     []any        `yaml:"nodeHookActions"`
}

// LoadBalancer holds overrides of the load balancer's configuration.
type LoadBalancer struct {
	ConfigOverrides []string `yaml:"configOverrides"`
}

// K3sOptions are what k3s gets.
type K3sOptions struct {
	ExtraArgs  []K3sArg `yaml:"extraArgs"`
	NodeLabels []Label  `yaml:"nodeLabels"`
}

// KubeconfigOptions say what happens to the default kubeconfig.
type KubeconfigOptions struct {
	UpdateDefaultKubeconfig *bool `yaml:"updateDefaultKubeconfig"`
	SwitchCurrentContext    *bool `yaml:"switchCurrentContext"`
}

// RuntimeOptions are what the container runtime gets.
type RuntimeOptions struct {
	// Name is this project's addition: the runtime (docker, podman or
	// containerd) the cluster is created on; k3d v5 only knows Docker.
	Name          string   `yaml:"name"`
	GPURequest    string   `yaml:"gpuRequest"`
	ServersMemory string   `yaml:"serversMemory"`
	AgentsMemory  string   `yaml:"agentsMemory"`
	HostPidMode   bool     `yaml:"hostPidMode"`
	Labels        []Label  `yaml:"labels"`
	Ulimits       []Ulimit `yaml:"ulimits"`
}

// Ulimit is a resource limit for every node.
type Ulimit struct {
	Name string `yaml:"name"`
	Soft int64  `yaml:"soft"`
	Hard int64  `yaml:"hard"`
}
