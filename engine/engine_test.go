package engine

import (
	"context"
	"errors"
	"github.com/k3d/k3d/version"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/fake"
	"github.com/k3d/k3d/engine/hostadapt"
	"github.com/k3d/k3d/engine/loadbalancer"
)

const (
	testImage  = "rancher/k3s:test"
	testHelper = "k3d-helper:test"
)

// recorder is a Progress that keeps what it was told.
type recorder struct {
	mu    sync.Mutex
	steps []string
	notes []string
}

func (r *recorder) Step(msg string) func(error) {
	r.mu.Lock()
	r.steps = append(r.steps, msg)
	r.mu.Unlock()
	return func(error) {}
}

func (r *recorder) Note(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, msg)
}

type testEnv struct {
	rt         *fake.Runtime
	e          *Engine
	progress   *recorder
	kubeconfig string
}

// newTestEnv is an engine on a fake runtime of a host that can give nodes
// everything (no adaptations), with the node and helper images present.
func newTestEnv(t *testing.T) *testEnv {
	return newTestEnvInfo(t, backends.Info{Name: "fake", CgroupVersion: 2, FullPrivileges: true, Endpoint: "unix:///fake.sock"})
}

func newTestEnvInfo(t *testing.T, info backends.Info) *testEnv {
	t.Helper()
	rt := fake.New(info)
	rt.AddImage(testImage)
	rt.AddImage(testHelper)
	te := &testEnv{rt: rt, progress: &recorder{}, kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
	te.e = te.engine()
	return te
}

// engine makes a fresh engine on the same runtime, as a second k3d process would.
func (te *testEnv) engine() *Engine {
	return New(te.rt,
		WithProgress(te.progress),
		WithKubeconfig(te.kubeconfig),
		WithHelperImage(func(context.Context) (string, error) { return testHelper, nil }),
	)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (te *testEnv) node(t *testing.T, name string) backends.Node {
	t.Helper()
	n, err := te.rt.InspectNode(context.Background(), name)
	if err != nil {
		t.Fatalf("inspect %s: %v", name, err)
	}
	return n
}

func envOf(n backends.Node, key string) (string, bool) {
	for _, kv := range n.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func lbConfigOf(t *testing.T, te *testEnv, cluster string) loadbalancer.Config {
	t.Helper()
	raw, ok := te.rt.File(LoadBalancerName(cluster), loadbalancer.ConfigDir+"/"+loadbalancer.ConfigFile)
	if !ok {
		t.Fatalf("no load balancer config in %s", LoadBalancerName(cluster))
	}
	cfg, err := loadbalancer.Parse(raw)
	if err != nil {
		t.Fatalf("parse load balancer config: %v", err)
	}
	return cfg
}

func listener(cfg loadbalancer.Config, port uint16, proto string) (loadbalancer.Listener, bool) {
	for _, l := range cfg.Listeners {
		if l.Port == port && l.Protocol == proto {
			return l, true
		}
	}
	return loadbalancer.Listener{}, false
}

func TestNames(t *testing.T) {
	if got := NodeName("dev", RoleServer, 0); got != "k3d-dev-server-0" {
		t.Errorf("server name = %q", got)
	}
	if got := NodeName("dev", RoleAgent, 12); got != "k3d-dev-agent-12" {
		t.Errorf("agent name = %q", got)
	}
	if got := LoadBalancerName("dev"); got != "k3d-dev-serverlb" {
		t.Errorf("lb name = %q", got)
	}
	if got := NetworkName("dev"); got != "k3d-dev" {
		t.Errorf("network = %q", got)
	}
	if got := ImageVolumeName("dev"); got != "k3d-dev-images" {
		t.Errorf("volume = %q", got)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"dev", true}, {"k3s-default", true}, {"a1", true}, {strings.Repeat("a", 32), true},
		{"", false}, {strings.Repeat("a", 33), false}, {"Dev", false}, {"-dev", false},
		{"dev-", false}, {"dev_1", false}, {"dev.1", false},
	} {
		err := ValidateClusterName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateClusterName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestCreateThreeServersTwoAgents(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	c, err := te.e.CreateCluster(ctx, CreateClusterOptions{
		Name: "dev", Servers: 3, Agents: 2, Image: testImage,
		Ports:            []string{"80@loadbalancer", "127.0.0.1::53/udp@agent:0:direct"},
		Env:              []string{"FOO=bar@agent:*"},
		K3sArgs:          []string{"--disable=traefik@server:*"},
		Labels:           []string{"team=a"},
		UpdateKubeconfig: true, SwitchContext: true,
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(c.Servers()) != 3 || len(c.Agents()) != 2 {
		t.Fatalf("got %d servers, %d agents", len(c.Servers()), len(c.Agents()))
	}
	if _, ok := c.LoadBalancer(); !ok {
		t.Fatal("no load balancer")
	}
	token := c.Token
	if len(token) < 20 {
		t.Errorf("token %q is too short", token)
	}

	s0 := te.node(t, "k3d-dev-server-0")
	if !slices.Contains(s0.Cmd, "--cluster-init") {
		t.Errorf("server-0 cmd lacks --cluster-init: %v", s0.Cmd)
	}
	if _, ok := envOf(s0, "K3S_URL"); ok {
		t.Error("server-0 has K3S_URL: it must start the cluster, not join one")
	}
	for _, san := range []string{"k3d-dev-serverlb", "127.0.0.1", "localhost"} {
		if !slices.Contains(s0.Cmd, san) {
			t.Errorf("server-0 cmd lacks --tls-san %s: %v", san, s0.Cmd)
		}
	}
	if !slices.Contains(s0.Cmd, "--disable=traefik") {
		t.Errorf("server-0 lacks the k3s arg: %v", s0.Cmd)
	}
	for _, name := range []string{"k3d-dev-server-1", "k3d-dev-server-2", "k3d-dev-agent-0", "k3d-dev-agent-1"} {
		n := te.node(t, name)
		if u, _ := envOf(n, "K3S_URL"); u != "https://k3d-dev-server-0:6443" {
			t.Errorf("%s K3S_URL = %q", name, u)
		}
		if tok, _ := envOf(n, "K3S_TOKEN"); tok != token {
			t.Errorf("%s K3S_TOKEN = %q, want the cluster token", name, tok)
		}
		if slices.Contains(n.Cmd, "--cluster-init") {
			t.Errorf("%s has --cluster-init", name)
		}
		if !n.Privileged || n.RestartPolicy != backends.RestartUnlessStopped {
			t.Errorf("%s privileged=%v restart=%s", name, n.Privileged, n.RestartPolicy)
		}
		if n.Labels["team"] != "a" {
			t.Errorf("%s lacks the user label", name)
		}
	}
	a0 := te.node(t, "k3d-dev-agent-0")
	if v, _ := envOf(a0, "FOO"); v != "bar" {
		t.Errorf("agent-0 FOO = %q", v)
	}
	if _, ok := envOf(te.node(t, "k3d-dev-server-0"), "FOO"); ok {
		t.Error("server-0 got an env var meant for agents")
	}
	if slices.Contains(a0.Cmd, "--disable=traefik") {
		t.Error("agent got a server-only k3s arg")
	}
	var udp bool
	for _, p := range a0.Ports {
		if p.ContainerPort == 53 && p.Protocol == "udp" && p.HostIP == "127.0.0.1" {
			udp = true
		}
	}
	if !udp {
		t.Errorf("agent-0 does not publish 53/udp directly: %+v", a0.Ports)
	}
	var tmpfs []string
	for _, m := range s0.Mounts {
		if m.Type == backends.MountTmpfs {
			tmpfs = append(tmpfs, m.Target)
		}
		if m.Type == backends.MountVolume && m.Target == "/k3d/images" && m.Source != "k3d-dev-images" {
			t.Errorf("image volume mount from %s", m.Source)
		}
	}
	if !slices.Equal(tmpfs, []string{"/run", "/var/run"}) {
		t.Errorf("tmpfs mounts = %v", tmpfs)
	}

	cfg := lbConfigOf(t, te, "dev")
	api, ok := listener(cfg, 6443, "tcp")
	if !ok || len(api.Upstreams) != 3 {
		t.Fatalf("API listener = %+v", api)
	}
	web, ok := listener(cfg, 80, "tcp")
	if !ok || len(web.Upstreams) != 5 || !slices.Contains(web.Upstreams, "k3d-dev-agent-1:80") {
		t.Fatalf("port 80 listener = %+v, want every server and agent", web)
	}
	lb := te.node(t, "k3d-dev-serverlb")
	if lb.Privileged {
		t.Error("load balancer is privileged")
	}
	if !slices.Equal(lb.Cmd, []string{"lb-proxy", "--config", "/etc/k3d/loadbalancer.json"}) {
		t.Errorf("lb cmd = %v", lb.Cmd)
	}
	var apiPublished, webPublished bool
	for _, p := range lb.Ports {
		if p.ContainerPort == 6443 && p.HostIP == "127.0.0.1" && c.API.Port == strconv.Itoa(int(p.HostPort)) {
			apiPublished = true
		}
		if p.ContainerPort == 80 {
			webPublished = true
		}
	}
	if !apiPublished || !webPublished {
		t.Errorf("lb ports = %+v (API at %+v)", lb.Ports, c.API)
	}
	for _, n := range c.Nodes {
		if !n.Running {
			t.Errorf("%s not running", n.Name)
		}
	}
}

func TestClusterRebuiltFromLabelsByAnotherProcess(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	created, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Agents: 1, Image: testImage, Token: "s3cret-token-value"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := te.engine().GetCluster(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if got.Token != "s3cret-token-value" || got.Network != "k3d-dev" || got.NetworkExternal ||
		got.ImageVolume != "k3d-dev-images" || got.URL != "https://k3d-dev-server-0:6443" ||
		got.API != created.API || got.API.Port == "" || len(got.Nodes) != 3 {
		t.Fatalf("rebuilt cluster = %+v", got)
	}
	all, err := te.engine().ListClusters(ctx)
	if err != nil || len(all) != 1 || all[0].Name != "dev" {
		t.Fatalf("ListClusters = %+v, %v", all, err)
	}
	s0 := te.node(t, "k3d-dev-server-0")
	for k, want := range map[string]string{
		LabelApp: "k3d", LabelCluster: "dev", LabelRole: "server", LabelClusterToken: "s3cret-token-value",
		LabelNetwork: "k3d-dev", LabelNetworkExternal: "false", LabelImageVolume: "k3d-dev-images",
		LabelServerLoadBalancer: "k3d-dev-serverlb", LabelServerAPIHost: "127.0.0.1", LabelServerAPIHostIP: "127.0.0.1",
		LabelClusterURL: "https://k3d-dev-server-0:6443", LabelVersion: version.Version,
	} {
		if s0.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, s0.Labels[k], want)
		}
	}
	if s0.Labels[LabelNetworkID] == "" || s0.Labels[LabelNetworkIPRange] == "" {
		t.Errorf("network id/iprange labels missing: %v", s0.Labels)
	}
}

func TestRollbackRemovesEverythingWhenANodeFails(t *testing.T) {
	te := newTestEnv(t)
	te.rt.OnStart = func(h *fake.Handle) {
		if h.Name() == "k3d-dev-agent-1" {
			h.Log("level=info msg=\"Starting k3s agent\"", "level=fatal msg=\"failed to get CA certs: boom\"")
			h.Exit(1)
			return
		}
		fake.DefaultOnStart(h)
	}
	before := te.rt.Snapshot()
	start := time.Now()
	_, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "dev", Servers: 1, Agents: 2, Image: testImage, Timeout: 20 * time.Second})
	if err == nil {
		t.Fatal("create succeeded with a crashing agent")
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("a node that exited was waited for %s: it must fail fast", time.Since(start))
	}
	var ne *NodeError
	if !errors.As(err, &ne) || ne.Node != "k3d-dev-agent-1" {
		t.Fatalf("error %v does not name the failed node", err)
	}
	if !strings.Contains(ne.LogTail(), "boom") || !strings.Contains(err.Error(), "exited with code 1") {
		t.Errorf("error lacks the node's last lines or exit code: %v / %q", err, ne.LogTail())
	}
	if after := te.rt.Snapshot(); after != before {
		t.Errorf("rollback left objects behind:\nbefore %s\nafter  %s", before, after)
	}
}

func TestTimeoutRollsBackAndSaysWhichNode(t *testing.T) {
	te := newTestEnv(t)
	te.rt.OnStart = func(h *fake.Handle) {
		if h.Name() == "k3d-dev-server-0" {
			h.Log("level=info msg=\"waiting for etcd\"")
			return // never ready
		}
		fake.DefaultOnStart(h)
	}
	before := te.rt.Snapshot()
	_, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage, Timeout: 300 * time.Millisecond})
	var ne *NodeError
	if !errors.As(err, &ne) || ne.Node != "k3d-dev-server-0" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline on server-0", err)
	}
	if !strings.Contains(ne.LogTail(), "waiting for etcd") {
		t.Errorf("log tail = %q", ne.LogTail())
	}
	if after := te.rt.Snapshot(); after != before {
		t.Errorf("rollback left objects behind: %s", after)
	}
}

func TestNoRollbackKeepsWhatWasMade(t *testing.T) {
	te := newTestEnv(t)
	te.rt.OnStart = func(h *fake.Handle) { h.Exit(2) }
	_, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage, NoRollback: true})
	if err == nil {
		t.Fatal("create succeeded")
	}
	nodes, nets, vols := te.rt.Names()
	if !slices.Contains(nodes, "k3d-dev-server-0") || !slices.Contains(nets, "k3d-dev") || !slices.Contains(vols, "k3d-dev-images") {
		t.Errorf("--no-rollback removed things: %s", te.rt.Snapshot())
	}
	// and a later delete still cleans up
	if err := te.engine().DeleteCluster(ctxT(t), "dev"); err != nil {
		t.Fatal(err)
	}
	if s := te.rt.Snapshot(); s != "nodes= networks= volumes=" {
		t.Errorf("after delete: %s", s)
	}
}

func TestDeleteLeavesNothing(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 3, Agents: 2, Image: testImage, Ports: []string{"80@loadbalancer"}}); err != nil {
		t.Fatal(err)
	}
	if err := te.engine().DeleteCluster(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if s := te.rt.Snapshot(); s != "nodes= networks= volumes=" {
		t.Errorf("after delete: %s", s)
	}
	if err := te.engine().DeleteCluster(ctx, "dev"); !backends.IsNotFound(err) {
		t.Errorf("deleting a missing cluster: %v, want not found", err)
	}
}

func TestExternalNetworkAndImageVolumeSurviveDelete(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	n, err := te.e.CreateNetwork(ctx, "shared", "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := te.e.CreateVolume(ctx, "images")
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "k3d-shared" || v != "k3d-images" {
		t.Fatalf("names %s %s", n.Name, v)
	}
	c, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage, Network: n.Name, ImageVolume: v})
	if err != nil {
		t.Fatal(err)
	}
	if !c.NetworkExternal || !c.ImageVolumeExternal || c.Network != "k3d-shared" || c.ImageVolume != "k3d-images" {
		t.Fatalf("cluster = %+v", c)
	}
	if err := te.e.DeleteCluster(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if s := te.rt.Snapshot(); s != "nodes= networks=k3d-shared volumes=k3d-images" {
		t.Errorf("after delete: %s", s)
	}
	rep, err := te.e.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Networks)+len(rep.Volumes) != 0 {
		t.Errorf("prune removed external objects: %+v", rep)
	}
}

func TestPruneRemovesOnlyDangling(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	for _, name := range []string{"keep", "gone"} {
		if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: name, Servers: 1, Agents: 1, Image: testImage, UpdateKubeconfig: true}); err != nil {
			t.Fatal(err)
		}
	}
	// The server of "gone" disappears behind k3d's back.
	if err := te.rt.DeleteNode(ctx, "k3d-gone-server-0"); err != nil {
		t.Fatal(err)
	}
	rep, err := te.engine().Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Nodes, []string{"k3d-gone-agent-0", "k3d-gone-serverlb"}) ||
		!slices.Equal(rep.Networks, []string{"k3d-gone"}) || !slices.Equal(rep.Volumes, []string{"k3d-gone-images"}) {
		t.Errorf("prune report = %+v", rep)
	}
	if s := te.rt.Snapshot(); s != "nodes=k3d-keep-agent-0,k3d-keep-server-0,k3d-keep-serverlb networks=k3d-keep volumes=k3d-keep-images" {
		t.Errorf("after prune: %s", s)
	}
	kc, _ := os.ReadFile(te.kubeconfig)
	if strings.Contains(string(kc), "k3d-gone") || !strings.Contains(string(kc), "k3d-keep") {
		t.Errorf("kubeconfig after prune:\n%s", kc)
	}
}

// TestK3dV5ClusterIsListedAndDeleted builds a cluster the way k3d v5 labels
// it, by hand, and checks that this k3d lists and deletes it.
func TestK3dV5ClusterIsListedAndDeleted(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	rt := te.rt
	if _, err := rt.CreateNetwork(ctx, backends.NetworkSpec{Name: "k3d-old", Labels: map[string]string{"app": "k3d"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.CreateVolume(ctx, backends.VolumeSpec{Name: "k3d-old-images", Labels: map[string]string{"app": "k3d", "k3d.cluster": "old"}}); err != nil {
		t.Fatal(err)
	}
	v5 := func(role, name string, extra map[string]string) {
		labels := map[string]string{
			"app": "k3d", "k3d.cluster": "old", "k3d.role": role, "k3d.version": "v5.6.0",
			"k3d.cluster.network": "k3d-old", "k3d.cluster.network.external": "false", "k3d.cluster.network.id": "abc",
			"k3d.cluster.imageVolume": "k3d-old-images", "k3d.cluster.token": "v5token", "k3d.cluster.url": "https://k3d-old-server-0:6443",
			"k3d.server.loadbalancer": "k3d-old-serverlb",
		}
		for k, v := range extra {
			labels[k] = v
		}
		spec := backends.NodeSpec{Name: name, Image: testImage, Labels: labels,
			Networks: []backends.NetworkAttachment{{Network: "k3d-old"}},
			Mounts:   []backends.Mount{{Type: backends.MountVolume, Source: "k3d-old-images", Target: "/k3d/images"}}}
		if role == "loadbalancer" {
			spec.Ports = []backends.PortMapping{{HostIP: "0.0.0.0", HostPort: 6550, ContainerPort: 6443, Protocol: "tcp"}}
		}
		if _, err := rt.CreateNode(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	api := map[string]string{"k3d.server.api.port": "6550", "k3d.server.api.host": "0.0.0.0", "k3d.server.api.hostIP": "0.0.0.0"}
	v5("server", "k3d-old-server-0", api)
	v5("agent", "k3d-old-agent-0", nil)
	v5("loadbalancer", "k3d-old-serverlb", nil)

	cs, err := te.e.ListClusters(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("ListClusters = %+v, %v", cs, err)
	}
	c := cs[0]
	if c.Name != "old" || len(c.Servers()) != 1 || len(c.Agents()) != 1 || c.Token != "v5token" || c.API.Port != "6550" || c.Network != "k3d-old" {
		t.Fatalf("v5 cluster read as %+v", c)
	}
	if _, ok := c.LoadBalancer(); !ok {
		t.Error("v5 load balancer not recognised")
	}
	if err := te.e.DeleteCluster(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if s := rt.Snapshot(); s != "nodes= networks= volumes=" {
		t.Errorf("after deleting the v5 cluster: %s", s)
	}
}

func TestHostAdaptations(t *testing.T) {
	te := newTestEnvInfo(t, backends.Info{Name: "fake", CgroupVersion: 1, FullPrivileges: false, MissingCapabilities: []string{"CAP_SYS_RESOURCE"}})
	if _, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "dev", Servers: 1, Agents: 1, Image: testImage}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"k3d-dev-server-0", "k3d-dev-agent-0"} {
		n := te.node(t, name)
		if !slices.Contains(n.Cmd, "--kubelet-arg=fail-cgroupv1=false") {
			t.Errorf("%s lacks the cgroup v1 kubelet arg: %v", name, n.Cmd)
		}
		d, ok := te.rt.File(name, "/var/lib/rancher/k3s/agent/etc/containerd/config-v3.toml.d/10-k3d-restrict-oom-score-adj.toml")
		if !ok || !strings.Contains(string(d), "restrict_oom_score_adj = true") {
			t.Errorf("%s lacks the containerd drop-in", name)
		}
	}
	if len(te.progress.notes) != 3 {
		t.Errorf("notes = %q, want one per adaptation (privileges, cgroup v1, oom_score_adj)", te.progress.notes)
	}

	off := newTestEnvInfo(t, backends.Info{Name: "fake", CgroupVersion: 1, FullPrivileges: false, MissingCapabilities: []string{"CAP_SYS_RESOURCE"}})
	disabled, err := hostadapt.ParseDisabled("-oom-score-adj")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := off.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage, HostAdapt: disabled,
		K3sArgs: []string{"--kubelet-arg=fail-cgroupv1=true@server:0"}}); err != nil {
		t.Fatal(err)
	}
	n0 := off.node(t, "k3d-dev-server-0")
	if slices.Contains(n0.Cmd, "--kubelet-arg=fail-cgroupv1=false") {
		t.Errorf("the user's own fail-cgroupv1 was overridden: %v", n0.Cmd)
	}
	if _, ok := off.rt.File("k3d-dev-server-0", hostadapt.DropInDir+"/10-k3d-restrict-oom-score-adj.toml"); ok {
		t.Error("a turned-off adaptation was applied")
	}

	plain := newTestEnv(t)
	if _, err := plain.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage}); err != nil {
		t.Fatal(err)
	}
	n := plain.node(t, "k3d-dev-server-0")
	if slices.Contains(n.Cmd, "--kubelet-arg=fail-cgroupv1=false") || len(plain.progress.notes) != 0 {
		t.Errorf("adaptations on a host that needs none: %v %q", n.Cmd, plain.progress.notes)
	}
}

func TestStopStartKeepsAPIPort(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	c, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Agents: 1, Image: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if err := te.engine().StopCluster(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	stopped, _ := te.e.GetCluster(ctx, "dev")
	for _, n := range stopped.Nodes {
		if n.Running {
			t.Errorf("%s still running after stop", n.Name)
		}
	}
	if err := te.engine().StartCluster(ctx, "dev", StartOptions{}); err != nil {
		t.Fatal(err)
	}
	again, _ := te.e.GetCluster(ctx, "dev")
	if again.API != c.API {
		t.Errorf("API moved from %+v to %+v", c.API, again.API)
	}
	for _, n := range again.Nodes {
		if !n.Running {
			t.Errorf("%s not running after start", n.Name)
		}
	}
}

func TestCreateAndDeleteNodeUpdateTheLoadBalancer(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Agents: 1, Image: testImage,
		Ports: []string{"80@loadbalancer", "90@agent:0"}}); err != nil {
		t.Fatal(err)
	}
	nodes, err := te.engine().CreateNodes(ctx, CreateNodeOptions{Name: "extra", Cluster: "dev", Role: RoleAgent, Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].Name != "k3d-extra-0" || !nodes[1].Running {
		t.Fatalf("nodes = %+v", nodes)
	}
	n := te.node(t, "k3d-extra-1")
	if u, _ := envOf(n, "K3S_URL"); u != "https://k3d-dev-server-0:6443" {
		t.Errorf("new agent joins %q", u)
	}
	for _, m := range n.Mounts {
		if m.Target == "/k3d/images" && m.Source != "k3d-dev-images" {
			t.Errorf("new node mounts %s", m.Source)
		}
	}
	if n.Labels[LabelCluster] != "dev" || n.Labels[LabelRole] != "agent" || len(n.Ports) != 0 {
		t.Errorf("new node labels %v ports %v", n.Labels, n.Ports)
	}
	cfg := lbConfigOf(t, te, "dev")
	web, _ := listener(cfg, 80, "tcp")
	if !slices.Contains(web.Upstreams, "k3d-extra-1:80") {
		t.Errorf("port 80 (every node) lacks the new agent: %v", web.Upstreams)
	}
	only, _ := listener(cfg, 90, "tcp")
	if !slices.Equal(only.Upstreams, []string{"k3d-dev-agent-0:90"}) {
		t.Errorf("port 90 (agent-0 only) changed: %v", only.Upstreams)
	}
	if sig := te.rt.Signals("k3d-dev-serverlb"); !slices.Contains(sig, "SIGHUP") {
		t.Errorf("load balancer signals = %v, want SIGHUP", sig)
	}
	// The proxy can reach the new node even before DNS answers for it.
	if ip := cfg.Hosts["k3d-extra-1"]; ip == "" || ip != te.nodeIP(t, "k3d-extra-1") {
		t.Errorf("load balancer hosts %v: want the new agent at its address %s", cfg.Hosts, te.nodeIP(t, "k3d-extra-1"))
	}

	if err := te.engine().DeleteNode(ctx, "k3d-dev-agent-0"); err != nil {
		t.Fatal(err)
	}
	cfg = lbConfigOf(t, te, "dev")
	web, _ = listener(cfg, 80, "tcp")
	only, _ = listener(cfg, 90, "tcp")
	if slices.Contains(web.Upstreams, "k3d-dev-agent-0:80") || len(only.Upstreams) != 0 {
		t.Errorf("deleted agent still upstream: 80=%v 90=%v", web.Upstreams, only.Upstreams)
	}
	if _, ok := cfg.Hosts["k3d-dev-agent-0"]; ok {
		t.Errorf("deleted agent still in the load balancer's hosts: %v", cfg.Hosts)
	}
}

// nodeIP is the node's address on its first network, as the runtime says.
func (te *testEnv) nodeIP(t *testing.T, name string) string {
	t.Helper()
	n, err := te.rt.InspectNode(context.Background(), name)
	if err != nil || len(n.Networks) == 0 {
		t.Fatalf("inspect %s: %v (networks %v)", name, err, n.Networks)
	}
	return n.Networks[0].IPv4
}

func TestAddingAServerToASingleServerClusterIsRefused(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage}); err != nil {
		t.Fatal(err)
	}
	before := te.rt.Snapshot()
	_, err := te.e.CreateNodes(ctx, CreateNodeOptions{Name: "s", Cluster: "dev", Role: RoleServer, Replicas: 1})
	if !backends.IsInvalid(err) || !strings.Contains(err.Error(), "embedded etcd") {
		t.Fatalf("err = %v", err)
	}
	if te.rt.Snapshot() != before {
		t.Error("refused create node changed the runtime")
	}
}

func TestRunningClusterCannotBeCreatedTwice(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage}); err != nil {
		t.Fatal(err)
	}
	before := te.rt.Snapshot()
	_, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage})
	if !backends.IsAlreadyExists(err) {
		t.Fatalf("err = %v, want already exists", err)
	}
	if te.rt.Snapshot() != before {
		t.Error("second create changed the runtime")
	}
}

func TestExternalDatastoreAndMemoryLimits(t *testing.T) {
	te := newTestEnv(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("ca"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{
		Name: "dev", Servers: 2, Agents: 1, Image: testImage,
		Datastore:     Datastore{Endpoint: "postgres://db:5432/k3s", CAFile: ca},
		ServersMemory: "1g", AgentsMemory: "512m",
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"k3d-dev-server-0", "k3d-dev-server-1"} {
		n := te.node(t, name)
		if !slices.Contains(n.Cmd, "postgres://db:5432/k3s") || !slices.Contains(n.Cmd, "/etc/k3d/datastore/ca.crt") {
			t.Errorf("%s cmd %v lacks the datastore", name, n.Cmd)
		}
		if slices.Contains(n.Cmd, "--cluster-init") {
			t.Errorf("%s starts embedded etcd despite the external datastore", name)
		}
		if _, ok := envOf(n, "K3S_URL"); ok {
			t.Errorf("%s joins a server although the datastore joins them", name)
		}
		var mounted bool
		for _, m := range n.Mounts {
			if m.Type == backends.MountBind && m.Source == ca && m.Target == "/etc/k3d/datastore/ca.crt" && m.ReadOnly {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("%s does not mount the CA read-only: %+v", name, n.Mounts)
		}
		if n.MemoryLimit != 1<<30 {
			t.Errorf("%s memory = %d", name, n.MemoryLimit)
		}
	}
	a := te.node(t, "k3d-dev-agent-0")
	if a.MemoryLimit != 512<<20 || slices.Contains(a.Cmd, "postgres://db:5432/k3s") {
		t.Errorf("agent memory %d cmd %v", a.MemoryLimit, a.Cmd)
	}
}

func TestKubeconfigMergedOnCreateAndRemovedOnDelete(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	if err := os.WriteFile(te.kubeconfig, []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster:\n    server: https://other:6443\ncontexts:\n- name: other\n  context:\n    cluster: other\n    user: other\ncurrent-context: other\nusers:\n- name: other\n  user:\n    token: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage, UpdateKubeconfig: true, SwitchContext: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(te.kubeconfig)
	kc := string(b)
	if !strings.Contains(kc, "current-context: k3d-dev") || !strings.Contains(kc, "server: https://127.0.0.1:"+c.API.Port) ||
		!strings.Contains(kc, "admin@k3d-dev") || !strings.Contains(kc, "https://other:6443") {
		t.Errorf("kubeconfig after create:\n%s", kc)
	}
	if err := te.e.DeleteCluster(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(te.kubeconfig)
	if strings.Contains(string(b), "k3d-dev") || !strings.Contains(string(b), "https://other:6443") {
		t.Errorf("kubeconfig after delete:\n%s", b)
	}
}

// A node added to a running cluster on a constrained host gets the same
// adaptations as the nodes made with the cluster, whatever role it takes.
func TestCreateNodeAdaptsToTheHost(t *testing.T) {
	te := newTestEnvInfo(t, backends.Info{Name: "fake", CgroupVersion: 1, MissingCapabilities: []string{"CAP_SYS_RESOURCE"}, Endpoint: "unix:///fake.sock"})
	ctx := ctxT(t)
	if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage}); err != nil {
		t.Fatal(err)
	}
	if _, err := te.engine().CreateNodes(ctx, CreateNodeOptions{Name: "extra", Cluster: "dev", Role: RoleAgent, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	n := te.node(t, "k3d-extra-0")
	if !slices.Contains(n.Cmd, "--kubelet-arg=fail-cgroupv1=false") {
		t.Errorf("agent added on a cgroup v1 host runs %v, without fail-cgroupv1=false", n.Cmd)
	}
	drop := hostadapt.DropInDir + "/10-k3d-restrict-oom-score-adj.toml"
	if b, ok := te.rt.File("k3d-extra-0", drop); !ok || !strings.Contains(string(b), "restrict_oom_score_adj = true") {
		t.Errorf("agent added where oom_score_adj cannot be lowered lacks %s", drop)
	}
}

func TestCreateNodeRefusesZeroReplicas(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage}); err != nil {
		t.Fatal(err)
	}
	before := te.rt.Snapshot()
	_, err := te.e.CreateNodes(ctx, CreateNodeOptions{Name: "none", Cluster: "dev", Role: RoleAgent, Replicas: 0})
	if !backends.IsInvalid(err) || !strings.Contains(err.Error(), "--replicas 0") {
		t.Fatalf("err = %v", err)
	}
	if te.rt.Snapshot() != before {
		t.Error("refused create node changed the runtime")
	}
}

// Prune removes only what clusters made: an app=k3d network or volume with
// no cluster label (another tool's, or a test fixture) is not dangling.
func TestPruneKeepsObjectsOfNoCluster(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	other := map[string]string{LabelApp: LabelAppValue, "k3d.conformance.run": "x"}
	if _, err := te.rt.CreateNetwork(ctx, backends.NetworkSpec{Name: "k3d-fixture-net", Labels: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := te.rt.CreateVolume(ctx, backends.VolumeSpec{Name: "k3d-fixture-vol", Labels: other}); err != nil {
		t.Fatal(err)
	}
	rep, err := te.e.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Networks)+len(rep.Volumes) != 0 {
		t.Errorf("prune removed objects of no cluster: %+v", rep)
	}
	if _, err := te.rt.InspectNetwork(ctx, "k3d-fixture-net"); err != nil {
		t.Errorf("network of no cluster: %v", err)
	}
	if _, err := te.rt.InspectVolume(ctx, "k3d-fixture-vol"); err != nil {
		t.Errorf("volume of no cluster: %v", err)
	}
}

// A node started again soon after it stopped must not be taken for ready on
// the strength of its previous run's ready line.
func TestRunStartExcludesThePreviousRun(t *testing.T) {
	prevEnd := time.Date(2026, 11, 25, 10, 0, 0, 500_000_000, time.UTC)
	st := backends.NodeState{StartedAt: prevEnd.Add(300 * time.Millisecond), FinishedAt: prevEnd}
	since := runStart(st)
	if !since.After(prevEnd) {
		t.Errorf("runStart = %v: the previous run's last line at %v would be read again", since, prevEnd)
	}
	if since.After(st.StartedAt) {
		t.Errorf("runStart = %v is after the run began at %v: its first lines would be missed", since, st.StartedAt)
	}
	if got := runStart(backends.NodeState{StartedAt: prevEnd}); !got.IsZero() {
		t.Errorf("a first run is read from the start, got %v", got)
	}
}

// The init server runs before any other node starts, for create and for
// start: the others look it up by name at once, and a runtime's DNS knows a
// node only once it runs.
func TestInitServerStartsFirst(t *testing.T) {
	te := newTestEnv(t)
	var mu sync.Mutex
	var early []string
	te.rt.OnStart = func(h *fake.Handle) {
		if h.Name() != "k3d-dev-server-0" {
			n, err := te.rt.InspectNode(context.Background(), "k3d-dev-server-0")
			if err != nil || !n.State.Running {
				mu.Lock()
				early = append(early, h.Name())
				mu.Unlock()
			}
		}
		fake.DefaultOnStart(h)
	}
	if _, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "dev", Servers: 3, Agents: 2, Image: testImage, Timeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := te.e.StopCluster(ctxT(t), "dev"); err != nil {
		t.Fatal(err)
	}
	if err := te.e.StartCluster(ctxT(t), "dev", StartOptions{Timeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if len(early) > 0 {
		t.Errorf("nodes started before the init server k3d-dev-server-0 ran: %v", early)
	}
}

// Files go into the nodes their filter names before k3s starts, at k3d's
// shortcut paths; an @all env skips the load balancer, which takes none.
func TestFilesAndAllFilters(t *testing.T) {
	te := newTestEnv(t)
	src := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(src, []byte("kind: ConfigMap\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{
		Name: "dev", Servers: 1, Agents: 1, Image: testImage,
		Files: []File{{Source: src, Destination: "k3s-manifests/app.yaml", Filters: "server:*"}, {Source: src, Destination: "/etc/extra.yaml"}},
		Env:   []string{"FOO=bar@all"},
	}); err != nil {
		t.Fatal(err)
	}
	manifest := "/var/lib/rancher/k3s/server/manifests/app.yaml"
	if b, ok := te.rt.File("k3d-dev-server-0", manifest); !ok || string(b) != "kind: ConfigMap\n" {
		t.Errorf("server-0 %s: %q %t", manifest, b, ok)
	}
	if _, ok := te.rt.File("k3d-dev-agent-0", manifest); ok {
		t.Errorf("agent-0 got the server's manifest")
	}
	for _, n := range []string{"k3d-dev-server-0", "k3d-dev-agent-0"} {
		if _, ok := te.rt.File(n, "/etc/extra.yaml"); !ok {
			t.Errorf("%s lacks the unfiltered file", n)
		}
		if v, _ := envOf(te.node(t, n), "FOO"); v != "bar" {
			t.Errorf("%s: FOO=%q", n, v)
		}
	}
	if _, ok := envOf(te.node(t, "k3d-dev-serverlb"), "FOO"); ok {
		t.Error("the load balancer got @all's env")
	}

	for _, tc := range []struct {
		f    File
		want string
	}{
		{File{Source: "/nonexistent/app.yaml", Destination: "/x"}, "/nonexistent/app.yaml: no such file"},
		{File{Source: src, Destination: "relative/x"}, "neither an absolute path nor one of k3d's shortcuts"},
		{File{Source: src, Destination: "/x", Filters: "loadbalancer"}, "the load balancer takes no files"},
	} {
		_, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "bad", Servers: 1, Image: testImage, Files: []File{tc.f}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
	}
}

// k3d's --api-port HOST:HOST_IP:PORT: the name for the kubeconfig, bound on one address.
func TestAPIPortWithNameAndAddress(t *testing.T) {
	te := newTestEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cl, err := te.e.CreateCluster(ctxT(t), CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage, APIPort: "k3d.local:127.0.0.1:" + port, NoWait: true})
	if err != nil {
		t.Fatal(err)
	}
	if cl.API.Host != "k3d.local" || cl.API.HostIP != "127.0.0.1" || cl.API.Port != port {
		t.Errorf("API %+v, want k3d.local on 127.0.0.1:%s", cl.API, port)
	}
}

// Agents that joined a cluster elsewhere by URL are not a cluster here:
// cluster list leaves them out, prune keeps them (their servers are not on
// this runtime), and deleting the last of them takes their network along.
func TestJoinByURLNodesAndTheirNetwork(t *testing.T) {
	te := newTestEnv(t)
	ctx := ctxT(t)
	const url = "https://192.0.2.10:6443"
	nodes, err := te.e.CreateNodes(ctx, CreateNodeOptions{Name: "far", Cluster: url, Token: "secret", Replicas: 2, Image: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].Cluster != url {
		t.Fatalf("nodes = %+v", nodes)
	}
	n, err := te.rt.InspectNode(ctx, "k3d-far-0")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(n.Env, "K3S_URL="+url) || !slices.Contains(n.Env, "K3S_TOKEN=secret") || n.Labels[LabelClusterExternal] != "true" {
		t.Errorf("k3d-far-0: env %v labels %v", n.Env, n.Labels)
	}
	if cs, err := te.e.ListClusters(ctx); err != nil || len(cs) != 0 {
		t.Errorf("cluster list = %+v, %v; want no cluster", cs, err)
	}
	rep, err := te.e.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Nodes)+len(rep.Networks) != 0 {
		t.Errorf("prune removed the joined agents or their network: %+v", rep)
	}
	// A cluster of the agents' base name would share their network.
	if _, err := te.e.CreateCluster(ctx, CreateClusterOptions{Name: "far", Servers: 1, Image: testImage}); !backends.IsAlreadyExists(err) || !strings.Contains(err.Error(), "joined "+url) {
		t.Errorf("create cluster far: %v, want a refusal naming the joined cluster", err)
	}
	if err := te.e.DeleteNode(ctx, "k3d-far-0"); err != nil {
		t.Fatal(err)
	}
	if _, err := te.rt.InspectNetwork(ctx, "k3d-far"); err != nil {
		t.Errorf("network k3d-far gone while k3d-far-1 uses it: %v", err)
	}
	if err := te.e.DeleteNode(ctx, "k3d-far-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := te.rt.InspectNetwork(ctx, "k3d-far"); !backends.IsNotFound(err) {
		t.Errorf("network k3d-far after the last agent: %v, want not found", err)
	}
}
