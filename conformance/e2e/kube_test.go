package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// readyTimeout bounds how long a test waits for nodes to become Ready; the
// double is Ready within seconds, so this only matters when something is broken.
const readyTimeout = 2 * time.Minute

// contextName is the kubeconfig context (and cluster) k3d writes for cluster.
func contextName(cluster string) string { return "k3d-" + cluster }

// kubeServer is the API server URL that the kubeconfig gives for cluster.
func kubeServer(t testing.TB, kubeconfig, cluster string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatalf("read kubeconfig %s: %v", kubeconfig, err)
	}
	c, ok := cfg.Clusters[contextName(cluster)]
	if !ok {
		t.Fatalf("kubeconfig %s has no cluster %s (has %v)", kubeconfig, contextName(cluster), keys(cfg.Clusters))
	}
	return c.Server
}

// kubeEntries lists the clusters, users and contexts of the kubeconfig that
// name cluster; a missing file has none.
func kubeEntries(kubeconfig, cluster string) ([]string, error) {
	if _, err := os.Stat(kubeconfig); os.IsNotExist(err) {
		return nil, nil
	}
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", kubeconfig, err)
	}
	name := contextName(cluster)
	var found []string
	for k := range cfg.Clusters {
		if strings.Contains(k, name) {
			found = append(found, "cluster "+k)
		}
	}
	for k := range cfg.AuthInfos {
		if strings.Contains(k, name) {
			found = append(found, "user "+k)
		}
	}
	for k := range cfg.Contexts {
		if strings.Contains(k, name) {
			found = append(found, "context "+k)
		}
	}
	if cfg.CurrentContext == name {
		found = append(found, "current-context "+name)
	}
	slices.Sort(found)
	return found, nil
}

// kubeClient is a client-go clientset for cluster's context in kubeconfig,
// which is what kubectl uses.
func kubeClient(t testing.TB, kubeconfig, cluster string) kubernetes.Interface {
	t.Helper()
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: contextName(cluster)})
	cfg, err := loader.ClientConfig()
	if err != nil {
		t.Fatalf("client config for %s from %s: %v", contextName(cluster), kubeconfig, err)
	}
	cfg.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("kubernetes client for %s: %v", contextName(cluster), err)
	}
	return cs
}

// isReady reports whether a node's Ready condition is True.
func isReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitReadyNodes polls the API, as kubectl get nodes does, until want nodes are
// listed and all Ready, and returns their names sorted.
func waitReadyNodes(t testing.TB, kubeconfig, cluster string, want int) []string {
	t.Helper()
	cs := kubeClient(t, kubeconfig, cluster)
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var last string
	for {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			var names, notReady []string
			for _, n := range list.Items {
				names = append(names, n.Name)
				if !isReady(n) {
					notReady = append(notReady, n.Name)
				}
			}
			slices.Sort(names)
			if len(names) == want && len(notReady) == 0 {
				return names
			}
			last = fmt.Sprintf("%d nodes %v, not Ready: %v", len(names), names, notReady)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cluster %s: want %d Ready nodes within %s; last answer: %s", cluster, want, readyTimeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
