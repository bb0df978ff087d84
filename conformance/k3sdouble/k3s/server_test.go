package k3s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/clientcmd"
)

func TestServerWritesKubeconfigThatListsNodes(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, []string{"server", "--data-dir", filepath.Join(dir, "data"), "--https-listen-port=0", "--bind-address=127.0.0.1",
		"--node-ip=127.0.0.1", "--tls-san", "k3d-dev-serverlb,10.9.8.7", "--node-label", "team=a,b", "--disable", "traefik"},
		nodeOpts{hostname: "k3d-dev-server-0", env: map[string]string{
			"K3S_KUBECONFIG_OUTPUT": filepath.Join(dir, "output", "kubeconfig.yaml"),
			"K3S_KUBECONFIG_MODE":   "644",
			"K3S_TOKEN":             "secret",
		}})
	n.waitLog(`level=info msg="k3s is up and running"`)
	n.waitLog(`"Successfully registered node" node="k3d-dev-server-0"`)

	kc := filepath.Join(dir, "output", "kubeconfig.yaml")
	st, err := os.Stat(kc)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("kubeconfig mode = %v, want 0644 from K3S_KUBECONFIG_MODE", st.Mode().Perm())
	}
	raw, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	if raw.CurrentContext != "default" || raw.Clusters["default"] == nil || raw.AuthInfos["default"] == nil {
		t.Errorf("kubeconfig does not name cluster, user and context \"default\" like k3s: %+v", raw)
	}
	if !strings.HasPrefix(raw.Clusters["default"].Server, "https://127.0.0.1:") {
		t.Errorf("kubeconfig server = %q, want https://127.0.0.1:<port>", raw.Clusters["default"].Server)
	}

	cfg := restConfig(t, kc)
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if v.GitVersion != Version || v.Major != "1" || v.Minor != "36" {
		t.Errorf("version = %+v", v)
	}
	_, resources, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	foundNodes := false
	for _, rl := range resources {
		for _, r := range rl.APIResources {
			foundNodes = foundNodes || (rl.GroupVersion == "v1" && r.Name == "nodes" && r.Kind == "Node")
		}
	}
	if !foundNodes {
		t.Errorf("discovery does not list v1 nodes: %+v", resources)
	}

	cs := clientset(t, cfg)
	ctx := context.Background()
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("nodes = %d, want 1", len(list.Items))
	}
	node := list.Items[0]
	if node.Name != "k3d-dev-server-0" {
		t.Errorf("node name = %q, want the hostname", node.Name)
	}
	for k, want := range map[string]string{"node-role.kubernetes.io/control-plane": "true", "team": "a,b", "kubernetes.io/hostname": "k3d-dev-server-0"} {
		if node.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], want)
		}
	}
	if !nodeIsReady(node) {
		t.Errorf("node not Ready: %+v", node.Status.Conditions)
	}
	if len(node.Status.Addresses) == 0 || node.Status.Addresses[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}) {
		t.Errorf("addresses = %+v", node.Status.Addresses)
	}
	if node.Status.NodeInfo.KubeletVersion != Version || node.Status.NodeInfo.KernelVersion != "6.1.0-test" {
		t.Errorf("nodeInfo = %+v", node.Status.NodeInfo)
	}
	got, err := cs.CoreV1().Nodes().Get(ctx, "k3d-dev-server-0", metav1.GetOptions{})
	if err != nil || got.UID != node.UID {
		t.Errorf("get node: %v (uid %s vs %s)", err, got.UID, node.UID)
	}
	if _, err := cs.CoreV1().Nodes().Get(ctx, "nope", metav1.GetOptions{}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("get missing node: %v, want not found", err)
	}
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil || string(body) != "ok" {
		t.Errorf("/readyz = %q, %v", body, err)
	}
	pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	if len(pods.Items) == 0 || pods.Items[0].Status.Phase != corev1.PodRunning {
		t.Errorf("system pods = %+v, want running", pods.Items)
	}

	// Without the admin certificate or the token: 401, like k3s.
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, cfg.CAData)}}}
	for _, path := range []string{"/readyz", "/api/v1/nodes", "/version"} {
		resp, err := anon.Get(cfg.Host + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous GET %s = %d, want 401", path, resp.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodGet, cfg.Host+path, nil)
		req.Header.Set("Authorization", "Bearer secret")
		resp, err = anon.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the token = %d, want 200", path, resp.StatusCode)
		}
	}
	// The serving certificate names what k3d reaches the server by.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(cfg.Host, "https://"), &tls.Config{RootCAs: caPool(t, cfg.CAData), ServerName: "k3d-dev-serverlb"})
	if err != nil {
		t.Fatalf("TLS to the server as k3d-dev-serverlb: %v", err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	for _, name := range []string{"k3d-dev-server-0", "localhost", "kubernetes"} {
		if cert.VerifyHostname(name) != nil {
			t.Errorf("serving certificate does not cover %s: %v", name, cert.DNSNames)
		}
	}
	for _, ip := range []string{"127.0.0.1", "10.9.8.7"} {
		if cert.VerifyHostname(ip) != nil {
			t.Errorf("serving certificate does not cover %s: %v", ip, cert.IPAddresses)
		}
	}
	if code := n.stop(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

func nodeIsReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func caPool(t *testing.T, pemData []byte) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemData) {
		t.Fatal("no CA in kubeconfig")
	}
	return p
}

func TestKubectlTableOutput(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	var out, errOut strings.Builder
	env := Env{Args: []string{"kubectl", "get", "nodes"}, Getenv: func(k string) string {
		if k == "KUBECONFIG" {
			return filepath.Join(dir, "server-0.yaml")
		}
		return ""
	}, Stdout: &out, Stderr: &errOut, Now: time.Now}
	if code := Main(context.Background(), env); code != 0 {
		t.Fatalf("kubectl get nodes = %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "ROLES") {
		t.Fatalf("kubectl get nodes printed:\n%s", out.String())
	}
	if f := strings.Fields(lines[1]); f[0] != "server-0" || f[1] != "Ready" || f[2] != "control-plane,master" {
		t.Errorf("row = %q", lines[1])
	}
	// Inside a node whose kubeconfig went elsewhere (k3d: /output), the
	// bundled kubectl uses the server's admin credentials.
	if code, out, errOut := runTool(t, filepath.Join(dir, "server-0"), nil, "kubectl", "get", "nodes", "-o", "name"); code != 0 || out != "node/server-0\n" {
		t.Errorf("kubectl get nodes -o name = %d %q %q", code, out, errOut)
	}
	out.Reset()
	env.Args = []string{"kubectl", "get", "node", "missing"}
	if code := Main(context.Background(), env); code == 0 || !strings.Contains(errOut.String(), `nodes "missing" not found`) {
		t.Errorf("kubectl get node missing = %d, %q", code, errOut.String())
	}
}

func TestServerRestartKeepsClusterState(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "server-0", "--token", "secret")
	kc := filepath.Join(dir, "server-0.yaml")
	before, err := os.ReadFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	cfgBefore := restConfig(t, kc)
	a := startNode(t, []string{"agent", "--server", serverURL(t, kc), "--token", "secret", "--node-name", "agent-0", "-d", filepath.Join(dir, "agent-0")}, nodeOpts{})
	a.waitLog("Successfully registered node")
	if code := s.stop(); code != 0 {
		t.Fatalf("server exit code = %d", code)
	}

	// Started again without a token, the server reuses its own.
	s2 := startServer(t, dir, "server-0")
	s2.waitLog("Reusing cluster state")
	cfgAfter := restConfig(t, kc)
	if string(cfgAfter.CAData) != string(cfgBefore.CAData) {
		t.Error("the CA changed across a restart")
	}
	// The kubeconfig written before the restart still works (new port).
	old, err := clientcmd.RESTConfigFromKubeConfig(before)
	if err != nil {
		t.Fatal(err)
	}
	old.Host = cfgAfter.Host
	if names := nodeNames(t, clientset(t, old)); !slices.Equal(names, []string{"agent-0", "server-0"}) {
		t.Errorf("nodes after restart = %v, want agent-0 and server-0", names)
	}
	s2.stop()

	// A different token against existing state fails, as in k3s.
	s3 := startNode(t, []string{"server", "--data-dir", filepath.Join(dir, "server-0"), "-o", kc, "--https-listen-port=0", "--token", "other"}, nodeOpts{})
	if code := s3.exitCode(10 * time.Second); code == 0 {
		t.Fatal("server with a different token started")
	}
	if !strings.Contains(s3.out.String(), "bootstrap data already found and encrypted with different token") {
		t.Errorf("log:\n%s", s3.out)
	}
}

func TestServerFailsWhereK3sFails(t *testing.T) {
	dir := t.TempDir()
	t.Run("cgroup v1 host", func(t *testing.T) {
		host := goodHost()
		host.CgroupV1 = func() bool { return true }
		n := startNode(t, []string{"server", "-d", filepath.Join(dir, "a"), "-o", filepath.Join(dir, "a.yaml"), "--https-listen-port=0"}, nodeOpts{host: host})
		if code := n.exitCode(10 * time.Second); code != 1 {
			t.Fatalf("exit code = %d, want 1", code)
		}
		if !strings.Contains(n.out.String(), `level=fatal msg="kubelet exited: failed to run Kubelet: kubelet is configured to not run on a host using cgroup v1`) {
			t.Errorf("log:\n%s", n.out)
		}
		ok := startNode(t, []string{"server", "-d", filepath.Join(dir, "b"), "-o", filepath.Join(dir, "b.yaml"), "--https-listen-port=0",
			"--bind-address=127.0.0.1", "--kubelet-arg=fail-cgroupv1=false"}, nodeOpts{host: host})
		ok.waitLog("k3s is up and running")
	})
	t.Run("no /dev/kmsg", func(t *testing.T) {
		host := goodHost()
		host.OpenKmsg = func() error { return &os.PathError{Op: "open", Path: "/dev/kmsg", Err: os.ErrNotExist} }
		n := startNode(t, []string{"server", "-d", filepath.Join(dir, "k"), "-o", filepath.Join(dir, "k.yaml"), "--https-listen-port=0"}, nodeOpts{host: host})
		if code := n.exitCode(10 * time.Second); code != 1 || !strings.Contains(n.out.String(), `failed to create kubelet: open /dev/kmsg`) {
			t.Errorf("exit %d, log:\n%s", code, n.out)
		}
	})
	t.Run("no /dev/kmsg in a user namespace, with KubeletInUserNamespace", func(t *testing.T) {
		host := goodHost()
		host.OpenKmsg = func() error { return &os.PathError{Op: "open", Path: "/dev/kmsg", Err: os.ErrPermission} }
		n := startNode(t, []string{"server", "-d", filepath.Join(dir, "u"), "-o", filepath.Join(dir, "u.yaml"), "--https-listen-port=0",
			"--bind-address=127.0.0.1", "--kubelet-arg=feature-gates=KubeletInUserNamespace=true"}, nodeOpts{host: host})
		n.waitLog("k3s is up and running")
	})
	t.Run("read-only cgroup tree", func(t *testing.T) {
		host := goodHost()
		host.CreateCgroup = func() error {
			return &os.PathError{Op: "mkdir", Path: "/sys/fs/cgroup/memory/kubepods", Err: syscall.EROFS}
		}
		n := startNode(t, []string{"agent", "-d", filepath.Join(dir, "r"), "--server", "https://127.0.0.1:1", "--token", "x"}, nodeOpts{host: host})
		if code := n.exitCode(10 * time.Second); code != 1 || !strings.Contains(n.out.String(), `failed to start ContainerManager: failed to initialize top level QOS containers: mkdir /sys/fs/cgroup/memory/kubepods: read-only file system`) {
			t.Errorf("exit %d, log:\n%s", code, n.out)
		}
	})
	t.Run("datastore file missing", func(t *testing.T) {
		n := startNode(t, []string{"server", "-d", filepath.Join(dir, "c"), "--datastore-endpoint", "mysql://x", "--datastore-cafile", filepath.Join(dir, "missing.pem")}, nodeOpts{})
		if code := n.exitCode(10 * time.Second); code != 1 || !strings.Contains(n.out.String(), "missing.pem: no such file or directory") {
			t.Errorf("exit %d, log:\n%s", code, n.out)
		}
	})
	t.Run("pod sandboxes without CAP_SYS_RESOURCE", func(t *testing.T) {
		host := goodHost()
		host.LowerOOMScoreAdj = func() error { return os.ErrPermission }
		n := startNode(t, []string{"server", "-d", filepath.Join(dir, "d"), "-o", filepath.Join(dir, "d.yaml"), "--https-listen-port=0", "--bind-address=127.0.0.1"}, nodeOpts{host: host})
		n.waitLog("k3s is up and running")
		pods, err := clientset(t, restConfig(t, filepath.Join(dir, "d.yaml"))).CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) == 0 {
			t.Fatal("no system pods")
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodPending || !strings.Contains(podMessages(p), "error setting oom score adj") {
				t.Errorf("pod %s: phase %s, conditions %+v", p.Name, p.Status.Phase, p.Status.Conditions)
			}
		}
		n.stop()

		// The drop-in k3d writes for such hosts makes the pods run.
		dropIn := filepath.Join(dir, "e", "agent", "etc", "containerd", "config-v3.toml.d", "k3d-oom.toml")
		if err := os.MkdirAll(filepath.Dir(dropIn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dropIn, []byte("[plugins.'io.containerd.cri.v1.runtime']\n  restrict_oom_score_adj = true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		n = startNode(t, []string{"server", "-d", filepath.Join(dir, "e"), "-o", filepath.Join(dir, "e.yaml"), "--https-listen-port=0", "--bind-address=127.0.0.1"}, nodeOpts{host: host})
		n.waitLog("k3s is up and running")
		pods, err = clientset(t, restConfig(t, filepath.Join(dir, "e.yaml"))).CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning {
				t.Errorf("pod %s: phase %s with restrict_oom_score_adj", p.Name, p.Status.Phase)
			}
		}
	})
}

func podMessages(p corev1.Pod) string {
	var b strings.Builder
	for _, c := range p.Status.Conditions {
		b.WriteString(c.Message + "\n")
	}
	return b.String()
}

func TestPingNeedsNoAuth(t *testing.T) {
	dir := t.TempDir()
	startServer(t, dir, "server-0")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get(serverURL(t, filepath.Join(dir, "server-0.yaml")) + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "pong" {
		t.Errorf("/ping = %d %q", resp.StatusCode, b)
	}
}
