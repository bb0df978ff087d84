package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// `k3d shell NAME` gives a command a KUBECONFIG of its own that reaches the
// cluster's API, passes the command's exit code on, and cleans up after.
func TestShell(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("sh")
		s.createCluster(name, "--kubeconfig-update-default=false")

		// What a user's kubectl would read: the file KUBECONFIG names.
		res := s.must("shell", name, "--shell", "/bin/sh", "--command", `echo "$KUBECONFIG"; cat "$KUBECONFIG"`)
		path, kc, _ := strings.Cut(res.stdout, "\n")
		if path == s.kubeconfig || path == "" {
			t.Errorf("KUBECONFIG in the shell is %q (the session's is %s)", path, s.kubeconfig)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("the shell's kubeconfig %s outlived the shell (%v)", path, err)
		}
		cfg, err := clientcmd.Load([]byte(kc))
		if err != nil {
			t.Fatalf("the shell's kubeconfig does not load: %v\n%s", err, kc)
		}
		if cfg.CurrentContext != contextName(name) || len(cfg.Contexts) != 1 {
			t.Errorf("the shell's kubeconfig: current-context %q, contexts %v", cfg.CurrentContext, keys(cfg.Contexts))
		}
		rest, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			t.Fatalf("client config from the shell's kubeconfig: %v", err)
		}
		rest.Timeout = 10 * time.Second
		cs, err := kubernetes.NewForConfig(rest)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		for {
			v, err := cs.Discovery().ServerVersion()
			if err == nil {
				t.Logf("%s/version through the shell's kubeconfig: %s", rest.Host, v.GitVersion)
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("GET %s/version with the shell's kubeconfig: %v", rest.Host, err)
			case <-time.After(250 * time.Millisecond):
			}
		}

		if res := s.run("shell", name, "--", "sh", "-c", "exit 3"); res.code != 3 || strings.Contains(res.stderr, "k3d: ") {
			t.Errorf("want exit 3 and no k3d error from: %s", res)
		}
		missing := name + "-x"
		if res := s.run("shell", missing); res.code != 1 ||
			strings.TrimSpace(res.stderr) != "k3d: shell: cluster "+missing+" not found: list clusters with `k3d cluster list`" {
			t.Errorf("want the one-line not-found error from: %s", res)
		}
	})
}
