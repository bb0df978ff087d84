package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/k3d/k3d/backends"
)

// stopTimeout is how long k3s gets to shut down before it is killed.
const stopTimeout = 10 * time.Second

// StartCluster starts every stopped node of a cluster at once and, unless
// NoWait, waits until the nodes and the API are ready again. The API comes
// back on the same host port: it is fixed in the node's port mapping.
func (e *Engine) StartCluster(ctx context.Context, name string, o StartOptions) error {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	c, err := e.GetCluster(ctx, name)
	if err != nil {
		return err
	}
	var stopped []string
	var toWait []Node
	for _, n := range c.Nodes {
		if !n.Running {
			stopped = append(stopped, n.Name)
			if n.Role.k3sNode() {
				toWait = append(toWait, n)
			}
		}
	}
	if len(stopped) == 0 {
		e.note(fmt.Sprintf("cluster %s is running already", name))
		return nil
	}
	starts, err := e.startNodes(ctx, stopped, initServer(c.Nodes))
	if err != nil {
		return err
	}
	if o.NoWait {
		return nil
	}
	if len(toWait) > 0 {
		err := e.step(fmt.Sprintf("Waiting for %d nodes of cluster %s to be ready", len(toWait), name), func() error {
			return forEach(ctx, toWait, func(ctx context.Context, n Node) error {
				return e.waitNodeReady(ctx, n.Name, n.Role, starts[n.Name])
			})
		})
		if err != nil {
			return err
		}
	}
	var kc []byte
	err = e.step("Waiting for the Kubernetes API", func() error {
		var err error
		if kc, err = e.Kubeconfig(ctx, name); err != nil {
			return err
		}
		return e.waitAPIReady(ctx, kc)
	})
	if err != nil {
		return err
	}
	// k3s may re-apply its CoreDNS manifest on start, dropping k3d's lines.
	e.injectNodeHosts(ctx, name, kc, e.clusterGateway(ctx, c), clusterHostAliases(c))
	return nil
}

// StopCluster stops every node of a cluster at once.
func (e *Engine) StopCluster(ctx context.Context, name string) error {
	c, err := e.GetCluster(ctx, name)
	if err != nil {
		return err
	}
	return e.step(fmt.Sprintf("Stopping %d nodes of cluster %s", len(c.Nodes), name), func() error {
		return e.stopNodes(ctx, nodeNames(c.Nodes))
	})
}

func (e *Engine) stopNodes(ctx context.Context, names []string) error {
	return forEachAll(ctx, names, func(ctx context.Context, n string) error {
		if err := e.rt.StopNode(ctx, n, stopTimeout); err != nil && !backends.IsNotFound(err) {
			return wrapf(err, "stop node %s", n)
		}
		return nil
	})
}

// StartNode starts one node and, unless NoWait, waits until it is ready.
func (e *Engine) StartNode(ctx context.Context, name string, o StartOptions) error {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	n, err := e.GetNode(ctx, name)
	if err != nil {
		return err
	}
	if n.Running {
		return nil
	}
	starts, err := e.startNodes(ctx, []string{name}, "")
	if err != nil {
		return err
	}
	if o.NoWait || !n.Role.k3sNode() {
		return nil
	}
	return e.step("Waiting for node "+name+" to be ready", func() error {
		return e.waitNodeReady(ctx, name, n.Role, starts[name])
	})
}

// StopNode stops one node.
func (e *Engine) StopNode(ctx context.Context, name string) error {
	if _, err := e.GetNode(ctx, name); err != nil {
		return err
	}
	return e.step("Stopping node "+name, func() error {
		return e.stopNodes(ctx, []string{name})
	})
}
