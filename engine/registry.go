package engine

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/filelock"
	"github.com/k3d/k3d/engine/helperimage"
	"github.com/k3d/k3d/engine/registriesyaml"
)

// Labels k3d v5 writes on registry nodes (its spellings, k3s. prefix included).
const (
	LabelRegistryHost         = "k3d.registry.host"
	LabelRegistryHostIP       = "k3d.registry.hostIP"
	LabelRegistryPortExternal = "k3s.registry.port.external"
	LabelRegistryPortInternal = "k3s.registry.port.internal"
	// LabelRegistryProxy is the remote a pull-through cache serves; the
	// mirrors of the clusters that use the registry include it.
	LabelRegistryProxy = "k3d.registry.proxy.remoteURL"
)

const (
	// RegistryNetwork is the network registries join when no other is given:
	// runtimes differ in their default network (Docker's bridge, Podman's
	// podman, none on containerd), so k3d keeps one of its own.
	RegistryNetwork = "k3d-registries"
	// registryPort is where the registry listens inside its node.
	registryPort = 5000
	// registryStorage is where registry:2 and k3d-registry keep images.
	registryStorage = "/var/lib/registry"
	// registryReadyTimeout bounds the wait for a new registry to answer.
	registryReadyTimeout = 30 * time.Second
)

// RegistryOptions is everything `k3d registry create` can be told.
type RegistryOptions struct {
	// Name is the registry's name; the node is k3d-NAME.
	Name string
	// Image runs the registry; empty builds k3d's own from k3d-registry.
	Image string
	// Port is "[HOST:]HOSTPORT": where the registry is published on the
	// host; empty or "random" picks a free port. HOST is an IP to bind or a
	// name pushes go to (bound on all addresses).
	Port string
	// Volumes are "SOURCE:DEST" mounts into the registry node.
	Volumes []string
	// Network is the network the registry is created on (default
	// k3d-registries, created when missing).
	Network string
	// Proxy makes the registry a pull-through cache of a remote registry.
	Proxy RegistryProxy
	// DeleteEnabled lets clients delete images.
	DeleteEnabled bool
	// EnforcePortMatch makes the registry listen inside its node on its host port.
	EnforcePortMatch bool
	// Cluster owns the registry: it is deleted with the cluster.
	Cluster string
}

// RegistryProxy is the remote a pull-through cache serves.
type RegistryProxy struct {
	RemoteURL string
	Username  string
	Password  string
}

// Registry is a registry node with where it is reachable.
type Registry struct {
	Node
	// Host is the name pushes from the host go to (k3d.registry.host);
	// HostIP the address its port is bound to.
	Host   string
	HostIP string
	// HostPort is the published port; InternalPort the one it listens on
	// in its node (5000 unless the ports were made to match).
	HostPort     string
	InternalPort string
	ProxyRemote  string
}

// Pushes is where a user on the host pushes to: the registry's host name
// (localhost for an all-address binding) and its host port.
func (r Registry) Pushes() string {
	h := r.Host
	if h == "" {
		h = r.HostIP
	}
	if h == "" || h == "0.0.0.0" || h == "::" {
		h = "localhost"
	}
	return net.JoinHostPort(h, r.HostPort)
}

// Internal is where nodes on a network the registry joined reach it.
func (r Registry) Internal() string { return r.Name + ":" + r.InternalPort }

// External is the registry's name with its host port: what images are
// tagged with when pushed through the name (k3d-reg.localhost:5111).
func (r Registry) External() string { return r.Name + ":" + r.HostPort }

func registryFromNode(n backends.Node) Registry {
	return Registry{
		Node:         nodeFromRuntime(n),
		Host:         n.Labels[LabelRegistryHost],
		HostIP:       n.Labels[LabelRegistryHostIP],
		HostPort:     n.Labels[LabelRegistryPortExternal],
		InternalPort: n.Labels[LabelRegistryPortInternal],
		ProxyRemote:  n.Labels[LabelRegistryProxy],
	}
}

// registryName is a valid container and host name of a registry; dots are
// allowed, since names like k3d-reg.localhost resolve to the host.
var registryName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// RegistryNodeName is the node name of registry name (k3d- added once).
func RegistryNodeName(name string) string { return ObjectName(name) }

func validateRegistryName(flag, name string) error {
	if name == "" {
		return invalidf("%s: the registry name is empty: give one such as myregistry.localhost", flag)
	}
	n := RegistryNodeName(name)
	if len(n) > 63 || !registryName.MatchString(n) {
		return invalidf("%s: %q is not a valid registry name: use at most 59 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", flag, name)
	}
	return nil
}

// registryPlan is a validated registry create.
type registryPlan struct {
	spec backends.NodeSpec
	// volume is the storage volume k3d creates, "" when the user mounts one.
	volume       string
	volumeLabels map[string]string
	network      string
	reg          Registry
	// pushFrom is the host address the readiness check reaches it at.
	pushFrom string
	hold     net.Listener
}

// parseRegistryPort reads "[HOST:]HOSTPORT" (k3d's registry port spec).
func parseRegistryPort(flag, s string) (host, hostIP string, port uint16, err error) {
	hostIP = "0.0.0.0"
	ps := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, ps = s[:i], s[i+1:]
		if host == "" {
			return "", "", 0, invalidf("%s %q: the host before ':' is empty: give [HOST:]HOSTPORT, e.g. 5111 or 127.0.0.1:5111", flag, s)
		}
		if ip, perr := netip.ParseAddr(host); perr == nil {
			if !ip.Is4() {
				return "", "", 0, invalidf("%s %q: IPv6 addresses are not supported: use an IPv4 address or a name", flag, s)
			}
			hostIP, host = ip.String(), ""
		} else if !dns1123Subdomain.MatchString(host) {
			return "", "", 0, invalidf("%s %q: %q is neither an IP address nor a host name", flag, s, host)
		}
	}
	if ps != "" && ps != "random" {
		n, perr := strconv.ParseUint(ps, 10, 16)
		if perr != nil || n == 0 {
			return "", "", 0, invalidf("%s %q: port %q is not a number from 1 to 65535 (or random)", flag, s, ps)
		}
		port = uint16(n)
	}
	return host, hostIP, port, nil
}

// planRegistry checks o against the runtime and decides the registry's node.
// flag names the option the name came from in errors.
func (e *Engine) planRegistry(ctx context.Context, o RegistryOptions, flag string) (*registryPlan, error) {
	if err := validateRegistryName(flag, o.Name); err != nil {
		return nil, err
	}
	name := RegistryNodeName(o.Name)
	portFlag := "--port"
	if flag != "registry name" {
		portFlag = flag
	}
	host, hostIP, port, err := parseRegistryPort(portFlag, o.Port)
	if err != nil {
		return nil, err
	}
	if o.Proxy.RemoteURL != "" {
		if !strings.HasPrefix(o.Proxy.RemoteURL, "http://") && !strings.HasPrefix(o.Proxy.RemoteURL, "https://") {
			return nil, invalidf("--proxy-remote-url %q is not an http:// or https:// URL (e.g. https://registry-1.docker.io)", o.Proxy.RemoteURL)
		}
	} else if o.Proxy.Username != "" || o.Proxy.Password != "" {
		return nil, invalidf("--proxy-username and --proxy-password need --proxy-remote-url")
	}
	var mounts []backends.Mount
	storage := true
	for _, v := range o.Volumes {
		src, dst, ok := strings.Cut(v, ":")
		if !ok || src == "" || !strings.HasPrefix(dst, "/") {
			return nil, invalidf("--volume %q is not SOURCE:DEST with an absolute DEST (e.g. /srv/registry:/var/lib/registry)", v)
		}
		dst, ro, _ := strings.Cut(dst, ":")
		m := backends.Mount{Type: backends.MountVolume, Source: src, Target: dst, ReadOnly: ro == "ro"}
		if strings.HasPrefix(src, "/") {
			m.Type = backends.MountBind
		}
		if dst == registryStorage {
			storage = false
		}
		mounts = append(mounts, m)
	}

	if _, err := e.rt.InspectNode(ctx, name); err == nil {
		return nil, existsf("%s: a container named %s exists already: delete it with `k3d registry delete %s` or choose another name", flag, name, name)
	} else if !backends.IsNotFound(err) {
		return nil, wrapf(err, "inspect node %s", name)
	}

	p := &registryPlan{network: o.Network}
	if p.network == "" {
		p.network = RegistryNetwork
	}
	if _, err := e.rt.InspectNetwork(ctx, p.network); err != nil {
		if !backends.IsNotFound(err) {
			return nil, wrapf(err, "inspect network %s", p.network)
		}
		if o.Network != "" && o.Network != RegistryNetwork && o.Cluster == "" {
			return nil, notFoundf("--default-network %s does not exist: create it first, or leave the flag out to use %s", o.Network, RegistryNetwork)
		}
	}

	info, err := e.Info(ctx)
	if err != nil {
		return nil, err
	}
	if isLocalEndpoint(info.Endpoint) {
		l, err := net.Listen("tcp", net.JoinHostPort(hostIP, strconv.Itoa(int(port))))
		if err != nil {
			if port == 0 {
				return nil, invalidf("%s: cannot find a free port on %s for registry %s: %v", portFlag, hostIP, name, unwrapOpError(err))
			}
			return nil, invalidf("%s: host port %s:%d for registry %s is not available (%v): choose another port", portFlag, hostIP, port, name, unwrapOpError(err))
		}
		port = uint16(l.Addr().(*net.TCPAddr).Port)
		p.hold = l
	} else if port == 0 {
		return nil, invalidf("the runtime is remote: give the registry's host port with %s HOST:PORT", portFlag)
	}
	internal := uint16(registryPort)
	if o.EnforcePortMatch {
		internal = port
	}

	labels := map[string]string{
		LabelApp: LabelAppValue, LabelRole: string(RoleRegistry), LabelVersion: e.version,
		LabelRegistryHost: host, LabelRegistryHostIP: hostIP,
		LabelRegistryPortExternal: strconv.Itoa(int(port)), LabelRegistryPortInternal: strconv.Itoa(int(internal)),
	}
	if o.Cluster != "" {
		labels[LabelCluster] = o.Cluster
	}
	var env []string
	if o.DeleteEnabled {
		env = append(env, "REGISTRY_STORAGE_DELETE_ENABLED=true")
	}
	if internal != registryPort {
		env = append(env, fmt.Sprintf("REGISTRY_HTTP_ADDR=:%d", internal))
	}
	if o.Proxy.RemoteURL != "" {
		labels[LabelRegistryProxy] = o.Proxy.RemoteURL
		env = append(env, "REGISTRY_PROXY_REMOTEURL="+o.Proxy.RemoteURL)
		if o.Proxy.Username != "" {
			env = append(env, "REGISTRY_PROXY_USERNAME="+o.Proxy.Username)
		}
		if o.Proxy.Password != "" {
			env = append(env, "REGISTRY_PROXY_PASSWORD="+o.Proxy.Password)
		}
	}
	if storage {
		p.volume = name + "-data"
		p.volumeLabels = map[string]string{LabelApp: LabelAppValue, LabelRole: string(RoleRegistry)}
		if o.Cluster != "" {
			p.volumeLabels[LabelCluster] = o.Cluster
		}
		mounts = append(mounts, backends.Mount{Type: backends.MountVolume, Source: p.volume, Target: registryStorage})
	}
	p.spec = backends.NodeSpec{
		Name:          name,
		Image:         o.Image,
		Env:           env,
		Labels:        labels,
		Ports:         []backends.PortMapping{{HostIP: hostIP, HostPort: port, ContainerPort: internal, Protocol: "tcp"}},
		Mounts:        mounts,
		Networks:      []backends.NetworkAttachment{{Network: p.network}},
		RestartPolicy: backends.RestartUnlessStopped,
	}
	p.reg = Registry{Node: Node{Name: name, Role: RoleRegistry, Cluster: o.Cluster, Labels: labels},
		Host: host, HostIP: hostIP, HostPort: strconv.Itoa(int(port)), InternalPort: strconv.Itoa(int(internal)), ProxyRemote: o.Proxy.RemoteURL}
	p.pushFrom = net.JoinHostPort(hostIP, strconv.Itoa(int(port)))
	if hostIP == "0.0.0.0" {
		p.pushFrom = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	}
	if !isLocalEndpoint(info.Endpoint) {
		p.pushFrom = ""
	}
	return p, nil
}

// registryImage is the image a registry runs: the user's, or k3d's own.
func (e *Engine) registryImage(ctx context.Context, image string) (string, error) {
	if image != "" {
		ok, err := e.imagePresent(ctx, image)
		if err != nil {
			return "", err
		}
		if !ok {
			if err := e.pullImage(ctx, image); err != nil {
				return "", err
			}
		}
		return image, nil
	}
	var ref string
	err := e.step("Preparing the registry image", func() (err error) {
		ref, err = e.registryHelperImage(ctx)
		if err != nil {
			return fmt.Errorf("registry image: %w", err)
		}
		return nil
	})
	return ref, err
}

// CreateRegistry creates and starts a registry and waits until it answers.
// A failure removes what was made.
func (e *Engine) CreateRegistry(ctx context.Context, o RegistryOptions) (Registry, error) {
	if _, err := e.Info(ctx); backends.IsUnreachable(err) || backends.IsPrerequisite(err) {
		return Registry{}, err
	}
	var p *registryPlan
	err := e.step("Checking the registry's configuration", func() (err error) {
		p, err = e.planRegistry(ctx, o, "registry name")
		return err
	})
	if err != nil {
		return Registry{}, err
	}
	defer p.release()
	made := &created{}
	if err := e.createRegistry(ctx, p, made); err != nil {
		rerr := e.rollback(made)
		if rerr == nil && p.network == RegistryNetwork && len(made.nodes) > 0 {
			_, rerr = e.pruneRegistryNetwork(ctx)
		}
		if rerr != nil {
			return Registry{}, fmt.Errorf("%w; rollback incomplete: %v", err, rerr)
		}
		return Registry{}, err
	}
	return e.GetRegistry(ctx, p.spec.Name)
}

func (p *registryPlan) release() {
	if p.hold != nil {
		p.hold.Close()
		p.hold = nil
	}
}

// createRegistry makes, starts and waits for the planned registry,
// recording what it made in made.
func (e *Engine) createRegistry(ctx context.Context, p *registryPlan, made *created) error {
	image, err := e.registryImage(ctx, p.spec.Image)
	if err != nil {
		return err
	}
	p.spec.Image = image
	return e.step("Creating registry "+p.spec.Name, func() error {
		if p.volume != "" {
			made.addVolume(p.volume)
			if _, err := e.rt.CreateVolume(ctx, backends.VolumeSpec{Name: p.volume, Labels: p.volumeLabels}); err != nil {
				if backends.IsAlreadyExists(err) {
					// A volume left by an earlier registry of this name keeps
					// its images, as registry:2's volume would.
					made.dropVolume(p.volume)
				} else {
					return wrapf(err, "create volume %s", p.volume)
				}
			}
		}
		if err := e.createRegistryNode(ctx, p, made); err != nil {
			return err
		}
		p.release()
		if err := e.rt.StartNode(ctx, p.spec.Name); err != nil {
			return wrapf(err, "start node %s", p.spec.Name)
		}
		if p.pushFrom == "" {
			return nil
		}
		return e.waitRegistry(ctx, p.spec.Name, p.pushFrom)
	})
}

// createRegistryNode creates the registry's node on its network. The
// default network is shared by every registry without a cluster: it is made
// when missing and removed with its last registry, under a host-wide lock, so that two
// k3d making registries at once neither make two networks of that name
// (docker's own check races) nor remove it under each other.
func (e *Engine) createRegistryNode(ctx context.Context, p *registryPlan, made *created) error {
	if p.network != RegistryNetwork {
		return e.createNode(ctx, p.spec, made)
	}
	return withRegistryNetworkLock(func() error {
		madeNet := false
		if _, err := e.rt.InspectNetwork(ctx, p.network); backends.IsNotFound(err) {
			_, err := e.rt.CreateNetwork(ctx, backends.NetworkSpec{Name: p.network, Labels: map[string]string{LabelApp: LabelAppValue}})
			if err != nil && !backends.IsAlreadyExists(err) {
				return wrapf(err, "create network %s", p.network)
			}
			madeNet = err == nil
		} else if err != nil {
			return wrapf(err, "inspect network %s", p.network)
		}
		err := e.createNode(ctx, p.spec, made)
		if err != nil && madeNet {
			_ = e.rt.DeleteNetwork(ctx, p.network)
		}
		return err
	})
}

// pruneRegistryNetwork removes the default registry network if no
// registry is on it, and reports whether it did.
func (e *Engine) pruneRegistryNetwork(ctx context.Context) (bool, error) {
	removed := false
	err := withRegistryNetworkLock(func() error {
		err := e.rt.DeleteNetwork(ctx, RegistryNetwork)
		if err != nil && !backends.IsNotFound(err) && !backends.IsInUse(err) {
			return wrapf(err, "delete network %s", RegistryNetwork)
		}
		removed = err == nil
		return nil
	})
	return removed, err
}

// withRegistryNetworkLock runs fn holding the default registry network's
// lock, one per user (the lock file lives in the temporary directory).
func withRegistryNetworkLock(fn func() error) error {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("k3d-%d-%s.lock", os.Getuid(), RegistryNetwork))
	l, err := filelock.Acquire(path, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("lock network %s: %w", RegistryNetwork, err)
	}
	defer l.Release()
	return fn()
}

// waitRegistry waits until the registry answers its API's base endpoint on
// the host, so that a push right after create works.
func (e *Engine) waitRegistry(ctx context.Context, name, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, registryReadyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("answered %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			n, ierr := e.rt.InspectNode(context.Background(), name)
			if ierr == nil && !n.State.Running {
				return fmt.Errorf("registry %s stopped (exit code %d): see `k3d node logs %s`? its output: %w", name, n.State.ExitCode, name, backends.ErrNotRunning)
			}
			return fmt.Errorf("registry %s does not answer on %s after %s: %v", name, addr, registryReadyTimeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ListRegistries returns the registries the runtime holds, by name; with
// names, only those (a missing one is an error).
func (e *Engine) ListRegistries(ctx context.Context, names ...string) ([]Registry, error) {
	if len(names) > 0 {
		out := make([]Registry, 0, len(names))
		for _, n := range names {
			r, err := e.GetRegistry(ctx, n)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
	list, err := e.rt.ListNodes(ctx, map[string]string{LabelApp: LabelAppValue, LabelRole: string(RoleRegistry)})
	if err != nil {
		return nil, fmt.Errorf("list registries: %w", err)
	}
	out := make([]Registry, 0, len(list))
	for _, n := range list {
		out = append(out, registryFromNode(n))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetRegistry returns one registry by name (with or without k3d-).
func (e *Engine) GetRegistry(ctx context.Context, name string) (Registry, error) {
	node := RegistryNodeName(strings.TrimPrefix(name, "/"))
	n, err := e.rt.InspectNode(ctx, node)
	if err != nil {
		if backends.IsNotFound(err) {
			return Registry{}, notFoundf("registry %s not found: list registries with `k3d registry list`, or create it with `k3d registry create %s`", node, strings.TrimPrefix(node, "k3d-"))
		}
		return Registry{}, wrapf(err, "inspect node %s", node)
	}
	if n.Labels[LabelApp] != LabelAppValue || Role(n.Labels[LabelRole]) != RoleRegistry {
		return Registry{}, invalidf("%s is not a k3d registry (it has no k3d.role=registry label)", node)
	}
	return registryFromNode(n), nil
}

// registryUsers names the clusters whose networks the registry is on.
func (e *Engine) registryUsers(ctx context.Context, r Registry) ([]string, error) {
	clusters, err := e.ListClusters(ctx)
	if err != nil {
		return nil, err
	}
	on := map[string]bool{}
	for _, n := range r.Networks {
		on[n] = true
	}
	var out []string
	for _, c := range clusters {
		if on[c.Network] || r.Cluster == c.Name {
			out = append(out, c.Name)
		}
	}
	return out, nil
}

// DeleteRegistry removes a registry and the storage volume k3d made for it.
// A registry that a cluster still pulls through is kept unless force:
// k3d v5 deletes it anyway, which leaves the cluster's nodes with mirrors
// that fail every pull.
func (e *Engine) DeleteRegistry(ctx context.Context, name string, force bool) error {
	r, err := e.GetRegistry(ctx, name)
	if err != nil {
		return err
	}
	if !force {
		users, err := e.registryUsers(ctx, r)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return inUsef("registry %s is used by cluster %s (its nodes pull through it): delete the cluster first, or pass --force", r.Name, strings.Join(users, ", "))
		}
	}
	return e.step("Deleting registry "+r.Name, func() error { return e.removeRegistry(ctx, r) })
}

// removeRegistry deletes the registry node, its storage volume, and the
// default registry network once no registry is on it.
func (e *Engine) removeRegistry(ctx context.Context, r Registry) error {
	if err := e.rt.DeleteNode(ctx, r.Name); err != nil && !backends.IsNotFound(err) {
		return wrapf(err, "delete node %s", r.Name)
	}
	for _, m := range r.Mounts {
		if m.Type == backends.MountVolume && m.Source == r.Name+"-data" {
			if err := retryInUse(ctx, func() error { return e.rt.DeleteVolume(ctx, m.Source) }); err != nil && !backends.IsNotFound(err) {
				return wrapf(err, "delete volume %s", m.Source)
			}
		}
	}
	for _, n := range r.Networks {
		if n == RegistryNetwork {
			_, err := e.pruneRegistryNetwork(ctx)
			return err
		}
	}
	return nil
}

// StartRegistry starts a stopped registry.
func (e *Engine) StartRegistry(ctx context.Context, name string) error {
	r, err := e.GetRegistry(ctx, name)
	if err != nil {
		return err
	}
	return e.step("Starting registry "+r.Name, func() error {
		if err := e.rt.StartNode(ctx, r.Name); err != nil {
			return wrapf(err, "start node %s", r.Name)
		}
		return nil
	})
}

// StopRegistry stops a registry; its images stay on its volume.
func (e *Engine) StopRegistry(ctx context.Context, name string) error {
	r, err := e.GetRegistry(ctx, name)
	if err != nil {
		return err
	}
	return e.step("Stopping registry "+r.Name, func() error {
		if err := e.rt.StopNode(ctx, r.Name, 10*time.Second); err != nil {
			return wrapf(err, "stop node %s", r.Name)
		}
		return nil
	})
}

// mirrors is the registries.yaml that makes nodes pull through regs: each
// registry under its external and internal names (and a cache under its
// remote's host) served from its internal address, as k3d v5 writes it.
func mirrors(regs []Registry) registriesyaml.Config {
	c := registriesyaml.Config{Mirrors: map[string]registriesyaml.Mirror{}}
	for _, r := range regs {
		m := registriesyaml.Mirror{Endpoints: []string{"http://" + r.Internal()}}
		c.Mirrors[r.External()] = m
		c.Mirrors[r.Internal()] = m
		if r.ProxyRemote != "" {
			host := strings.TrimPrefix(strings.TrimPrefix(r.ProxyRemote, "https://"), "http://")
			host, _, _ = strings.Cut(host, "/")
			if host == "registry-1.docker.io" {
				host = "docker.io"
			}
			c.Mirrors[host] = m
		}
	}
	return c
}

// registryHelperImage makes k3d's own registry image present.
func (e *Engine) registryHelperImage(ctx context.Context) (string, error) {
	if e.registryImageFn != nil {
		return e.registryImageFn(ctx)
	}
	if e.registryExe == "" {
		return "", fmt.Errorf("k3d-registry, the program k3d's registries run, is not installed next to k3d: install it (`make install`), or give an image with -i (e.g. registry:2)")
	}
	return helperimage.Registry.Ensure(ctx, e.rt, e.registryExe)
}
