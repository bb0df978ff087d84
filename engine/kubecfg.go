package engine

import (
	"context"
	"fmt"
	"net"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/kubeconfig"
)

// Kubeconfig returns a cluster's admin kubeconfig as k3s wrote it on a
// server, with cluster, user and context named k3d-NAME / admin@k3d-NAME and
// the server URL pointing at the API published on the host.
func (e *Engine) Kubeconfig(ctx context.Context, name string) ([]byte, error) {
	c, err := e.GetCluster(ctx, name)
	if err != nil {
		return nil, err
	}
	servers := c.Servers()
	if len(servers) == 0 {
		return nil, invalidf("cluster %s has no server to read the kubeconfig from", name)
	}
	// server-0 first: it is the one k3d v5 reads too; any server has the
	// same admin credentials.
	src := servers[0].Name
	for _, s := range servers {
		if s.Running {
			src = s.Name
			break
		}
	}
	if c.API.Port == "" {
		return nil, invalidf("cluster %s does not say where its API is published (no %s label)", name, LabelServerAPIPort)
	}
	return e.clusterKubeconfig(ctx, name, src, c.API)
}

// clusterKubeconfig reads the kubeconfig k3s writes on node and rewrites it
// for the host. k3s writes the file while it starts, so a missing file is
// waited for (briefly polled) until ctx ends.
func (e *Engine) clusterKubeconfig(ctx context.Context, cluster, node string, api APIEndpoint) ([]byte, error) {
	var raw []byte
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		b, err := e.readFile(ctx, node, kubeconfigOutput)
		if err == nil {
			raw = b
			break
		}
		if !backends.IsNotFound(err) {
			return nil, fmt.Errorf("read kubeconfig from node %s: %w", node, err)
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return nil, fmt.Errorf("read kubeconfig from node %s: k3s has not written %s: %w", node, kubeconfigOutput, err)
		}
	}
	cfg, err := kubeconfig.FromK3s(raw, cluster, apiServerURL(api))
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of cluster %s: %w", cluster, err)
	}
	out, err := kubeconfig.Encode(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of cluster %s: %w", cluster, err)
	}
	return out, nil
}

// apiServerURL is the API's address for clients on the host. The host part
// is what k3d v5 writes too: the API host, or the bound address.
func apiServerURL(api APIEndpoint) string {
	host := api.Host
	if host == "" {
		host = api.HostIP
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, api.Port)
}

// MergeKubeconfig merges a cluster's kubeconfig into the file at path
// (created if missing), optionally making it the current context.
func (e *Engine) MergeKubeconfig(ctx context.Context, name, path string, switchContext bool) error {
	kc, err := e.Kubeconfig(ctx, name)
	if err != nil {
		return err
	}
	return e.mergeKubeconfig(kc, name, path, switchContext)
}

func (e *Engine) mergeKubeconfig(kc []byte, name, path string, switchContext bool) error {
	cfg, err := clientcmd.Load(kc)
	if err != nil {
		return fmt.Errorf("kubeconfig of cluster %s: %w", name, err)
	}
	if err := kubeconfig.Merge(path, cfg, switchContext); err != nil {
		return fmt.Errorf("merge kubeconfig of cluster %s into %s: %w", name, path, err)
	}
	return nil
}

func (e *Engine) removeKubeconfig(name, path string) error {
	if err := kubeconfig.Remove(path, name); err != nil {
		return fmt.Errorf("remove cluster %s from kubeconfig %s: %w", name, path, err)
	}
	return nil
}
