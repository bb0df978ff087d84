package containerd

import (
	"context"
	"fmt"
	"slices"

	"github.com/k3d/k3d/backends"
)

// ConnectNetwork attaches a node (running or not: its network namespace
// lives as long as it does) to a network under aliases, through the next
// free interface ethN, and adds it to the hosts files of that network's
// nodes.
func (r *Runtime) ConnectNetwork(ctx context.Context, network, node string, aliases []string) error {
	if err := r.connectNetwork(ctx, network, node, aliases); err != nil {
		return fmt.Errorf("connect node %s to network %s: %w", node, network, err)
	}
	return nil
}

func (r *Runtime) connectNetwork(ctx context.Context, network, node string, aliases []string) error {
	if _, err := r.readNetwork(network); err != nil {
		return err
	}
	// The state lock is held throughout, so that the interface name picked
	// here is still free when it is recorded.
	unlock, err := r.lock(ctx, lockState)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := r.nodeRecord(ctx, node)
	if err != nil {
		return err
	}
	if rec.meta.attachment(network) != nil {
		return backends.AlreadyExists(fmt.Sprintf("node %q on network %q", node, network))
	}
	m := rec.meta
	a := attachment{Network: network, IfName: freeIfName(m.Networks), Aliases: aliases}
	if err := r.ensureNetNS(ctx, &rec); err != nil {
		return err
	}
	ip, err := r.cniAdd(ctx, m.ID, m.NetNS, a, nil)
	if err != nil {
		return err
	}
	a.IPv4 = ip
	m.Networks = append(m.Networks, a)
	if err := r.saveMeta(ctx, node, m); err != nil {
		cctx, cancel := withoutCancel(ctx)
		defer cancel()
		_ = r.cniDel(cctx, m.ID, m.NetNS, a, nil)
		return err
	}
	return r.syncHosts(ctx, networkNames(m), node)
}

// freeIfName is the first ethN no attachment uses.
func freeIfName(as []attachment) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !slices.ContainsFunc(as, func(a attachment) bool { return a.IfName == name }) {
			return name
		}
	}
}

// DisconnectNetwork detaches a node from a network and drops it from the
// hosts files of that network's nodes.
func (r *Runtime) DisconnectNetwork(ctx context.Context, network, node string) error {
	if err := r.disconnectNetwork(ctx, network, node); err != nil {
		return fmt.Errorf("disconnect node %s from network %s: %w", node, network, err)
	}
	return nil
}

func (r *Runtime) disconnectNetwork(ctx context.Context, network, node string) error {
	unlock, err := r.lock(ctx, lockState)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := r.nodeRecord(ctx, node)
	if err != nil {
		return err
	}
	m := rec.meta
	i := slices.IndexFunc(m.Networks, func(a attachment) bool { return a.Network == network })
	if i < 0 {
		if _, err := r.readNetwork(network); err != nil {
			return err
		}
		return backends.NotFound(fmt.Sprintf("node %q on network %q", node, network))
	}
	a := m.Networks[i]
	if err := r.cniDel(ctx, m.ID, m.NetNS, a, portsFor(m, i)); err != nil && !backends.IsNotFound(err) {
		return err
	}
	m.Networks = slices.Delete(m.Networks, i, i+1)
	if err := r.saveMeta(ctx, node, m); err != nil {
		return err
	}
	return r.syncHosts(ctx, []string{network}, node)
}
