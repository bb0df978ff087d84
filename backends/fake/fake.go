// Package fake is an in-memory backends.Runtime for engine unit tests: nodes
// with states, networks, volumes, files, images and scripted logs and exec.
package fake

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/k3d/k3d/backends"
)

// Runtime is an in-memory container runtime. The zero value is not usable:
// call New. All methods are safe for concurrent use.
type Runtime struct {
	mu       sync.Mutex
	info     backends.Info
	networks map[string]*network
	volumes  map[string]*volume
	nodes    map[string]*node
	images   map[string]bool
	// imageIDs holds the config digest of images given one; others get a
	// digest of their reference.
	imageIDs map[string]string
	// remote are the images a pull finds, with their sizes; a pull of
	// any other reference finds its registry unreachable.
	remote   map[string]int64
	failures map[string]error
	calls    map[string]int
	nextNet  int
	nextID   int
	ca       *authority
	cms      *configMaps

	// OnStart scripts what a node does once started; it runs in its own
	// goroutine with a handle on the node. Nil means DefaultOnStart.
	OnStart func(n *Handle)
	// OnExec answers Exec; nil runs nothing and returns exit code 0.
	OnExec func(node string, spec backends.ExecSpec) (int, error)
}

var _ backends.Runtime = (*Runtime)(nil)

type network struct {
	net    backends.Network
	nextIP int
}

type volume struct {
	vol backends.Volume
}

type node struct {
	spec     backends.NodeSpec
	id       string
	state    backends.NodeState
	ports    []backends.PortMapping
	nets     []backends.NodeNetwork
	files    map[string][]byte
	logs     []logLine
	changed  chan struct{} // closed and replaced on every log line or state change
	signals  []string
	created  time.Time
	stopRun  context.CancelFunc
	serving  []net.Listener
	startGen int
}

type logLine struct {
	at   time.Time
	text string
}

// New returns an empty runtime that reports info.
func New(info backends.Info) *Runtime {
	if info.Name == "" {
		info.Name = "fake"
	}
	if info.Version == "" {
		info.Version = "0.0.0-fake"
	}
	return &Runtime{
		info:     info,
		networks: map[string]*network{},
		volumes:  map[string]*volume{},
		nodes:    map[string]*node{},
		images:   map[string]bool{},
		imageIDs: map[string]string{},
		remote:   map[string]int64{},
		failures: map[string]error{},
		calls:    map[string]int{},
	}
}

// AddImage makes ref present, as if pulled.
func (r *Runtime) AddImage(ref string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.images[ref] = true
}

// SetImageID makes ref present with config digest id, as if rebuilt.
func (r *Runtime) SetImageID(ref, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.images[ref] = true
	r.imageIDs[ref] = id
}

// AddRemoteImage makes ref pullable, size bytes long.
func (r *Runtime) AddRemoteImage(ref string, size int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remote[ref] = size
}

// Fail makes the next and every later call of method on object return err
// (method as in the Runtime interface, "CreateNode"; object a name, "" for any).
func (r *Runtime) Fail(method, object string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures[method+"/"+object] = err
}

// Calls counts how often method was called.
func (r *Runtime) Calls(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[method]
}

// call records a call and returns an injected failure, if any. r.mu is held.
func (r *Runtime) call(method, object string) error {
	r.calls[method]++
	if err, ok := r.failures[method+"/"+object]; ok {
		return err
	}
	if err, ok := r.failures[method+"/"]; ok {
		return err
	}
	return nil
}

func (r *Runtime) Info(ctx context.Context) (backends.Info, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("Info", ""); err != nil {
		return backends.Info{}, err
	}
	return r.info, nil
}

// matches applies the contract's selector rules.
func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		got, ok := labels[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

func copyLabels(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func (r *Runtime) CreateNetwork(ctx context.Context, spec backends.NetworkSpec) (backends.Network, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("CreateNetwork", spec.Name); err != nil {
		return backends.Network{}, err
	}
	if _, ok := r.networks[spec.Name]; ok {
		return backends.Network{}, backends.AlreadyExists(fmt.Sprintf("network %q", spec.Name))
	}
	subnet := spec.Subnet
	if subnet == "" {
		r.nextNet++
		subnet = fmt.Sprintf("172.30.%d.0/24", r.nextNet)
	}
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		return backends.Network{}, backends.NewError(backends.ErrInvalid, fmt.Sprintf("network %q", spec.Name), err.Error())
	}
	gw := append(net.IP(nil), ipnet.IP.To4()...)
	gw[3]++
	r.nextID++
	n := &network{net: backends.Network{
		Name:    spec.Name,
		ID:      fmt.Sprintf("net%04d", r.nextID),
		Labels:  copyLabels(spec.Labels),
		Subnet:  ipnet.String(),
		Gateway: gw.String(),
	}, nextIP: 2}
	r.networks[spec.Name] = n
	return r.networkView(n), nil
}

func (r *Runtime) networkView(n *network) backends.Network {
	v := n.net
	v.Labels = copyLabels(n.net.Labels)
	return v
}

func (r *Runtime) InspectNetwork(ctx context.Context, name string) (backends.Network, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("InspectNetwork", name); err != nil {
		return backends.Network{}, err
	}
	n, ok := r.networks[name]
	if !ok {
		return backends.Network{}, backends.NotFound(fmt.Sprintf("network %q", name))
	}
	return r.networkView(n), nil
}

func (r *Runtime) ListNetworks(ctx context.Context, selector map[string]string) ([]backends.Network, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("ListNetworks", ""); err != nil {
		return nil, err
	}
	var out []backends.Network
	for _, n := range r.networks {
		if matches(n.net.Labels, selector) {
			out = append(out, r.networkView(n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *Runtime) DeleteNetwork(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("DeleteNetwork", name); err != nil {
		return err
	}
	if _, ok := r.networks[name]; !ok {
		return backends.NotFound(fmt.Sprintf("network %q", name))
	}
	for _, nd := range r.nodes {
		for _, a := range nd.nets {
			if a.Network == name {
				return backends.NewError(backends.ErrInUse, fmt.Sprintf("network %q", name), "node "+nd.spec.Name+" is attached")
			}
		}
	}
	delete(r.networks, name)
	return nil
}

// attach gives a node an address on a network. r.mu is held.
func (r *Runtime) attach(nd *node, netName string, aliases []string, ip string) error {
	n, ok := r.networks[netName]
	if !ok {
		return backends.NotFound(fmt.Sprintf("network %q", netName))
	}
	for _, a := range nd.nets {
		if a.Network == netName {
			return backends.AlreadyExists(fmt.Sprintf("node %q on network %q", nd.spec.Name, netName))
		}
	}
	if ip == "" {
		_, ipnet, _ := net.ParseCIDR(n.net.Subnet)
		addr := append(net.IP(nil), ipnet.IP.To4()...)
		addr[3] = byte(n.nextIP)
		n.nextIP++
		ip = addr.String()
	}
	nd.nets = append(nd.nets, backends.NodeNetwork{Network: netName, IPv4: ip, Aliases: append([]string(nil), aliases...)})
	return nil
}

func (r *Runtime) ConnectNetwork(ctx context.Context, network, name string, aliases []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("ConnectNetwork", name); err != nil {
		return err
	}
	nd, ok := r.nodes[name]
	if !ok {
		return backends.NotFound(fmt.Sprintf("node %q", name))
	}
	return r.attach(nd, network, aliases, "")
}

func (r *Runtime) DisconnectNetwork(ctx context.Context, network, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("DisconnectNetwork", name); err != nil {
		return err
	}
	nd, ok := r.nodes[name]
	if !ok {
		return backends.NotFound(fmt.Sprintf("node %q", name))
	}
	for i, a := range nd.nets {
		if a.Network == network {
			nd.nets = append(nd.nets[:i], nd.nets[i+1:]...)
			return nil
		}
	}
	return backends.NotFound(fmt.Sprintf("node %q on network %q", name, network))
}

func (r *Runtime) CreateVolume(ctx context.Context, spec backends.VolumeSpec) (backends.Volume, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("CreateVolume", spec.Name); err != nil {
		return backends.Volume{}, err
	}
	if _, ok := r.volumes[spec.Name]; ok {
		return backends.Volume{}, backends.AlreadyExists(fmt.Sprintf("volume %q", spec.Name))
	}
	v := &volume{vol: backends.Volume{Name: spec.Name, Labels: copyLabels(spec.Labels)}}
	r.volumes[spec.Name] = v
	return backends.Volume{Name: v.vol.Name, Labels: copyLabels(v.vol.Labels)}, nil
}

func (r *Runtime) InspectVolume(ctx context.Context, name string) (backends.Volume, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("InspectVolume", name); err != nil {
		return backends.Volume{}, err
	}
	v, ok := r.volumes[name]
	if !ok {
		return backends.Volume{}, backends.NotFound(fmt.Sprintf("volume %q", name))
	}
	return backends.Volume{Name: v.vol.Name, Labels: copyLabels(v.vol.Labels)}, nil
}

func (r *Runtime) ListVolumes(ctx context.Context, selector map[string]string) ([]backends.Volume, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("ListVolumes", ""); err != nil {
		return nil, err
	}
	var out []backends.Volume
	for _, v := range r.volumes {
		if matches(v.vol.Labels, selector) {
			out = append(out, backends.Volume{Name: v.vol.Name, Labels: copyLabels(v.vol.Labels)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *Runtime) DeleteVolume(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.call("DeleteVolume", name); err != nil {
		return err
	}
	if _, ok := r.volumes[name]; !ok {
		return backends.NotFound(fmt.Sprintf("volume %q", name))
	}
	for _, nd := range r.nodes {
		for _, m := range nd.spec.Mounts {
			if m.Type == backends.MountVolume && m.Source == name {
				return backends.NewError(backends.ErrInUse, fmt.Sprintf("volume %q", name), "mounted by node "+nd.spec.Name)
			}
		}
	}
	delete(r.volumes, name)
	return nil
}

// Names lists what the runtime holds, sorted, for tests that compare the
// world before and after an operation.
func (r *Runtime) Names() (nodes, networks, volumes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n := range r.nodes {
		nodes = append(nodes, n)
	}
	for n := range r.networks {
		networks = append(networks, n)
	}
	for n := range r.volumes {
		volumes = append(volumes, n)
	}
	sort.Strings(nodes)
	sort.Strings(networks)
	sort.Strings(volumes)
	return nodes, networks, volumes
}

// Snapshot renders Names as one comparable string.
func (r *Runtime) Snapshot() string {
	n, nw, v := r.Names()
	return fmt.Sprintf("nodes=%s networks=%s volumes=%s", strings.Join(n, ","), strings.Join(nw, ","), strings.Join(v, ","))
}
