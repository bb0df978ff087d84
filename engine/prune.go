package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/k3d/k3d/backends"
)

// PruneReport lists what Prune removed.
type PruneReport struct {
	Nodes    []string `json:"nodes"`
	Networks []string `json:"networks"`
	Volumes  []string `json:"volumes"`
}

// Prune removes dangling k3d objects: nodes of clusters that have no server
// left, then networks and volumes of clusters that no remaining node uses. External
// networks and volumes (--network, --image-vol, `k3d create network|volume`)
// are never removed; the default registry network is, once no registry is
// on it.
func (e *Engine) Prune(ctx context.Context) (PruneReport, error) {
	var rep PruneReport
	nodes, err := e.rt.ListNodes(ctx, appSelector())
	if err != nil {
		return rep, fmt.Errorf("list nodes: %w", err)
	}
	hasServer := map[string]bool{}
	for _, n := range nodes {
		if Role(n.Labels[LabelRole]) == RoleServer {
			hasServer[n.Labels[LabelCluster]] = true
		}
	}
	var keep []backends.Node
	gone := map[string]bool{}
	for _, n := range nodes {
		cl := n.Labels[LabelCluster]
		// Nodes that belong to no cluster (registries) are not dangling, nor
		// are agents of a cluster elsewhere, whose servers are not here.
		if cl == "" || hasServer[cl] || Role(n.Labels[LabelRole]) == RoleRegistry || isTrue(n.Labels, LabelClusterExternal) {
			keep = append(keep, n)
			continue
		}
		rep.Nodes = append(rep.Nodes, n.Name)
		gone[cl] = true
	}
	sort.Strings(rep.Nodes)
	if len(rep.Nodes) > 0 {
		if err := e.step(fmt.Sprintf("Deleting %d dangling nodes", len(rep.Nodes)), func() error {
			return e.deleteNodes(ctx, rep.Nodes)
		}); err != nil {
			return rep, err
		}
	}

	// A cluster without servers has no API left: its kubeconfig entries
	// point at nothing.
	if e.kubeconfigPath != "" {
		for cl := range gone {
			if err := e.removeKubeconfig(cl, e.kubeconfigPath); err != nil {
				return rep, err
			}
		}
	}

	usedNet, usedVol, liveCluster := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, n := range keep {
		usedNet[n.Labels[LabelNetwork]] = true
		usedVol[n.Labels[LabelImageVolume]] = true
		liveCluster[n.Labels[LabelCluster]] = true
		for _, a := range n.Networks {
			usedNet[a.Network] = true
		}
		for _, m := range n.Mounts {
			if m.Type == backends.MountVolume {
				usedVol[m.Source] = true
			}
		}
	}
	nets, err := e.rt.ListNetworks(ctx, appSelector())
	if err != nil {
		return rep, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		if n.Name == RegistryNetwork && !usedNet[n.Name] {
			removed, err := e.pruneRegistryNetwork(ctx)
			if err != nil {
				return rep, err
			}
			if removed {
				rep.Networks = append(rep.Networks, n.Name)
			}
			continue
		}
		// Only what a cluster made is k3d's to prune: other app=k3d objects
		// (external networks, other tools' fixtures) carry no cluster label.
		if n.Labels[LabelCluster] == "" || usedNet[n.Name] || isTrue(n.Labels, LabelNetworkExternal) || liveCluster[n.Labels[LabelCluster]] && n.Labels[LabelCluster] != "" {
			continue
		}
		if err := e.rt.DeleteNetwork(ctx, n.Name); err != nil {
			if backends.IsInUse(err) || backends.IsNotFound(err) {
				continue // used by containers k3d does not know: not dangling
			}
			return rep, wrapf(err, "delete network %s", n.Name)
		}
		rep.Networks = append(rep.Networks, n.Name)
	}
	vols, err := e.rt.ListVolumes(ctx, appSelector())
	if err != nil {
		return rep, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vols {
		if v.Labels[LabelCluster] == "" || usedVol[v.Name] || isTrue(v.Labels, LabelImageVolumeExternal) || liveCluster[v.Labels[LabelCluster]] && v.Labels[LabelCluster] != "" {
			continue
		}
		if err := e.rt.DeleteVolume(ctx, v.Name); err != nil {
			if backends.IsInUse(err) || backends.IsNotFound(err) {
				continue
			}
			return rep, wrapf(err, "delete volume %s", v.Name)
		}
		rep.Volumes = append(rep.Volumes, v.Name)
	}
	return rep, nil
}

// CreateVolume creates a volume for --image-vol. It is labelled external so
// that deleting or pruning clusters keeps it. The name gets k3d's prefix.
func (e *Engine) CreateVolume(ctx context.Context, name string) (string, error) {
	name = ObjectName(name)
	if !dns1123Subdomain.MatchString(name) {
		return "", invalidf("volume name %q: use letters, digits, '-' and '.'", name)
	}
	labels := map[string]string{LabelApp: LabelAppValue, LabelVersion: e.version, LabelImageVolumeExternal: "true"}
	if _, err := e.rt.CreateVolume(ctx, backends.VolumeSpec{Name: name, Labels: labels}); err != nil {
		if backends.IsAlreadyExists(err) {
			return "", existsf("volume %s exists already: use it with --image-vol %s", name, name)
		}
		return "", wrapf(err, "create volume %s", name)
	}
	return name, nil
}

// CreateNetwork creates a network for --network. It is labelled external so
// that deleting or pruning clusters keeps it. The name gets k3d's prefix.
func (e *Engine) CreateNetwork(ctx context.Context, name, subnet string) (backends.Network, error) {
	name = ObjectName(name)
	if !dns1123Subdomain.MatchString(name) {
		return backends.Network{}, invalidf("network name %q: use letters, digits, '-' and '.'", name)
	}
	labels := map[string]string{LabelApp: LabelAppValue, LabelVersion: e.version, LabelNetworkExternal: "true"}
	n, err := e.rt.CreateNetwork(ctx, backends.NetworkSpec{Name: name, Labels: labels, Subnet: subnet})
	if err != nil {
		if backends.IsAlreadyExists(err) {
			return backends.Network{}, existsf("network %s exists already: use it with --network %s", name, name)
		}
		return backends.Network{}, wrapf(err, "create network %s", name)
	}
	return n, nil
}
