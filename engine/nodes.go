package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/flagspec"
	"github.com/k3d/k3d/engine/hostadapt"
)

// CreateNodes adds nodes to a running cluster: k3d-NAME-0 ... k3d-NAME-(N-1),
// built from the cluster's labels and an existing node of the same role. It
// creates and starts them at once, waits until they are ready (unless
// NoWait) and updates the load balancer. A failure removes the new nodes.
func (e *Engine) CreateNodes(ctx context.Context, o CreateNodeOptions) ([]Node, error) {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	if o.Cluster == "" {
		o.Cluster = DefaultClusterName
	}
	if o.Role == "" {
		o.Role = RoleAgent
	}
	if !o.Role.k3sNode() {
		return nil, invalidf("--role %q: nodes added to a cluster are a server or an agent", o.Role)
	}
	if o.Replicas < 1 || o.Replicas > maxNodesPerRole {
		return nil, invalidf("--replicas %d: give 1 to %d", o.Replicas, maxNodesPerRole)
	}
	if o.Name == "" || !dns1123Label.MatchString(o.Name) || len(o.Name) > 40 {
		return nil, invalidf("node name %q is not a DNS-1123 label of at most 40 characters (lowercase letters, digits and '-')", o.Name)
	}
	x, err := e.parseAddedExtras(o)
	if err != nil {
		return nil, err
	}
	if isClusterURL(o.Cluster) {
		return e.joinRemote(ctx, o, x)
	}
	if o.Token != "" {
		return nil, invalidf("--token is for joining a cluster by URL (--cluster https://HOST:6443); nodes added to cluster %s get its own token", o.Cluster)
	}

	c, err := e.GetCluster(ctx, o.Cluster)
	if err != nil {
		return nil, err
	}
	tmpl, err := e.templateNode(ctx, c, o.Role)
	if err != nil {
		return nil, err
	}
	if o.Image == "" {
		o.Image = tmpl.Image
	}
	// Only what the user gave now counts as the user's own setting: the
	// template's args may hold adaptations an earlier create made, which
	// are not carried over to a node of another role.
	present, adapt, err := e.prepareNodes(ctx, o.Image, o.HostAdapt, x.args)
	if err != nil {
		return nil, err
	}
	var gateway string
	if c.Network != "" {
		if n, err := e.rt.InspectNetwork(ctx, c.Network); err == nil {
			gateway = n.Gateway
		}
	}
	joinURL, err := e.joinURL(c, o.Role, tmpl)
	if err != nil {
		return nil, err
	}

	names := replicaNames(o.Name, o.Replicas)
	if err := e.requireFreeNames(ctx, names); err != nil {
		return nil, err
	}
	var specs []backends.NodeSpec
	for _, name := range names {
		s := nodeSpecFrom(tmpl, name, o.Role, o.Image, joinURL, e.version)
		s.Cmd = append(s.Cmd, x.args...)
		for _, a := range adapt.k3sArgs() {
			if !slices.Contains(s.Cmd, a) {
				s.Cmd = append(s.Cmd, a)
			}
		}
		s.Env = append(s.Env, x.env...)
		maps.Copy(s.Labels, x.labels)
		if x.mem > 0 {
			s.MemoryLimit = x.mem
		}
		if len(o.Ulimits) > 0 {
			s.Ulimits = o.Ulimits
		}
		if o.AutoRestart != nil {
			s.RestartPolicy = restartPolicy(*o.AutoRestart)
		}
		if gateway != "" {
			s.ExtraHosts = []backends.HostEntry{{Hostname: hostGatewayName, IP: gateway}}
		}
		for _, a := range decodeHostAliases(s.Labels[LabelHostAliases]) {
			s.ExtraHosts = append(s.ExtraHosts, a.entries()...)
		}
		specs = append(specs, s)
	}

	if !present {
		if err := e.pullImage(ctx, o.Image); err != nil {
			return nil, err
		}
	}

	// New nodes pull through the registries the cluster's nodes do.
	regFiles, err := e.nodeRegistriesFile(ctx, tmpl.Name)
	if err != nil {
		return nil, err
	}
	made := &created{}
	err = e.addNodes(ctx, o.Cluster, specs, append(adapt.files(), regFiles...), o.NoWait, made)
	if err != nil {
		if rerr := e.rollback(made); rerr != nil {
			return nil, fmt.Errorf("%w; rollback incomplete: %v", err, rerr)
		}
		return nil, err
	}
	e.importKept(ctx, tmpl.Name, specNames(specs), o.NoWait)
	return e.getNodes(ctx, specs)
}

// addedExtras is what `node create` adds to every new node, checked.
type addedExtras struct {
	mem    int64
	args   []string
	env    []string
	labels map[string]string
}

func (e *Engine) parseAddedExtras(o CreateNodeOptions) (x addedExtras, err error) {
	if x.mem, err = parseMemory("--memory", o.Memory); err != nil {
		return x, err
	}
	if err := backends.CheckUlimits(o.Ulimits); err != nil {
		return x, invalidf("--runtime-ulimit: %v", err)
	}
	for _, s := range o.K3sArgs {
		a, err := flagspec.ParseK3sArg(s)
		if err != nil {
			return x, invalidf("%v", err)
		}
		if len(a.Filters) > 0 {
			return x, invalidf("k3s arg %q: node filters do not apply to `create node`: every new node gets the argument", s)
		}
		x.args = append(x.args, a.Arg)
	}
	for _, s := range o.Env {
		ev, err := flagspec.ParseEnv(s, e.lookupEnv)
		if err != nil {
			return x, invalidf("%v", err)
		}
		x.env = append(x.env, ev.String())
	}
	x.labels = map[string]string{}
	for _, s := range o.Labels {
		l, err := flagspec.ParseLabel(s)
		if err != nil {
			return x, invalidf("%v", err)
		}
		if l.Key == LabelApp || strings.HasPrefix(l.Key, "k3d.") {
			return x, invalidf("label %q: keys app and k3d.* are k3d's own: choose another key", s)
		}
		x.labels[l.Key] = l.Value
	}
	return x, nil
}

// prepareNodes checks that the new nodes' image can be had (present says
// whether it must be pulled) and decides the host adaptations they get,
// noting each; userArgs are the k3s arguments the user gave.
func (e *Engine) prepareNodes(ctx context.Context, image string, disabled map[hostadapt.ID]bool, userArgs []string) (present bool, adapt adaptations, err error) {
	if present, err = e.imagePresent(ctx, image); err != nil {
		return false, nil, err
	}
	info, err := e.Info(ctx)
	if err != nil {
		return false, nil, err
	}
	if adapt, err = decideAdaptations(info, disabled, userArgs, image); err != nil {
		return false, nil, err
	}
	for _, a := range adapt {
		e.note(a.Message)
	}
	return present, adapt, nil
}

// replicaNames are the names of n nodes of base name: k3d-NAME-0 ...
func replicaNames(base string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("k3d-%s-%d", base, i)
	}
	return out
}

func (e *Engine) addNodes(ctx context.Context, cluster string, specs []backends.NodeSpec, files []nodeFile, noWait bool, made *created) error {
	err := e.step(fmt.Sprintf("Creating %s", describeNodes(specs)), func() error {
		return forEach(ctx, specs, func(ctx context.Context, s backends.NodeSpec) error {
			if err := e.createNode(ctx, s, made); err != nil {
				return err
			}
			if len(files) > 0 {
				return e.writeFiles(ctx, s.Name, files)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if _, err := e.startNodes(ctx, specNames(specs), ""); err != nil {
		return err
	}
	if !noWait {
		if err := e.waitReady(ctx, specs, nil); err != nil {
			return err
		}
	}
	return e.updateLoadBalancer(ctx, cluster, specNames(specs), nil)
}

// templateNode is the node new nodes are copied from: one of the same role,
// else any k3s node of the cluster.
func (e *Engine) templateNode(ctx context.Context, c Cluster, role Role) (backends.Node, error) {
	var pick string
	for _, n := range c.Nodes {
		if n.Role == role {
			pick = n.Name
			break
		}
	}
	if pick == "" {
		for _, n := range c.Nodes {
			if n.Role.k3sNode() {
				pick = n.Name
				break
			}
		}
	}
	if pick == "" {
		return backends.Node{}, invalidf("cluster %s has no server or agent to copy the new nodes' settings from", c.Name)
	}
	n, err := e.rt.InspectNode(ctx, pick)
	if err != nil {
		return backends.Node{}, wrapf(err, "inspect node %s", pick)
	}
	return n, nil
}

// joinURL is where new nodes register: server-0 while it exists (as k3d v5
// writes into k3d.cluster.url), else the load balancer, else any server.
func (e *Engine) joinURL(c Cluster, role Role, tmpl backends.Node) (string, error) {
	if role == RoleServer {
		if slices.Contains(tmpl.Cmd, "--datastore-endpoint") || hasFlagPrefix(tmpl.Cmd, "--datastore-endpoint=") {
			return "", nil // servers share the external datastore, they join nothing
		}
		embeddedEtcd := false
		for _, s := range c.Servers() {
			if slices.Contains(s.Cmd, "--cluster-init") || envValue(s.Env, "K3S_URL") != "" {
				embeddedEtcd = true
			}
		}
		if !embeddedEtcd {
			return "", invalidf("cluster %s has a single server without embedded etcd (it was created with one server): servers cannot join it; add agents, or create the cluster with --servers 2 or more", c.Name)
		}
	}
	servers := c.Servers()
	for _, s := range servers {
		if s.Name == NodeName(c.Name, RoleServer, 0) && c.URL != "" {
			return c.URL, nil
		}
	}
	if lb, ok := c.LoadBalancer(); ok {
		return fmt.Sprintf("https://%s:%d", lb.Name, apiContainerPort), nil
	}
	if len(servers) > 0 {
		return fmt.Sprintf("https://%s:%d", servers[0].Name, apiContainerPort), nil
	}
	return "", invalidf("cluster %s has no server for new nodes to join", c.Name)
}

// anonymousVolume matches the names runtimes give volumes declared by an
// image (rancher/k3s declares /var/lib/rancher/k3s and others): each node
// must get its own, never a copy of another node's.
var anonymousVolume = regexp.MustCompile(`^[0-9a-f]{64}$`)

// nodeSpecFrom builds a new node's spec from an existing node's, the way
// k3d v5 copies a node: same labels, environment and mounts, minus what
// belongs to that one node (its ports, its anonymous volumes, --cluster-init).
func nodeSpecFrom(tmpl backends.Node, name string, role Role, image, joinURL, version string) backends.NodeSpec {
	labels := map[string]string{}
	for k, v := range tmpl.Labels {
		switch {
		case k == LabelServerIsInit || k == LabelNodeStaticIP || strings.HasPrefix(k, "k3d.runtime."):
			continue
		case Role(tmpl.Labels[LabelRole]) != role && strings.HasPrefix(k, "k3d.server.api."):
			continue
		}
		labels[k] = v
	}
	labels[LabelRole] = string(role)
	labels[LabelVersion] = version
	labels[LabelApp] = LabelAppValue
	if role == RoleServer && joinURL != "" {
		labels[LabelServerIsInit] = "false"
	}

	var env []string
	for _, kv := range tmpl.Env {
		if strings.HasPrefix(kv, "K3S_URL=") {
			continue
		}
		env = append(env, kv)
	}
	if joinURL != "" {
		env = append(env, "K3S_URL="+joinURL)
	}

	cmd := []string{string(role)}
	tmplRole := Role(tmpl.Labels[LabelRole])
	if args, ok := argsAfterRole(tmpl.Cmd, tmplRole); ok && tmplRole == role {
		for _, a := range args {
			if a != "--cluster-init" {
				cmd = append(cmd, a)
			}
		}
	}

	var mounts []backends.Mount
	for _, m := range tmpl.Mounts {
		if m.Type == backends.MountVolume && anonymousVolume.MatchString(m.Source) {
			continue
		}
		if role != RoleServer && strings.HasPrefix(m.Target, datastoreCertDir) {
			continue
		}
		mounts = append(mounts, m)
	}
	var networks []backends.NetworkAttachment
	if n := tmpl.Labels[LabelNetwork]; n != "" {
		networks = append(networks, backends.NetworkAttachment{Network: n})
	}
	mem := tmpl.MemoryLimit
	if tmplRole != role {
		mem = 0 // memory limits are per role (--servers-memory, --agents-memory)
	}
	return backends.NodeSpec{
		Name:       name,
		Hostname:   name,
		Image:      image,
		Cmd:        cmd,
		Env:        env,
		Labels:     labels,
		Mounts:     mounts,
		Networks:   networks,
		Privileged: true, // see clusterPlan.k3sSpec
		// As the cluster's nodes were made (--auto-restart or not).
		RestartPolicy: cmp.Or(tmpl.RestartPolicy, backends.RestartUnlessStopped),
		MemoryLimit:   mem,
		// A node joins with what the cluster's nodes were made with.
		Ulimits: tmpl.Ulimits,
		HostPID: tmpl.HostPID,
		GPUs:    tmpl.GPUs,
	}
}

// argsAfterRole finds the k3s arguments in a node's full command line
// (entrypoint first): everything after the role word.
func argsAfterRole(cmd []string, role Role) ([]string, bool) {
	for i, a := range cmd {
		if a == string(role) {
			return cmd[i+1:], true
		}
	}
	return nil, false
}

func hasFlagPrefix(cmd []string, prefix string) bool {
	for _, a := range cmd {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// DeleteNode removes one k3d node and takes it out of its cluster's load
// balancer.
func (e *Engine) DeleteNode(ctx context.Context, name string) error {
	n, err := e.GetNode(ctx, name)
	if err != nil {
		return err
	}
	if err := e.step("Deleting node "+name, func() error { return e.deleteNodes(ctx, []string{name}) }); err != nil {
		return err
	}
	if isTrue(n.Labels, LabelClusterExternal) {
		return e.deleteExternalNetworks(ctx, []map[string]string{n.Labels})
	}
	if n.Role.k3sNode() && n.Cluster != "" {
		return e.updateLoadBalancer(ctx, n.Cluster, nil, []string{name})
	}
	return nil
}

// DeleteAllNodes removes every k3d node (of one cluster when cluster is not
// empty) at once.
func (e *Engine) DeleteAllNodes(ctx context.Context, cluster string) ([]string, error) {
	sel := appSelector()
	if cluster != "" {
		sel = clusterSelector(cluster)
	}
	list, err := e.rt.ListNodes(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var names []string
	for _, n := range list {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, nil
	}
	err = e.step(fmt.Sprintf("Deleting %d nodes", len(names)), func() error { return e.deleteNodes(ctx, names) })
	if err != nil {
		return names, err
	}
	var gone []map[string]string
	for _, n := range list {
		gone = append(gone, n.Labels)
	}
	return names, e.deleteExternalNetworks(ctx, gone)
}

// requireFreeNames fails unless no container on the runtime, k3d's or not,
// has one of names.
func (e *Engine) requireFreeNames(ctx context.Context, names []string) error {
	name, err := e.takenName(ctx, names)
	if err != nil || name == "" {
		return err
	}
	return existsf("a container named %s exists already: choose another node name", name)
}

// takenName is the first of names that a container on the runtime, k3d's or
// not, has already; "" when all are free.
func (e *Engine) takenName(ctx context.Context, names []string) (string, error) {
	all, err := e.rt.ListNodes(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("list nodes: %w", err)
	}
	taken := make(map[string]bool, len(all))
	for _, n := range all {
		taken[n.Name] = true
	}
	for _, name := range names {
		if taken[name] {
			return name, nil
		}
	}
	return "", nil
}

// getNodes reads back the nodes just made from specs.
func (e *Engine) getNodes(ctx context.Context, specs []backends.NodeSpec) ([]Node, error) {
	out := make([]Node, 0, len(specs))
	for _, s := range specs {
		n, err := e.GetNode(ctx, s.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
