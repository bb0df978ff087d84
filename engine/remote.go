package engine

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"strings"

	"github.com/k3d/k3d/backends"
)

// LabelClusterExternal marks nodes that joined a cluster k3d does not run
// here (k3d v5's spelling): their k3d.cluster is the server's URL.
const LabelClusterExternal = "k3d.cluster.external"

// isClusterURL tells a cluster given by URL (`node create --cluster
// https://HOST:6443`) from a cluster name, which cannot hold "://".
func isClusterURL(cluster string) bool { return strings.Contains(cluster, "://") }

// joinRemote makes agents that join a k3s server elsewhere, as k3d v5's
// `node create --cluster URL --token TOKEN` does. Nothing of that cluster
// runs on this runtime, so the nodes get a network of their own, named like
// a cluster's (k3d-NAME), which goes with the last of them.
func (e *Engine) joinRemote(ctx context.Context, o CreateNodeOptions, x addedExtras) ([]Node, error) {
	u, err := url.Parse(o.Cluster)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
		return nil, invalidf("--cluster %q: a cluster elsewhere is given as its server's URL, https://HOST:6443", o.Cluster)
	}
	joinURL := "https://" + u.Host
	if o.Token == "" {
		return nil, invalidf("--cluster %s: joining a cluster by URL needs --token: on the server's machine `k3d cluster list NAME --token` prints it (k3s: /var/lib/rancher/k3s/server/token)", joinURL)
	}
	if o.Role != RoleAgent {
		return nil, invalidf("--role %s: a cluster given by URL gets agents only; add servers where the cluster runs", o.Role)
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	netName := "k3d-" + o.Name
	if _, err := e.rt.InspectNetwork(ctx, netName); err == nil {
		return nil, existsf("network %s exists already (a cluster named %s?): choose another node name", netName, o.Name)
	} else if !backends.IsNotFound(err) {
		return nil, wrapf(err, "inspect network %s", netName)
	}
	names := replicaNames(o.Name, o.Replicas)
	if err := e.requireFreeNames(ctx, names); err != nil {
		return nil, err
	}
	present, adapt, err := e.prepareNodes(ctx, o.Image, o.HostAdapt, x.args)
	if err != nil {
		return nil, err
	}
	if !present {
		if err := e.pullImage(ctx, o.Image); err != nil {
			return nil, err
		}
	}

	made := &created{}
	fail := func(err error) ([]Node, error) {
		if rerr := e.rollback(made); rerr != nil {
			return nil, fmt.Errorf("%w; rollback incomplete: %v", err, rerr)
		}
		return nil, err
	}
	labels := map[string]string{
		LabelApp: LabelAppValue, LabelVersion: e.version,
		LabelCluster: joinURL, LabelClusterURL: joinURL, LabelClusterExternal: "true",
	}
	var netw backends.Network
	err = e.step("Creating network "+netName, func() (err error) {
		netw, err = e.rt.CreateNetwork(ctx, backends.NetworkSpec{Name: netName, Labels: maps.Clone(labels)})
		if err != nil {
			return wrapf(err, "create network %s", netName)
		}
		made.network = netw.Name
		return nil
	})
	if err != nil {
		return fail(err)
	}

	labels[LabelClusterToken] = o.Token
	labels[LabelNetwork] = netName
	labels[LabelRole] = string(RoleAgent)
	maps.Copy(labels, x.labels)
	var specs []backends.NodeSpec
	for _, name := range names {
		s := backends.NodeSpec{
			Name:     name,
			Hostname: name,
			Image:    o.Image,
			Cmd:      append(append([]string{string(RoleAgent)}, adapt.k3sArgs()...), x.args...),
			Env:      append([]string{"K3S_URL=" + joinURL, "K3S_TOKEN=" + o.Token}, x.env...),
			Labels:   maps.Clone(labels),
			// As for a cluster's own agents (see clusterPlan.k3sSpec).
			Mounts:        []backends.Mount{{Type: backends.MountTmpfs, Target: "/run"}, {Type: backends.MountTmpfs, Target: "/var/run"}},
			Networks:      []backends.NetworkAttachment{{Network: netName}},
			Privileged:    true,
			RestartPolicy: restartPolicy(o.AutoRestart == nil || *o.AutoRestart),
			MemoryLimit:   x.mem,
			Ulimits:       o.Ulimits,
		}
		if netw.Gateway != "" {
			s.ExtraHosts = []backends.HostEntry{{Hostname: hostGatewayName, IP: netw.Gateway}}
		}
		specs = append(specs, s)
	}
	// As nodes added to a local cluster are made; the load balancer update
	// finds none, as a cluster given by URL has none here.
	if err := e.addNodes(ctx, joinURL, specs, adapt.files(), o.NoWait, made); err != nil {
		return fail(fmt.Errorf("join %s: %w", joinURL, err))
	}
	return e.getNodes(ctx, specs)
}

// deleteExternalNetworks removes the networks of nodes that joined a cluster
// by URL once none of their nodes is left.
func (e *Engine) deleteExternalNetworks(ctx context.Context, gone []map[string]string) error {
	seen := map[string]bool{}
	for _, labels := range gone {
		netName := labels[LabelNetwork]
		if !isTrue(labels, LabelClusterExternal) || netName == "" || seen[netName] {
			continue
		}
		seen[netName] = true
		left, err := e.rt.ListNodes(ctx, map[string]string{LabelApp: LabelAppValue, LabelNetwork: netName})
		if err != nil {
			return fmt.Errorf("list nodes of network %s: %w", netName, err)
		}
		if len(left) > 0 {
			continue
		}
		netw, err := e.rt.InspectNetwork(ctx, netName)
		if backends.IsNotFound(err) {
			continue
		}
		if err != nil {
			return wrapf(err, "inspect network %s", netName)
		}
		if !isTrue(netw.Labels, LabelClusterExternal) {
			continue // not one joinRemote made
		}
		if err := retryInUse(ctx, func() error { return e.rt.DeleteNetwork(ctx, netName) }); err != nil && !backends.IsNotFound(err) {
			return wrapf(err, "delete network %s", netName)
		}
	}
	return nil
}
