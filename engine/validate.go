package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/k3d/k3d/backends"
)

// maxNodesPerRole keeps node names and port ranges sane.
const maxNodesPerRole = 99

// planCluster checks everything about a create before anything is made and
// decides every name. It only reads from the runtime.
func (e *Engine) planCluster(ctx context.Context, o CreateClusterOptions) (p *clusterPlan, err error) {
	if o.Name == "" {
		o.Name = DefaultClusterName
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if err := ValidateClusterName(o.Name); err != nil {
		return nil, err
	}
	if o.Servers < 1 {
		return nil, invalidf("--servers is %d: a cluster needs at least 1 server", o.Servers)
	}
	if o.Servers > maxNodesPerRole || o.Agents > maxNodesPerRole {
		return nil, invalidf("at most %d servers and %d agents per cluster", maxNodesPerRole, maxNodesPerRole)
	}
	if o.Agents < 0 {
		return nil, invalidf("--agents is %d: give 0 or more", o.Agents)
	}
	if o.Timeout < 0 {
		return nil, invalidf("--timeout is %s: give a positive duration such as 2m, or 0 for none", o.Timeout)
	}
	p = &clusterPlan{
		opts:   o,
		name:   o.Name,
		lb:     !o.NoLoadBalancer,
		extras: map[string]*nodeExtras{},
	}
	p.url = fmt.Sprintf("https://%s:%d", NodeName(o.Name, RoleServer, 0), apiContainerPort)
	p.refs = plannedRefs(o.Name, o.Servers, o.Agents, p.lb)
	for _, a := range o.HostAliases {
		if err := a.validate("--host-alias " + a.IP + ":" + strings.Join(a.Hostnames, ",")); err != nil {
			return nil, err
		}
	}
	if err := backends.CheckUlimits(o.Ulimits); err != nil {
		return nil, invalidf("--runtime-ulimit: %v", err)
	}
	if _, err := backends.GPUCount(o.GPUs); err != nil {
		return nil, invalidf("--gpus: %v", err)
	}
	if len(o.LBConfigOverrides) > 0 && !p.lb {
		return nil, invalidf("--lb-config-override with --no-lb: there is no load balancer to configure")
	}
	for _, kv := range o.LBConfigOverrides {
		if err := p.lbSettings.ApplyOverride(kv); err != nil {
			return nil, invalidf("--lb-config-override %v", err)
		}
	}
	if p.serversMem, err = parseMemory("--servers-memory", o.ServersMemory); err != nil {
		return nil, err
	}
	if p.agentsMem, err = parseMemory("--agents-memory", o.AgentsMemory); err != nil {
		return nil, err
	}
	if o.Subnet != "" {
		if _, err := netip.ParsePrefix(o.Subnet); err != nil {
			return nil, invalidf("--subnet %q is not a CIDR such as 172.28.0.0/16", o.Subnet)
		}
	}
	if o.Network == "host" {
		return nil, invalidf("--network host is not supported: nodes need a network of their own")
	}
	if err := p.planDatastore(); err != nil {
		return nil, err
	}
	local := true
	info, err := e.Info(ctx)
	if err != nil {
		return nil, err
	}
	local = isLocalEndpoint(info.Endpoint)
	if err := p.planAPI(local); err != nil {
		return nil, err
	}
	planned := p
	defer func() {
		if err != nil {
			planned.release()
		}
	}()
	if err := p.resolveSpecs(local, e.lookupEnv); err != nil {
		return nil, err
	}
	if p.adapt, err = decideAdaptations(info, o.HostAdapt, userK3sArgs(o.K3sArgs), o.Image); err != nil {
		return nil, err
	}
	p.adaptOff = turnedOff(info, o.HostAdapt, userK3sArgs(o.K3sArgs), o.Image)

	p.token = o.Token
	if p.token == "" {
		p.token = randomToken()
	}

	// From here on: what the runtime holds must not clash with the plan.
	ok, err := e.imagePresent(ctx, o.Image)
	if err != nil {
		return nil, err
	}
	p.pull = !ok
	existing, err := e.clusterNodes(ctx, o.Name)
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return nil, existsf("cluster %s already exists: delete it with `k3d delete cluster %s` or choose another name", o.Name, o.Name)
	}
	refNames := make([]string, len(p.refs))
	for i, r := range p.refs {
		refNames[i] = r.Name
	}
	if name, err := e.takenName(ctx, refNames); err != nil {
		return nil, err
	} else if name != "" {
		return nil, existsf("a container named %s exists already: remove it or choose another cluster name", name)
	}
	if err := e.planNetwork(ctx, p); err != nil {
		return nil, err
	}
	if err := e.planVolume(ctx, p); err != nil {
		return nil, err
	}
	if err := e.planRegistries(ctx, p); err != nil {
		return nil, err
	}
	if p.datastore.network != "" {
		if _, err := e.rt.InspectNetwork(ctx, p.datastore.network); err != nil {
			if backends.IsNotFound(err) {
				return nil, notFoundf("--datastore-network %s does not exist: create it first", p.datastore.network)
			}
			return nil, wrapf(err, "inspect network %s", p.datastore.network)
		}
	}
	return p, nil
}

// planNetwork decides whether the cluster network is created or reused. A
// network that exists and was not made for this cluster is external, as in
// k3d v5: it is used but never deleted with the cluster.
func (e *Engine) planNetwork(ctx context.Context, p *clusterPlan) error {
	name := p.opts.Network
	if name == "" {
		name = NetworkName(p.name)
	}
	p.network = networkPlan{name: name, subnet: p.opts.Subnet}
	n, err := e.rt.InspectNetwork(ctx, name)
	if backends.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return wrapf(err, "inspect network %s", name)
	}
	if p.opts.Network == "" && isTrue(n.Labels, LabelClusterExternal) {
		return existsf("network %s belongs to agents that joined %s (k3d node create %s --cluster URL): choose another cluster name", name, n.Labels[LabelCluster], p.name)
	}
	if p.opts.Subnet != "" {
		return invalidf("--subnet cannot apply to network %s, which exists already: leave --subnet out or name a new network", name)
	}
	p.network.exists = true
	// A network left behind by an earlier create of this same cluster is
	// still ours to delete; anything else is the user's.
	ours := n.Labels[LabelApp] == LabelAppValue && n.Labels[LabelCluster] == p.name && !isTrue(n.Labels, LabelNetworkExternal)
	p.network.external = !ours
	return nil
}

// planVolume decides whether the image volume is created or reused.
func (e *Engine) planVolume(ctx context.Context, p *clusterPlan) error {
	if p.opts.NoImageVolume {
		if p.opts.ImageVolume != "" {
			return invalidf("--no-image-volume and --image-vol %s contradict each other: leave one out", p.opts.ImageVolume)
		}
		return nil // image import streams into each node; only --keep-tarball needs the volume
	}
	if p.opts.ImageVolume != "" {
		if _, err := e.rt.InspectVolume(ctx, p.opts.ImageVolume); err != nil {
			if backends.IsNotFound(err) {
				return notFoundf("--image-vol %s does not exist: create one with `k3d create volume NAME` and pass the name it prints, or leave --image-vol out", p.opts.ImageVolume)
			}
			return wrapf(err, "inspect volume %s", p.opts.ImageVolume)
		}
		p.volume = volumePlan{name: p.opts.ImageVolume, external: true, exists: true}
		return nil
	}
	name := ImageVolumeName(p.name)
	p.volume = volumePlan{name: name}
	v, err := e.rt.InspectVolume(ctx, name)
	if backends.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return wrapf(err, "inspect volume %s", name)
	}
	p.volume.exists = true
	ours := v.Labels[LabelApp] == LabelAppValue && v.Labels[LabelCluster] == p.name && !isTrue(v.Labels, LabelImageVolumeExternal)
	p.volume.external = !ours
	return nil
}

// planAPI parses --api-port and makes sure the port is free now (and stays
// free: the port is held until the publishing node starts).
func (p *clusterPlan) planAPI(local bool) error {
	host, hostIP, port := "127.0.0.1", "127.0.0.1", uint16(0)
	if s := p.opts.APIPort; s != "" {
		h, bindIP, ps := "", "", s
		// k3d's HOST:HOST_IP:PORT: a name for the kubeconfig, bound on one address.
		if parts := strings.Split(s, ":"); len(parts) == 3 && !strings.Contains(s, "[") {
			if ip, err := netip.ParseAddr(parts[1]); err == nil && ip.Is4() {
				h, bindIP, ps = parts[0], ip.String(), parts[2]
				s = h + ":" + ps
			}
		}
		if bindIP == "" && strings.Contains(s, ":") {
			var err error
			h, ps, err = net.SplitHostPort(s)
			if err != nil {
				return invalidf("--api-port %q is not [HOST:][HOST_IP:]PORT (e.g. 6550, 0.0.0.0:6550 or k3d.local:127.0.0.1:6550)", s)
			}
		}
		if ps != "" && ps != "random" {
			n, err := strconv.ParseUint(ps, 10, 16)
			if err != nil {
				return invalidf("--api-port %q: port %q is not a number from 1 to 65535", s, ps)
			}
			port = uint16(n)
		}
		if h != "" {
			host = h
			if ip, err := netip.ParseAddr(h); err == nil {
				hostIP = ip.String()
			} else {
				// A name goes into the kubeconfig; the port is bound on all
				// addresses, since the name may resolve to any of them.
				if !dns1123Subdomain.MatchString(h) {
					return invalidf("--api-port %q: %q is neither an IP address nor a host name", s, h)
				}
				hostIP = "0.0.0.0"
			}
		}
		if bindIP != "" {
			hostIP = bindIP
		}
	}
	p.api = apiPlan{host: host, hostIP: hostIP, port: port}
	if !local {
		if port == 0 {
			return invalidf("the runtime is remote: give the API port with --api-port HOST:PORT")
		}
		return nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(hostIP, strconv.Itoa(int(port))))
	if err != nil {
		if port == 0 {
			return invalidf("cannot find a free port on %s for the Kubernetes API: %v", hostIP, err)
		}
		return invalidf("API port %s:%d is not available (%v): choose another with --api-port", hostIP, port, unwrapOpError(err))
	}
	p.api.port = uint16(l.Addr().(*net.TCPAddr).Port)
	p.api.hold = l
	return nil
}

var dns1123Subdomain = regexp.MustCompile(`^[a-z0-9A-Z]([-a-z0-9A-Z]*[a-z0-9A-Z])?(\.[a-z0-9A-Z]([-a-z0-9A-Z]*[a-z0-9A-Z])?)*$`)

// planDatastore checks the external datastore flags.
func (p *clusterPlan) planDatastore() error {
	d := p.opts.Datastore
	if d.Endpoint == "" {
		if d.CAFile != "" || d.CertFile != "" || d.KeyFile != "" || d.Network != "" {
			return invalidf("--datastore-cafile, -certfile, -keyfile and -network need --datastore-endpoint")
		}
		return nil
	}
	p.datastore.args = []string{"--datastore-endpoint", d.Endpoint}
	p.datastore.network = d.Network
	for _, f := range []struct{ flag, path, file, arg string }{
		{"--datastore-cafile", d.CAFile, "ca.crt", "--datastore-cafile"},
		{"--datastore-certfile", d.CertFile, "client.crt", "--datastore-certfile"},
		{"--datastore-keyfile", d.KeyFile, "client.key", "--datastore-keyfile"},
	} {
		if f.path == "" {
			continue
		}
		abs, err := filepath.Abs(f.path)
		if err != nil {
			return invalidf("%s %q: %v", f.flag, f.path, err)
		}
		st, err := os.Stat(abs)
		if err != nil || !st.Mode().IsRegular() {
			return invalidf("%s %s is not a readable file", f.flag, f.path)
		}
		target := datastoreCertDir + "/" + f.file
		p.datastore.mounts = append(p.datastore.mounts, backends.Mount{Type: backends.MountBind, Source: abs, Target: target, ReadOnly: true})
		p.datastore.args = append(p.datastore.args, f.arg, target)
	}
	return nil
}

// isLocalEndpoint reports whether ports the runtime publishes are on this
// host, so that they can be checked and reserved here.
func isLocalEndpoint(endpoint string) bool {
	return endpoint == "" || strings.HasPrefix(endpoint, "unix://") || strings.HasPrefix(endpoint, "/") || strings.HasPrefix(endpoint, "npipe://")
}

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomToken makes a cluster token from crypto/rand (k3d v5 uses 20 letters).
func randomToken() string {
	b := make([]byte, 32)
	max := big.NewInt(int64(len(tokenAlphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(fmt.Sprintf("crypto/rand: %v", err))
		}
		b[i] = tokenAlphabet[n.Int64()]
	}
	return string(b)
}

var memoryRe = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)[iI]?[bB]?$`)

// parseMemory reads "512m", "2g", "1.5Gi" or a byte count (binary units, as
// docker's --memory and k3d v5 read them).
func parseMemory(flag, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	m := memoryRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, invalidf("%s %q is not a memory size such as 512m or 2g", flag, s)
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[strings.ToLower(m[2])]
	n := int64(f * mult)
	if n < 6<<20 {
		return 0, invalidf("%s %q is below the 6 MiB a container needs at least", flag, s)
	}
	return n, nil
}

func unwrapOpError(err error) error {
	if oe, ok := err.(*net.OpError); ok && oe.Err != nil {
		return oe.Err
	}
	return err
}

// howToGetImage says how a user makes an image present in a runtime without
// a registry, and where workload images go instead.
func howToGetImage(runtime, ref string) string {
	var load, tag string
	switch runtime {
	case "docker", "podman":
		load = fmt.Sprintf("`%s load -i FILE`", runtime)
		tag = fmt.Sprintf("`%s tag IMAGE %s`", runtime, ref)
	case "containerd":
		// The containerd backend keeps k3d's images in the k3d namespace.
		load = "`ctr -n k3d images import FILE`"
		tag = fmt.Sprintf("`ctr -n k3d images tag IMAGE %s`", ref)
	default:
		return fmt.Sprintf("load it into the runtime from a tarball, or tag a present image as %s, with the runtime's own tools; workload images go into a cluster with `k3d image import`, not --image", ref)
	}
	return fmt.Sprintf("load it into %s from a tarball (%s) or tag a present image with that name (%s); workload images go into a cluster with `k3d image import`, not --image", runtime, load, tag)
}
