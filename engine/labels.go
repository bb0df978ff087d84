package engine

// Labels k3d v5 writes on the objects it creates. Every value a later command
// needs (token, network, API endpoint, image volume) is kept here, because the
// runtime is the only state there is: any k3d process must be able to rebuild a
// cluster from these labels alone. The spellings are k3d v5's so that clusters
// made by either tool show up in the other.
const (
	LabelApp                 = "app"
	LabelAppValue            = "k3d"
	LabelVersion             = "k3d.version"
	LabelCluster             = "k3d.cluster"
	LabelClusterURL          = "k3d.cluster.url"
	LabelClusterToken        = "k3d.cluster.token"
	LabelImageVolume         = "k3d.cluster.imageVolume"
	LabelNetwork             = "k3d.cluster.network"
	LabelNetworkID           = "k3d.cluster.network.id"
	LabelNetworkExternal     = "k3d.cluster.network.external"
	LabelNetworkIPRange      = "k3d.cluster.network.iprange"
	LabelRole                = "k3d.role"
	LabelServerAPIPort       = "k3d.server.api.port"
	LabelServerAPIHost       = "k3d.server.api.host"
	LabelServerAPIHostIP     = "k3d.server.api.hostIP"
	LabelServerIsInit        = "k3d.server.init"
	LabelServerLoadBalancer  = "k3d.server.loadbalancer"
	LabelNodeStaticIP        = "k3d.node.staticIP"
	LabelImageVolumeExternal = "k3d.volumes.imagevolume.external"
)

// Role is what a node does in a cluster, as stored in the k3d.role label.
type Role string

const (
	RoleServer       Role = "server"
	RoleAgent        Role = "agent"
	RoleLoadBalancer Role = "loadbalancer"
	RoleRegistry     Role = "registry"
)

// ParseRole accepts the role names a user types, including the seed's
// master/worker spellings.
func ParseRole(s string) (Role, bool) {
	switch s {
	case "server", "servers", "master", "masters":
		return RoleServer, true
	case "agent", "agents", "worker", "workers":
		return RoleAgent, true
	case "loadbalancer", "lb":
		return RoleLoadBalancer, true
	}
	return "", false
}

// k3sNode reports whether nodes of role r run k3s.
func (r Role) k3sNode() bool { return r == RoleServer || r == RoleAgent }

// appSelector selects every object k3d made.
func appSelector() map[string]string { return map[string]string{LabelApp: LabelAppValue} }

// clusterSelector selects every object of one cluster.
func clusterSelector(cluster string) map[string]string {
	return map[string]string{LabelApp: LabelAppValue, LabelCluster: cluster}
}

// isTrue reads a boolean label the way k3d v5 writes it ("true"/"false").
func isTrue(labels map[string]string, key string) bool {
	return labels[key] == "true"
}
