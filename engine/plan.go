package engine

import (
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/loadbalancer"
	"github.com/k3d/k3d/engine/nodefilter"
)

// Paths and values inside k3s nodes that k3d v5 uses too.
const (
	kubeconfigOutput     = "/output/kubeconfig.yaml"
	imageVolumeMountPath = "/k3d/images"
	datastoreCertDir     = "/etc/k3d/datastore"
	hostGatewayName      = "host.k3d.internal"
	apiContainerPort     = 6443
)

// clusterPlan is a validated create: every name, label and spec decided
// before anything is made, so that bad input creates nothing.
type clusterPlan struct {
	opts    CreateClusterOptions
	name    string
	token   string
	url     string
	network networkPlan
	volume  volumePlan
	api     apiPlan
	lb      bool
	// lbSettings are the load balancer's, from --lb-config-override.
	lbSettings loadbalancer.Settings
	// refs are the planned nodes as node filters see them.
	refs []nodefilter.NodeRef
	// extras are what the user's specs add to each node, by name.
	extras map[string]*nodeExtras
	// lbListeners and lbPorts are what the load balancer proxies and publishes
	// besides the API.
	lbListeners []loadbalancer.Listener
	lbPorts     []backends.PortMapping
	serversMem  int64
	agentsMem   int64
	adapt       adaptations
	// adaptOff are adaptations the host needs that the user turned off.
	adaptOff  adaptations
	datastore datastorePlan
	// pull: the node image is not in the runtime; it is pulled once the
	// plan holds and before anything is made.
	pull bool
	// registries is nil when the cluster uses none.
	registries *registriesPlan
}

type networkPlan struct {
	name     string
	external bool
	// exists: use the network that is there (external, or our own leftover).
	exists bool
	subnet string
}

type volumePlan struct {
	name     string
	external bool
	exists   bool
}

// apiPlan is where the Kubernetes API is published.
type apiPlan struct {
	// host goes into the kubeconfig and the servers' --tls-san.
	host string
	// hostIP is the address the port is bound to.
	hostIP string
	port   uint16
	// hold keeps the chosen port taken until the node that publishes it
	// starts, so that nothing else grabs it meanwhile.
	hold net.Listener
}

// release gives up the host ports the plan holds.
func (p *clusterPlan) release() {
	p.api.release()
	p.registries.release()
}

func (a *apiPlan) release() {
	if a.hold != nil {
		a.hold.Close()
		a.hold = nil
	}
}

type datastorePlan struct {
	args   []string
	mounts []backends.Mount
	// network is joined by the servers in addition to the cluster network.
	network string
}

// nodeExtras is what the user's flags add to one node.
type nodeExtras struct {
	ports  []backends.PortMapping
	mounts []backends.Mount
	env    []string
	labels map[string]string
	args   []string
	files  []nodeFile
}

func (p *clusterPlan) extra(name string) *nodeExtras {
	x, ok := p.extras[name]
	if !ok {
		x = &nodeExtras{labels: map[string]string{}}
		p.extras[name] = x
	}
	return x
}

// plannedRefs lists the nodes a create makes, as node filters see them.
func plannedRefs(cluster string, servers, agents int, lb bool) []nodefilter.NodeRef {
	var refs []nodefilter.NodeRef
	for i := 0; i < servers; i++ {
		refs = append(refs, nodefilter.NodeRef{Name: NodeName(cluster, RoleServer, i), Role: nodefilter.RoleServer, Index: i})
	}
	for i := 0; i < agents; i++ {
		refs = append(refs, nodefilter.NodeRef{Name: NodeName(cluster, RoleAgent, i), Role: nodefilter.RoleAgent, Index: i})
	}
	if lb {
		refs = append(refs, nodefilter.NodeRef{Name: LoadBalancerName(cluster), Role: nodefilter.RoleLoadBalancer})
	}
	return refs
}

// globalLabels are the labels every node of the cluster carries, as k3d v5
// writes them.
func (p *clusterPlan) globalLabels(version string, netw backends.Network) map[string]string {
	lbName := ""
	if p.lb {
		lbName = LoadBalancerName(p.name)
	}
	l := map[string]string{
		LabelApp:                LabelAppValue,
		LabelVersion:            version,
		LabelCluster:            p.name,
		LabelClusterToken:       p.token,
		LabelClusterURL:         p.url,
		LabelNetwork:            p.network.name,
		LabelNetworkID:          netw.ID,
		LabelNetworkExternal:    strconv.FormatBool(p.network.external),
		LabelNetworkIPRange:     netw.Subnet,
		LabelImageVolume:        p.volume.name,
		LabelServerLoadBalancer: lbName,
	}
	if p.volume.external {
		l[LabelImageVolumeExternal] = "true"
	}
	if len(p.opts.HostAliases) > 0 {
		l[LabelHostAliases] = encodeHostAliases(p.opts.HostAliases)
	}
	return l
}

// nodeSpecs turns the plan into the specs of every node, given the cluster
// network as created (its ID, subnet and gateway go into labels and hosts).
func (p *clusterPlan) nodeSpecs(version, lbImage string, netw backends.Network) []backends.NodeSpec {
	global := p.globalLabels(version, netw)
	var specs []backends.NodeSpec
	for _, ref := range p.refs {
		role := Role(ref.Role)
		if role == RoleLoadBalancer {
			specs = append(specs, p.lbSpec(global, lbImage))
			continue
		}
		specs = append(specs, p.k3sSpec(ref, global, netw))
	}
	return specs
}

// k3sSpec is one server or agent node.
func (p *clusterPlan) k3sSpec(ref nodefilter.NodeRef, global map[string]string, netw backends.Network) backends.NodeSpec {
	role := Role(ref.Role)
	x := p.extra(ref.Name)
	labels := maps.Clone(global)
	labels[LabelRole] = string(role)
	env := []string{
		"K3S_TOKEN=" + p.token,
		// k3s writes its admin kubeconfig here; k3d reads it back out.
		"K3S_KUBECONFIG_OUTPUT=" + kubeconfigOutput,
	}
	cmd := []string{string(role)}
	var ports []backends.PortMapping
	var networks = []backends.NetworkAttachment{{Network: p.network.name}}
	mem := p.agentsMem
	if role == RoleServer {
		mem = p.serversMem
		labels[LabelServerAPIHost] = p.api.host
		labels[LabelServerAPIHostIP] = p.api.hostIP
		labels[LabelServerAPIPort] = strconv.Itoa(int(p.api.port))
		for _, san := range p.tlsSANs() {
			cmd = append(cmd, "--tls-san", san)
		}
		multi := p.opts.Servers > 1 && p.opts.Datastore.Endpoint == ""
		if multi {
			labels[LabelServerIsInit] = strconv.FormatBool(ref.Index == 0)
		}
		if ref.Index == 0 {
			if multi {
				// The first server starts embedded etcd; the others join it.
				cmd = append(cmd, "--cluster-init")
			}
			if !p.lb {
				ports = append(ports, backends.PortMapping{HostIP: p.api.hostIP, HostPort: p.api.port, ContainerPort: apiContainerPort, Protocol: "tcp"})
			}
		} else if p.opts.Datastore.Endpoint == "" {
			env = append(env, "K3S_URL="+p.url)
		}
		cmd = append(cmd, p.datastore.args...)
		if p.datastore.network != "" {
			networks = append(networks, backends.NetworkAttachment{Network: p.datastore.network})
		}
	} else {
		env = append(env, "K3S_URL="+p.url)
	}
	cmd = append(cmd, p.adapt.k3sArgs()...)
	cmd = append(cmd, x.args...)
	maps.Copy(labels, x.labels)
	env = append(env, x.env...)
	ports = append(ports, x.ports...)

	mounts := []backends.Mount{
		// containerd and the kubelet keep sockets and pid files under /run;
		// a fresh tmpfs on every start keeps a restarted node from tripping
		// over its previous run's state (k3d v5 and kind do the same).
		{Type: backends.MountTmpfs, Target: "/run"},
		{Type: backends.MountTmpfs, Target: "/var/run"},
		// /var/lib/rancher/k3s, /var/lib/kubelet, /var/lib/cni and /var/log
		// are VOLUMEs of the rancher/k3s image: the runtime gives each node
		// anonymous volumes there, so containerd's snapshots do not sit on
		// the node's overlay root (overlay on overlay fails), and deleting
		// the node removes them. Nothing to add here.
	}
	if p.volume.name != "" {
		// Shared by all nodes so that image import keeps a tarball once
		// (--keep-tarball); --no-image-volume leaves it out.
		mounts = append(mounts, backends.Mount{Type: backends.MountVolume, Source: p.volume.name, Target: imageVolumeMountPath})
	}
	if role == RoleServer {
		mounts = append(mounts, p.datastore.mounts...)
	}
	mounts = append(mounts, x.mounts...)

	var hosts []backends.HostEntry
	if netw.Gateway != "" {
		// Lets workloads reach services on the host by a stable name.
		hosts = append(hosts, backends.HostEntry{Hostname: hostGatewayName, IP: netw.Gateway})
	}
	for _, a := range p.opts.HostAliases {
		hosts = append(hosts, a.entries()...)
	}
	return backends.NodeSpec{
		Name:     ref.Name,
		Hostname: ref.Name,
		Image:    p.opts.Image,
		Cmd:      cmd,
		Env:      env,
		Labels:   labels,
		Ports:    ports,
		Mounts:   mounts,
		Networks: networks,
		// k3s runs containerd and the kubelet: it mounts filesystems, creates
		// cgroups, sets sysctls, programs iptables and opens devices such as
		// /dev/kmsg. No capability list covers all of that (kind and k3d v5
		// use privileged too); backends fall back to the most the host grants.
		Privileged: true,
		// A node comes back after a daemon restart or a crash, but stays
		// down once stopped by `k3d stop`.
		RestartPolicy: p.restartPolicy(),
		MemoryLimit:   mem,
		ExtraHosts:    hosts,
		Ulimits:       p.opts.Ulimits,
		HostPID:       p.opts.HostPID,
		GPUs:          p.opts.GPUs,
	}
}

// tlsSANs are the names the API certificate must cover: every way a client
// reaches the servers through the published endpoint or the load balancer.
func (p *clusterPlan) tlsSANs() []string {
	var sans []string
	add := func(s string) {
		if s != "" && !slices.Contains(sans, s) {
			sans = append(sans, s)
		}
	}
	add(p.api.host)
	if p.lb {
		add(LoadBalancerName(p.name))
	}
	add("127.0.0.1")
	add("localhost")
	if p.api.hostIP != "" && p.api.hostIP != "0.0.0.0" {
		add(p.api.hostIP)
	}
	return sans
}

// lbSpec is the load balancer node. It needs nothing from the host: not
// privileged, and its image runs it as an unprivileged user.
func (p *clusterPlan) lbSpec(global map[string]string, image string) backends.NodeSpec {
	name := LoadBalancerName(p.name)
	x := p.extra(name)
	labels := maps.Clone(global)
	labels[LabelRole] = string(RoleLoadBalancer)
	// k3d v5 keeps the API endpoint on the servers; on the load balancer too
	// it lets a cluster whose servers are all gone still say where it was.
	labels[LabelServerAPIHost] = p.api.host
	labels[LabelServerAPIHostIP] = p.api.hostIP
	labels[LabelServerAPIPort] = strconv.Itoa(int(p.api.port))
	maps.Copy(labels, x.labels)
	ports := []backends.PortMapping{{HostIP: p.api.hostIP, HostPort: p.api.port, ContainerPort: apiContainerPort, Protocol: "tcp"}}
	ports = append(ports, p.lbPorts...)
	return backends.NodeSpec{
		Name:     name,
		Hostname: name,
		Image:    image,
		Cmd:      lbCmd(),
		Labels:   labels,
		Ports:    ports,
		Networks: []backends.NetworkAttachment{{Network: p.network.name}},
		// The proxy must come back with the daemon like the nodes behind it.
		RestartPolicy: p.restartPolicy(),
	}
}

func lbCmd() []string {
	return []string{"lb-proxy", "--config", loadbalancer.ConfigDir + "/" + loadbalancer.ConfigFile}
}

// lbConfig is what the load balancer serves: the API on 6443 to every
// server, and the user's proxied ports.
func (p *clusterPlan) lbConfig() loadbalancer.Config {
	var ups []string
	for _, r := range p.refs {
		if r.Role == nodefilter.RoleServer {
			ups = append(ups, net.JoinHostPort(r.Name, strconv.Itoa(apiContainerPort)))
		}
	}
	cfg := loadbalancer.Config{Listeners: []loadbalancer.Listener{{Port: apiContainerPort, Protocol: "tcp", Upstreams: ups}}, Settings: p.lbSettings}
	cfg.Listeners = append(cfg.Listeners, p.lbListeners...)
	return cfg
}

// addLBListener merges upstreams into the listener for port/proto.
func (p *clusterPlan) addLBListener(port uint16, proto string, upstreams []string) error {
	ls, err := withListener(p.lbListeners, port, proto, upstreams)
	p.lbListeners = ls
	return err
}

// withListener merges upstreams into ls's listener for port/proto, adding
// it when missing. The API's 6443/tcp is refused: it forwards to the
// servers only, and k3d manages it.
func withListener(ls []loadbalancer.Listener, port uint16, proto string, upstreams []string) ([]loadbalancer.Listener, error) {
	if port == apiContainerPort && proto == "tcp" {
		return ls, invalidf("port 6443/tcp on the load balancer is the Kubernetes API: choose another container port")
	}
	for i, l := range ls {
		if l.Port == port && l.Protocol == proto {
			for _, u := range upstreams {
				if !slices.Contains(l.Upstreams, u) {
					ls[i].Upstreams = append(ls[i].Upstreams, u)
				}
			}
			return ls, nil
		}
	}
	return append(ls, loadbalancer.Listener{Port: port, Protocol: proto, Upstreams: slices.Clone(upstreams)}), nil
}

func upstreamsFor(refs []nodefilter.NodeRef, port uint16) []string {
	var out []string
	for _, r := range refs {
		if r.Role == nodefilter.RoleServer || r.Role == nodefilter.RoleAgent {
			out = append(out, net.JoinHostPort(r.Name, strconv.Itoa(int(port))))
		}
	}
	return out
}

// restartPolicy is the nodes' and the load balancer's (--auto-restart).
func (p *clusterPlan) restartPolicy() backends.RestartPolicy {
	return restartPolicy(!p.opts.NoAutoRestart)
}

func restartPolicy(auto bool) backends.RestartPolicy {
	if auto {
		return backends.RestartUnlessStopped
	}
	return backends.RestartNo
}
