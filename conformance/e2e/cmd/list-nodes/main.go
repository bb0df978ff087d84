// Command list-nodes prints a cluster's Kubernetes nodes the way `kubectl get
// nodes` does, through client-go and a kubeconfig: the demo uses it where
// kubectl is not installed, to show that the kubeconfig k3d wrote works.
//
//	go run ./conformance/e2e/cmd/list-nodes [--kubeconfig FILE] [--context NAME]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "list-nodes:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	contextName := flag.String("context", "", "context to use (default: the current context)")
	flag.Parse()

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: *contextName}).ClientConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes at %s: %w", cfg.Host, err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATUS\tROLES\tVERSION")
	for _, n := range nodes.Items {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", n.Name, status(n), roles(n), n.Status.NodeInfo.KubeletVersion)
	}
	return w.Flush()
}

func status(n corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return "Ready"
			}
			return "NotReady"
		}
	}
	return "Unknown"
}

// roles reads the node-role.kubernetes.io/ROLE labels, as kubectl does.
func roles(n corev1.Node) string {
	var rs []string
	for k := range n.Labels {
		if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && r != "" {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return "<none>"
	}
	slices.Sort(rs)
	return strings.Join(rs, ",")
}
