package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/k3d/k3d/engine/loadbalancer"
)

// --lb-config-override and options.k3d.loadbalancer.configOverrides set the
// load balancer's settings, which stay through the rewrites of its config
// that adding a node and editing the ports make.
func TestLBConfigOverride(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("lbset")
		cfg := filepath.Join(t.TempDir(), "k3d.yaml")
		file := fmt.Sprintf("apiVersion: k3d.io/v1alpha5\nkind: Simple\nmetadata:\n  name: %s\nimage: %s\noptions:\n  k3d:\n    loadbalancer:\n      configOverrides:\n        - settings.workerConnections=2048\n", name, r.image)
		if err := os.WriteFile(cfg, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		s.deleteOnCleanup(name)
		s.must("create", "cluster", "--config", cfg, "--lb-config-override", "settings.defaultProxyTimeout=900")
		want := loadbalancer.Settings{WorkerConnections: 2048, DefaultProxyTimeout: 900}
		lb := "k3d-" + name + "-serverlb"
		check := func(after string) {
			t.Helper()
			raw, err := readAll(context.Background(), r.rt, lb, loadbalancer.ConfigDir+"/"+loadbalancer.ConfigFile)
			if err != nil {
				t.Fatal(err)
			}
			got, err := loadbalancer.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got.Settings != want {
				t.Errorf("%s: load balancer settings %+v, want %+v:\n%s", after, got.Settings, want, raw)
			}
		}
		check("create")
		s.must("node", "create", name+"-late", "--cluster", name)
		check("node create")
		s.must("cluster", "edit", name, "--port-add", "127.0.0.1:"+freePort(t)+":80@loadbalancer")
		check("cluster edit")
		// The API still answers through the proxy with its settings.
		s.must("kubeconfig", "get", name)
		waitReadyNodes(t, s.kubeconfig, name, 2)
		s.must("delete", "cluster", name)
	})
}
