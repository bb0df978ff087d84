package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/conformance/internal/registrypush"
)

// registryName is a fresh registry name (the node is k3d-NAME).
func registryName(tag string) string { return clusterName("reg" + tag) }

// createRegistry runs `k3d registry create NAME ARGS...` and makes sure the
// registry and its storage are gone when the test ends.
func (s *session) createRegistry(name string, args ...string) {
	s.t.Helper()
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		node := "k3d-" + name
		if _, err := s.r.rt.InspectNode(ctx, node); err == nil {
			if res := s.run("registry", "delete", "--force", name); res.code != 0 {
				s.t.Errorf("cleanup: %s", res)
			}
		}
		if _, err := s.r.rt.InspectNode(ctx, node); !backends.IsNotFound(err) {
			s.t.Errorf("registry node %s still there after delete (%v)", node, err)
			_ = s.r.rt.DeleteNode(ctx, node)
		}
		if _, err := s.r.rt.InspectVolume(ctx, node+"-data"); !backends.IsNotFound(err) {
			s.t.Errorf("registry volume %s-data still there after delete (%v)", node, err)
			_ = s.r.rt.DeleteVolume(ctx, node+"-data")
		}
	})
	s.must(append([]string{"registry", "create", name, "--no-help"}, args...)...)
}

// pushImage pushes a fresh random image of size bytes (in two layers) to the
// registry on the host's port, as a user's `docker push` would, and returns it.
func pushImage(t testing.TB, hostPort, repo, tag string, size int64) v1.Image {
	t.Helper()
	img, err := random.Image(size/2, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := registrypush.Push(ctx, "http://"+hostPort, repo, tag, img); err != nil {
		t.Fatalf("push %s:%s to %s: %v", repo, tag, hostPort, err)
	}
	return img
}

// crictlPull pulls ref in node as the kubelet would (through the node's
// registries.yaml) and returns crictl's output and exit code.
func crictlPull(t testing.TB, rt backends.Runtime, node, ref string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	code, err := rt.Exec(ctx, node, backends.ExecSpec{Cmd: []string{"crictl", "pull", ref}, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("crictl pull %s in %s: %v", ref, node, err)
	}
	return code, out.String()
}

// mustPull pulls ref in node and checks that the node now holds img.
func mustPull(t testing.TB, rt backends.Runtime, node, ref string, img v1.Image) {
	t.Helper()
	if code, out := crictlPull(t, rt, node, ref); code != 0 {
		t.Fatalf("crictl pull %s in %s: exit %d: %s", ref, node, code, out)
	}
	cfg, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids := nodeImageIDs(ctx, t, rt, node)
	if got, ok := ids[ref]; !ok || got != cfg.String() {
		t.Errorf("after crictl pull %s, node %s lists %v; want the pushed image %s", ref, node, ids, cfg)
	}
}

// registryJSON is `k3d registry list -o json`: k3d v5's nodes.
type registryJSON struct {
	Name          string            `json:"name"`
	Role          string            `json:"role"`
	RuntimeLabels map[string]string `json:"runtimeLabels"`
	PortMappings  map[string][]struct {
		HostPort string `json:"HostPort"`
	} `json:"portMappings"`
	State struct{ Running bool }
}

func listRegistry(t testing.TB, s *session, name string) registryJSON {
	t.Helper()
	var regs []registryJSON
	out := s.must("registry", "list", name, "-o", "json").stdout
	if err := json.Unmarshal([]byte(out), &regs); err != nil || len(regs) != 1 {
		t.Fatalf("registry list -o json: %v\n%s", err, out)
	}
	return regs[0]
}

// catalog is what the registry on hostPort holds.
func catalog(t testing.TB, hostPort string) []string {
	t.Helper()
	resp, err := http.Get("http://" + hostPort + "/v2/_catalog")
	if err != nil {
		t.Fatalf("registry catalog on %s: %v", hostPort, err)
	}
	defer resp.Body.Close()
	var c struct{ Repositories []string }
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("registry catalog on %s: %v: %s", hostPort, err, b)
	}
	return c.Repositories
}

// The everyday loop: a registry, an image pushed from the host, a cluster
// whose nodes pull it through the registry under the name the user tagged it
// with, a registry restart that keeps it, and a cluster delete that keeps
// the registry it only used.
func TestRegistryUse(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		reg := registryName("use")
		port := freePort(t)
		s.createRegistry(reg, "-p", port)

		js := listRegistry(t, s, reg)
		// k3d shows only its k3d.* labels as runtimeLabels; the node has
		// all of k3d's registry labels.
		if js.Name != "k3d-"+reg || js.Role != "registry" || !js.State.Running ||
			js.RuntimeLabels["k3d.role"] != "registry" || js.RuntimeLabels["k3d.registry.hostIP"] != "0.0.0.0" {
			t.Errorf("registry list -o json: %+v", js)
		}
		if n, err := r.rt.InspectNode(context.Background(), "k3d-"+reg); err != nil {
			t.Errorf("inspect registry node: %v", err)
		} else if n.Labels["app"] != "k3d" || n.Labels["k3d.role"] != "registry" ||
			n.Labels["k3s.registry.port.external"] != port || n.Labels["k3s.registry.port.internal"] != "5000" {
			t.Errorf("registry node labels: %v", n.Labels)
		}
		if m := js.PortMappings["5000/tcp"]; len(m) != 1 || m[0].HostPort != port {
			t.Errorf("registry list -o json portMappings: %+v", js.PortMappings)
		}

		img := pushImage(t, "127.0.0.1:"+port, "app", "v1", 2<<20)
		name := clusterName("reguse")
		s.createCluster(name, "--agents", "1", "--registry-use", "k3d-"+reg+":"+port)

		// Both nodes pull through the mirror, under the external and the
		// internal name.
		mustPull(t, r.rt, "k3d-"+name+"-server-0", "k3d-"+reg+":"+port+"/app:v1", img)
		mustPull(t, r.rt, "k3d-"+name+"-agent-0", "k3d-"+reg+":5000/app:v1", img)

		// Tilt and ctlptl find the registry through KEP-1755's ConfigMap.
		cm, err := kubeClient(t, s.kubeconfig, name).CoreV1().ConfigMaps("kube-public").Get(context.Background(), "local-registry-hosting", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("ConfigMap kube-public/local-registry-hosting: %v", err)
		}
		var lrh struct {
			Host                     string `json:"host"`
			HostFromContainerRuntime string `json:"hostFromContainerRuntime"`
			HostFromClusterNetwork   string `json:"hostFromClusterNetwork"`
			Help                     string `json:"help"`
		}
		if err := yaml.Unmarshal([]byte(cm.Data["localRegistryHosting.v1"]), &lrh); err != nil {
			t.Fatalf("localRegistryHosting.v1: %v\n%s", err, cm.Data)
		}
		if lrh.Host != "localhost:"+port || lrh.HostFromContainerRuntime != "k3d-"+reg+":5000" || lrh.HostFromClusterNetwork != "k3d-"+reg+":5000" || lrh.Help == "" {
			t.Errorf("localRegistryHosting.v1: %+v", lrh)
		}

		// A node added later pulls through it too.
		s.must("node", "create", name+"-late", "--cluster", name)
		mustPull(t, r.rt, "k3d-"+name+"-late-0", "k3d-"+reg+":"+port+"/app:v1", img)

		// Images live on the registry's volume: a restart keeps them.
		s.must("registry", "stop", reg)
		if js := listRegistry(t, s, reg); js.State.Running {
			t.Errorf("registry still running after stop")
		}
		s.must("registry", "start", reg)
		waitCatalog(t, "127.0.0.1:"+port, "app")

		// Deleting a registry a cluster pulls through is refused.
		if res := s.run("registry", "delete", reg); res.code == 0 || !strings.Contains(res.stderr, "used by cluster "+name) || !strings.Contains(res.stderr, "--force") {
			t.Errorf("registry delete of a used registry: %s", res)
		}
		s.must("delete", "cluster", name)
		assertGone(t, s, name)
		n, err := r.rt.InspectNode(context.Background(), "k3d-"+reg)
		if err != nil {
			t.Fatalf("the used registry did not survive its cluster: %v", err)
		}
		for _, a := range n.Networks {
			if a.Network == "k3d-"+name {
				t.Errorf("registry still on the deleted cluster's network")
			}
		}
		s.must("registry", "delete", reg)

		// The next registry and cluster work as the first did. (On Podman 4
		// a registry disconnected while running left its name in
		// aardvark-dns, and the next one then took DNS down.)
		reg2, port2 := registryName("again"), freePort(t)
		s.createRegistry(reg2, "-p", port2)
		img2 := pushImage(t, "127.0.0.1:"+port2, "app", "v2", 1<<20)
		name2 := clusterName("regagain")
		s.createCluster(name2, "--registry-use", "k3d-"+reg2+":"+port2, "--kubeconfig-update-default=false")
		mustPull(t, r.rt, "k3d-"+name2+"-server-0", "k3d-"+reg2+":"+port2+"/app:v2", img2)
		s.must("delete", "cluster", name2)
	})
}

// waitCatalog waits until the registry on hostPort answers and lists repo.
func waitCatalog(t testing.TB, hostPort, repo string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + hostPort + "/v2/_catalog")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry on %s does not answer after restart: %v", hostPort, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, r := range catalog(t, hostPort) {
		if r == repo {
			return
		}
	}
	t.Errorf("registry on %s lost %s across a restart: has %v", hostPort, repo, catalog(t, hostPort))
}

// --registry-create makes the registry with the cluster, on its network,
// and deletes it with the cluster.
func TestRegistryCreateWithCluster(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		name := clusterName("regcreate")
		reg := "k3d-" + name + "-reg"
		port := freePort(t)
		s.createCluster(name, "--registry-create", reg+":127.0.0.1:"+port, "--kubeconfig-update-default=false")

		n, err := r.rt.InspectNode(context.Background(), reg)
		if err != nil {
			t.Fatalf("--registry-create made no registry %s: %v", reg, err)
		}
		if n.Labels["k3d.cluster"] != name || n.Labels["k3d.role"] != "registry" || n.Labels["k3d.registry.hostIP"] != "127.0.0.1" {
			t.Errorf("registry labels: %v", n.Labels)
		}
		img := pushImage(t, "127.0.0.1:"+port, "team/web", "1.0", 1<<20)
		mustPull(t, r.rt, "k3d-"+name+"-server-0", reg+":"+port+"/team/web:1.0", img)

		s.must("delete", "cluster", name)
		assertGone(t, s, name)
		if _, err := r.rt.InspectNode(context.Background(), reg); !backends.IsNotFound(err) {
			t.Errorf("registry %s outlived its cluster (%v)", reg, err)
		}
		if _, err := r.rt.InspectVolume(context.Background(), reg+"-data"); !backends.IsNotFound(err) {
			t.Errorf("registry volume %s-data outlived its cluster (%v)", reg, err)
		}

		// A cluster that fails after its registry was made takes the
		// registry with it.
		bad := clusterName("regfail")
		s.deleteOnCleanup(bad)
		res := s.run("create", "cluster", bad, "--image", r.image, "--registry-create", bad+"-reg", "--k3s-arg", "--https-listen-port=notaport@server:0", "--timeout", "60s")
		if res.code == 0 || !strings.Contains(res.stderr, "notaport") {
			t.Errorf("want the create to fail on the bad k3s flag: %s", res)
		}
		if _, err := r.rt.InspectNode(context.Background(), "k3d-"+bad+"-reg"); !backends.IsNotFound(err) {
			t.Errorf("the failed create left its registry k3d-%s-reg (%v)", bad, err)
		}
		if _, err := r.rt.InspectVolume(context.Background(), "k3d-"+bad+"-reg-data"); !backends.IsNotFound(err) {
			t.Errorf("the failed create left its registry's volume (%v)", err)
		}
		assertGone(t, s, bad)
	})
}

// A pull-through cache in front of another registry (standing in for a
// remote one such as Docker Hub): the cluster's nodes, which cannot reach the
// remote, pull its image through the cache, and the cache keeps a copy.
func TestRegistryPullThroughCache(t *testing.T) {
	t.Parallel()
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		remote, cache := registryName("remote"), registryName("cache")
		remotePort, cachePort := freePort(t), freePort(t)
		s.createRegistry(remote, "-p", remotePort)
		img := pushImage(t, "127.0.0.1:"+remotePort, "lib/tool", "2", 1<<20)
		s.createRegistry(cache, "-p", cachePort, "--proxy-remote-url", fmt.Sprintf("http://k3d-%s:5000", remote))

		name := clusterName("regcache")
		s.createCluster(name, "--registry-use", "k3d-"+cache, "--kubeconfig-update-default=false")
		// The cache finds the remote through the runtime's DNS, which on
		// Podman 4 can stall for many seconds while other tests change
		// networks (the cache then answers "manifest unknown"): the kubelet
		// would retry the pull, and so does this.
		node, ref := "k3d-"+name+"-server-0", "k3d-"+remote+":5000/lib/tool:2"
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
			code, out := crictlPull(t, r.rt, node, ref)
			if code == 0 || time.Now().After(deadline) {
				if code != 0 {
					t.Logf("last pull attempt: exit %d: %s", code, out)
				}
				break
			}
		}
		mustPull(t, r.rt, node, ref, img)
		found := false
		for _, repo := range catalog(t, "127.0.0.1:"+cachePort) {
			found = found || repo == "lib/tool"
		}
		if !found {
			t.Errorf("the cache holds no copy of lib/tool after the pull: %v", catalog(t, "127.0.0.1:"+cachePort))
		}
		s.must("delete", "cluster", name)
	})
}
