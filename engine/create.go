package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/k3d/k3d/backends"
)

// rollbackTimeout bounds the cleanup after a failed create; it runs on a
// fresh context because the create's own may be cancelled (Ctrl-C, --timeout).
const rollbackTimeout = 2 * time.Minute

// created records what a create has made, for rollback.
type created struct {
	mu      sync.Mutex
	network string
	volume  string
	nodes   []string
	// volumes are further volumes made (a registry's storage).
	volumes []string
	// connected are nodes made to join a network, undone by disconnecting.
	connected []connection
}

type connection struct{ network, node string }

func (c *created) addVolume(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.volumes = append(c.volumes, name)
}

func (c *created) dropVolume(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.volumes = slices.DeleteFunc(c.volumes, func(n string) bool { return n == name })
}

func (c *created) addConnection(network, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.connected = append(c.connected, connection{network, node})
}

func (c *created) addNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = append(c.nodes, name)
}

func (c *created) dropNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = slices.DeleteFunc(c.nodes, func(n string) bool { return n == name })
}

// createNode creates a node and records it for rollback. It is recorded
// before the call: a create cut short by cancellation may still have made
// the container. Only a name clash means the node is not ours.
func (e *Engine) createNode(ctx context.Context, s backends.NodeSpec, made *created) error {
	made.addNode(s.Name)
	if _, err := e.rt.CreateNode(ctx, s); err != nil {
		if backends.IsAlreadyExists(err) {
			made.dropNode(s.Name)
		}
		return wrapf(err, "create node %s", s.Name)
	}
	return nil
}

// CreateCluster creates a cluster, starts it and (unless NoWait) waits until
// its API answers, then merges its kubeconfig when asked to. Input is checked
// before anything is made; on failure everything made is removed again
// unless NoRollback.
func (e *Engine) CreateCluster(ctx context.Context, o CreateClusterOptions) (Cluster, error) {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	// A runtime that is down or half set up is told in its one line, before
	// any step is reported.
	if _, err := e.Info(ctx); backends.IsUnreachable(err) || backends.IsPrerequisite(err) {
		return Cluster{}, err
	}
	var p *clusterPlan
	err := e.step("Checking the cluster's configuration", func() (err error) {
		p, err = e.planCluster(ctx, o)
		return err
	})
	if err != nil {
		return Cluster{}, err
	}
	defer p.release()
	if p.pull {
		if err := e.pullImage(ctx, p.opts.Image); err != nil {
			return Cluster{}, err
		}
	}
	for _, a := range p.adapt {
		e.note(a.Message)
	}
	made := &created{}
	if err := e.createPlanned(ctx, p, made); err != nil {
		switch {
		case ctx.Err() == context.DeadlineExceeded && o.Timeout > 0:
			err = fmt.Errorf("%w (--timeout %s)", err, o.Timeout)
		case ctx.Err() == context.Canceled:
			err = fmt.Errorf("interrupted: %w", err)
		}
		var nodeErr *NodeError
		if h := p.adaptOff.hint(); h != "" && errors.As(err, &nodeErr) {
			err = fmt.Errorf("%w; %s", err, h)
		}
		if o.NoRollback {
			return Cluster{}, fmt.Errorf("%w; kept what was made (--no-rollback): remove it with `k3d delete cluster %s`", err, p.name)
		}
		if rerr := e.rollback(made); rerr != nil {
			return Cluster{}, fmt.Errorf("%w; rollback incomplete: %v", err, rerr)
		}
		return Cluster{}, err
	}
	return e.GetCluster(ctx, p.name)
}

// createPlanned makes what p describes, recording each object in made.
func (e *Engine) createPlanned(ctx context.Context, p *clusterPlan, made *created) error {
	var netw backends.Network
	var lbImage string
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		netw, err = e.ensureNetwork(gctx, p, made)
		if err != nil {
			return err
		}
		return e.ensureImageVolume(gctx, p, made)
	})
	if p.lb {
		g.Go(func() error {
			return e.step("Preparing the load balancer image", func() (err error) {
				lbImage, err = e.helperImage(gctx)
				if err != nil {
					return fmt.Errorf("load balancer image: %w", err)
				}
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := e.createRegistries(ctx, p, netw, made); err != nil {
		return err
	}

	specs := p.nodeSpecs(e.version, lbImage, netw)
	err := e.step(fmt.Sprintf("Creating %s", describeNodes(specs)), func() error {
		return forEach(ctx, specs, func(ctx context.Context, s backends.NodeSpec) error {
			if err := e.createNode(ctx, s, made); err != nil {
				return err
			}
			return e.writePreStart(ctx, p, s)
		})
	})
	if err != nil {
		return err
	}

	p.api.release()
	if _, err := e.startNodes(ctx, specNames(specs), initServerSpec(specs)); err != nil {
		return err
	}
	if p.opts.NoWait {
		e.note("not waiting for the nodes (--wait=false): the kubeconfig was not updated; run `k3d kubeconfig merge " + p.name + "` once the cluster is up")
		return nil
	}
	// New nodes: everything they printed is from this run.
	if err := e.waitReady(ctx, specs, nil); err != nil {
		return err
	}
	var kc []byte
	err = e.step("Waiting for the Kubernetes API", func() error {
		var err error
		kc, err = e.clusterKubeconfig(ctx, p.name, NodeName(p.name, RoleServer, 0), APIEndpoint{Host: p.api.host, HostIP: p.api.hostIP, Port: strconv.Itoa(int(p.api.port))})
		if err != nil {
			return err
		}
		return e.waitAPIReady(ctx, kc)
	})
	if err != nil {
		return err
	}
	e.announceRegistry(ctx, p, kc)
	e.injectNodeHosts(ctx, p.name, kc, netw.Gateway, p.opts.HostAliases)
	if p.opts.UpdateKubeconfig && e.kubeconfigPath != "" {
		return e.step("Updating kubeconfig "+e.kubeconfigPath, func() error {
			return e.mergeKubeconfig(kc, p.name, e.kubeconfigPath, p.opts.SwitchContext)
		})
	}
	return nil
}

// writePreStart puts the files a node needs into it before it starts.
func (e *Engine) writePreStart(ctx context.Context, p *clusterPlan, s backends.NodeSpec) error {
	var files []nodeFile
	if s.Labels[LabelRole] == string(RoleLoadBalancer) {
		f, err := lbConfigFile(p.lbConfig())
		if err != nil {
			return err
		}
		files = append(files, f)
	} else {
		files = append(files, p.adapt.files()...)
		files = append(files, p.registries.files()...)
		if x, ok := p.extras[s.Name]; ok {
			files = append(files, x.files...)
		}
	}
	if len(files) == 0 {
		return nil
	}
	return e.writeFiles(ctx, s.Name, files)
}

func (e *Engine) ensureNetwork(ctx context.Context, p *clusterPlan, made *created) (backends.Network, error) {
	if p.network.exists {
		n, err := e.rt.InspectNetwork(ctx, p.network.name)
		if err != nil {
			return backends.Network{}, wrapf(err, "inspect network %s", p.network.name)
		}
		return n, nil
	}
	var n backends.Network
	err := e.step("Creating network "+p.network.name, func() (err error) {
		labels := map[string]string{LabelApp: LabelAppValue, LabelCluster: p.name, LabelVersion: e.version}
		n, err = e.rt.CreateNetwork(ctx, backends.NetworkSpec{Name: p.network.name, Labels: labels, Subnet: p.network.subnet})
		if err != nil {
			return wrapf(err, "create network %s", p.network.name)
		}
		made.network = n.Name
		return nil
	})
	return n, err
}

func (e *Engine) ensureImageVolume(ctx context.Context, p *clusterPlan, made *created) error {
	if p.volume.exists || p.volume.name == "" {
		return nil
	}
	labels := map[string]string{LabelApp: LabelAppValue, LabelCluster: p.name, LabelVersion: e.version}
	if _, err := e.rt.CreateVolume(ctx, backends.VolumeSpec{Name: p.volume.name, Labels: labels}); err != nil {
		return wrapf(err, "create volume %s", p.volume.name)
	}
	made.volume = p.volume.name
	return nil
}

// startNodes starts the init server first (when first names one), then the
// other nodes all at once. The joining servers and the agents look the init
// server up by name as soon as they start, and a runtime's DNS knows a node
// only once it runs: Podman's aardvark-dns forwards a name it does not know
// yet to the host's resolvers, and with none reachable (an air-gapped host)
// it stops answering every query for tens of seconds. Started first, the
// init server is always known; the others still start together, since they
// retry until it answers. It returns, per node, the time to follow its
// output from (see runStart).
func (e *Engine) startNodes(ctx context.Context, names []string, first string) (map[string]time.Time, error) {
	var mu sync.Mutex
	starts := map[string]time.Time{}
	start := func(ctx context.Context, name string) error {
		if err := e.rt.StartNode(ctx, name); err != nil {
			return wrapf(err, "start node %s", name)
		}
		n, err := e.rt.InspectNode(ctx, name)
		if err != nil {
			return wrapf(err, "inspect node %s", name)
		}
		mu.Lock()
		starts[name] = runStart(n.State)
		mu.Unlock()
		return nil
	}
	err := e.step(fmt.Sprintf("Starting %d nodes", len(names)), func() error {
		rest := names
		if first != "" && slices.Contains(names, first) && len(names) > 1 {
			if err := start(ctx, first); err != nil {
				return err
			}
			rest = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == first })
		}
		return forEach(ctx, rest, start)
	})
	return starts, err
}

// initServer is the node among nodes that starts the cluster ("" if none).
func initServer(nodes []Node) string {
	for _, n := range nodes {
		if n.Role == RoleServer && n.Labels[LabelServerIsInit] == "true" {
			return n.Name
		}
	}
	return ""
}

// initServerSpec is initServer for nodes about to be created.
func initServerSpec(specs []backends.NodeSpec) string {
	for _, s := range specs {
		if Role(s.Labels[LabelRole]) == RoleServer && s.Labels[LabelServerIsInit] == "true" {
			return s.Name
		}
	}
	return ""
}

// runStart is where the output of a node's current run begins: just after
// the previous run ended. StartedAt cannot say it (the runtime records it
// after the process already wrote its first lines), and a margin before it
// lets a stop-then-start within a second read the previous run's ready line
// and take a restarting node for ready. FinishedAt comes after the previous
// run's last line, with the nanosecond precision every backend's Since has.
// A node that never finished gets all of its output (zero time); one whose
// current run has ended already is read from that run's start, since only
// its exit is left to see.
func runStart(st backends.NodeState) time.Time {
	switch {
	case st.FinishedAt.IsZero():
		return time.Time{}
	case !st.StartedAt.IsZero() && st.FinishedAt.After(st.StartedAt):
		return st.StartedAt
	default:
		return st.FinishedAt.Add(time.Nanosecond)
	}
}

// waitReady waits for every k3s node's ready line at once; starts says
// where each node's output of this run begins (nil: new nodes, all of it).
func (e *Engine) waitReady(ctx context.Context, specs []backends.NodeSpec, starts map[string]time.Time) error {
	var k3s []backends.NodeSpec
	for _, s := range specs {
		if Role(s.Labels[LabelRole]).k3sNode() {
			k3s = append(k3s, s)
		}
	}
	if len(k3s) == 0 {
		return nil
	}
	return e.step(fmt.Sprintf("Waiting for %s to be ready", describeNodes(k3s)), func() error {
		return forEach(ctx, k3s, func(ctx context.Context, s backends.NodeSpec) error {
			return e.waitNodeReady(ctx, s.Name, Role(s.Labels[LabelRole]), starts[s.Name])
		})
	})
}

// rollback removes what a failed create made: nodes first (they hold the
// network and volume), then the volume and network.
func (e *Engine) rollback(made *created) error {
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	return e.step("Rolling back", func() error {
		var errs []error
		var mu sync.Mutex
		_ = forEachAll(ctx, made.nodes, func(ctx context.Context, name string) error {
			if err := retryInUse(ctx, func() error { return e.rt.DeleteNode(ctx, name) }); err != nil && !backends.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, wrapf(err, "delete node %s", name))
				mu.Unlock()
			}
			return nil
		})
		for _, c := range made.connected {
			if err := e.rt.DisconnectNetwork(ctx, c.network, c.node); err != nil && !backends.IsNotFound(err) {
				errs = append(errs, wrapf(err, "disconnect %s from network %s", c.node, c.network))
			}
		}
		vols := made.volumes
		if made.volume != "" {
			vols = append([]string{made.volume}, vols...)
		}
		for _, v := range vols {
			if err := retryInUse(ctx, func() error { return e.rt.DeleteVolume(ctx, v) }); err != nil && !backends.IsNotFound(err) {
				errs = append(errs, wrapf(err, "delete volume %s", v))
			}
		}
		if made.network != "" {
			if err := retryInUse(ctx, func() error { return e.rt.DeleteNetwork(ctx, made.network) }); err != nil && !backends.IsNotFound(err) {
				errs = append(errs, wrapf(err, "delete network %s", made.network))
			}
		}
		if len(errs) > 0 {
			return joinErrors(errs)
		}
		return nil
	})
}

// inUseGrace is how long cleanup waits for an object to stop being in use.
// A create cut short (Ctrl-C, a failed sibling) may still be removing its
// half-made node when rollback starts, which keeps the node, its network
// and its volume busy for a moment.
const inUseGrace = 15 * time.Second

// retryInUse runs fn again while it reports ErrInUse, for a short while.
func retryInUse(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(inUseGrace)
	delay := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || !backends.IsInUse(err) || time.Now().After(deadline) {
			return err
		}
		if serr := sleepCtx(ctx, delay); serr != nil {
			return err
		}
		delay = min(delay*2, time.Second)
	}
}

func specNames(specs []backends.NodeSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// describeNodes says "3 servers, 2 agents and a load balancer".
func describeNodes(specs []backends.NodeSpec) string {
	count := map[Role]int{}
	for _, s := range specs {
		count[Role(s.Labels[LabelRole])]++
	}
	var parts []string
	plural := func(n int, word string) string {
		if n == 1 {
			return "1 " + word
		}
		return fmt.Sprintf("%d %ss", n, word)
	}
	if n := count[RoleServer]; n > 0 {
		parts = append(parts, plural(n, "server"))
	}
	if n := count[RoleAgent]; n > 0 {
		parts = append(parts, plural(n, "agent"))
	}
	if count[RoleLoadBalancer] > 0 {
		parts = append(parts, "the load balancer")
	}
	switch len(parts) {
	case 0:
		return "nodes"
	case 1:
		return parts[0]
	}
	s := parts[0]
	for _, p := range parts[1 : len(parts)-1] {
		s += ", " + p
	}
	return s + " and " + parts[len(parts)-1]
}
