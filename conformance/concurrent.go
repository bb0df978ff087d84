package conformance

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/k3d/k3d/backends"
)

// testConcurrentNodes: ten nodes created and started at once all come up,
// the way the engine creates a cluster's nodes, and are deleted at once too.
func testConcurrentNodes(t *testing.T, f *fixture) {
	const count = 10
	network := f.defaultNetwork()
	var names []string
	for i := range count {
		names = append(names, f.name(fmt.Sprintf("n%d", i)))
	}
	for _, name := range names {
		f.deleteLater("node", name, f.rt.DeleteNode)
	}

	g, ctx := errgroup.WithContext(f.ctx)
	for _, name := range names {
		g.Go(func() error {
			spec := f.nodeSpec(backends.NodeSpec{Name: name, Networks: []backends.NetworkAttachment{{Network: network}}})
			if _, err := f.rt.CreateNode(ctx, spec); err != nil {
				return fmt.Errorf("create node %s: %w", name, err)
			}
			if err := f.rt.StartNode(ctx, name); err != nil {
				return fmt.Errorf("start node %s: %w", name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("create and start %d nodes at once: %v", count, err)
	}
	for _, name := range names {
		f.waitRunning(name)
	}
	nodes, err := f.rt.ListNodes(f.ctx, f.selector())
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	if got := nodeNames(nodes); !slices.Equal(got, sorted(slices.Clone(names)...)) {
		t.Errorf("list nodes: %q, want the %d created", got, count)
	}
	ips := map[string]string{}
	for _, n := range nodes {
		ip := nodeIP(n, network)
		if other, taken := ips[ip]; taken || ip == "" {
			t.Errorf("node %s has address %q on %s, like %s", n.Name, ip, network, other)
		}
		ips[ip] = n.Name
	}

	g, ctx = errgroup.WithContext(f.ctx)
	for _, name := range names {
		g.Go(func() error { return deleteNode(ctx, f.rt, name) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("delete %d nodes at once: %v", count, err)
	}
}

func deleteNode(ctx context.Context, rt backends.Runtime, name string) error {
	if err := rt.DeleteNode(ctx, name); err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	return nil
}
