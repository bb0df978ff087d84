package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/k3d/k3d/backends"
)

// DeleteCluster removes a cluster's nodes, then its network and image volume
// unless they are external, then its kubeconfig entries. Objects left behind
// by a create that crashed (labelled for the cluster, no nodes) count too.
func (e *Engine) DeleteCluster(ctx context.Context, name string) error {
	nodes, err := e.clusterNodes(ctx, name)
	if err != nil {
		return err
	}
	nets, err := e.rt.ListNetworks(ctx, clusterSelector(name))
	if err != nil {
		return fmt.Errorf("list networks of cluster %s: %w", name, err)
	}
	vols, err := e.rt.ListVolumes(ctx, clusterSelector(name))
	if err != nil {
		return fmt.Errorf("list volumes of cluster %s: %w", name, err)
	}
	if len(nodes) == 0 && len(nets) == 0 && len(vols) == 0 {
		return notFoundf("cluster %s not found: list clusters with `k3d get cluster`", name)
	}
	c := clusterFromNodes(name, nodes)
	ownRegs, joinedRegs, err := e.clusterRegistries(ctx, c)
	if err != nil {
		return err
	}

	if len(nodes) > 0 {
		err := e.step(fmt.Sprintf("Deleting %d nodes of cluster %s", len(nodes), name), func() error {
			return e.deleteNodes(ctx, nodeNames(nodes))
		})
		if err != nil {
			return err
		}
	}
	for _, r := range ownRegs {
		if err := e.step("Deleting registry "+r.Name, func() error { return e.removeRegistry(ctx, r) }); err != nil {
			return err
		}
	}
	// Registries the cluster used stay, off its network.
	for _, r := range joinedRegs {
		if err := e.rt.DisconnectNetwork(ctx, c.Network, r.Name); err != nil && !backends.IsNotFound(err) {
			return wrapf(err, "disconnect registry %s from network %s", r.Name, c.Network)
		}
	}

	// Deduplicate what the labels name: every node repeats them.
	var netNames, volNames []string
	if c.Network != "" && !c.NetworkExternal {
		netNames = appendUnique(netNames, c.Network)
	}
	for _, n := range nets {
		if !isTrue(n.Labels, LabelNetworkExternal) {
			netNames = appendUnique(netNames, n.Name)
		}
	}
	if c.ImageVolume != "" && !c.ImageVolumeExternal {
		volNames = appendUnique(volNames, c.ImageVolume)
	}
	for _, v := range vols {
		if !isTrue(v.Labels, LabelImageVolumeExternal) {
			volNames = appendUnique(volNames, v.Name)
		}
	}
	for _, v := range volNames {
		if err := e.rt.DeleteVolume(ctx, v); err != nil && !backends.IsNotFound(err) {
			if backends.IsInUse(err) {
				e.note(fmt.Sprintf("volume %s is still used by other containers and was kept", v))
				continue
			}
			return wrapf(err, "delete volume %s", v)
		}
	}
	for _, n := range netNames {
		if err := e.rt.DeleteNetwork(ctx, n); err != nil && !backends.IsNotFound(err) {
			if backends.IsInUse(err) {
				e.note(fmt.Sprintf("network %s is still used by other containers (another cluster?) and was kept", n))
				continue
			}
			return wrapf(err, "delete network %s", n)
		}
	}
	if e.kubeconfigPath != "" {
		if err := e.removeKubeconfig(name, e.kubeconfigPath); err != nil {
			return err
		}
	}
	return nil
}

// deleteNodes removes nodes at once; a node already gone is fine.
func (e *Engine) deleteNodes(ctx context.Context, names []string) error {
	var mu sync.Mutex
	var errs []error
	_ = forEachAll(ctx, names, func(ctx context.Context, n string) error {
		if err := e.rt.DeleteNode(ctx, n); err != nil && !backends.IsNotFound(err) {
			mu.Lock()
			errs = append(errs, wrapf(err, "delete node %s", n))
			mu.Unlock()
		}
		return nil
	})
	if len(errs) > 0 {
		return joinErrors(errs)
	}
	return nil
}

func nodeNames(nodes []Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
