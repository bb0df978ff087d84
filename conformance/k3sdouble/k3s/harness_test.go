package k3s

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// A host where a real k3s node works: cgroup v2, CAP_SYS_RESOURCE.
func goodHost() Host {
	return Host{
		CgroupV1:         func() bool { return false },
		LowerOOMScoreAdj: func() error { return nil },
		Addrs:            func() []net.IP { return []net.IP{net.IPv4(127, 0, 0, 1)} },
		Kernel:           func() string { return "6.1.0-test" },
	}
}

// output collects a node's log and lets tests wait for a line.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return n, err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func (o *output) wait() (string, chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String(), o.changed
}

// testNode is a server or agent running in-process.
type testNode struct {
	t      *testing.T
	out    *output
	cancel context.CancelFunc
	done   chan int
	code   int
	exited bool
}

type nodeOpts struct {
	env  map[string]string
	host Host
	// hostname the node sees; the node name unless --node-name is given.
	hostname string
	// heartbeat overrides how often the node reports in.
	heartbeat time.Duration
	// ingress is where the node answers HTTP like traefik; empty: nowhere.
	ingress string
}

func startNode(t *testing.T, args []string, opts nodeOpts) *testNode {
	t.Helper()
	if opts.host.Addrs == nil {
		opts.host = goodHost()
	}
	if opts.hostname == "" {
		opts.hostname = "test-host"
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &testNode{t: t, out: newOutput(), cancel: cancel, done: make(chan int, 1)}
	env := Env{
		Args:     append([]string{"/bin/k3s"}, args...),
		Getenv:   func(k string) string { return opts.env[k] },
		Stdin:    strings.NewReader(""),
		Stdout:   n.out,
		Stderr:   n.out,
		Hostname: func() (string, error) { return opts.hostname, nil },
		Now:      time.Now,
		Host:     opts.host,

		IngressAddr:    opts.ingress,
		heartbeatEvery: opts.heartbeat,
	}
	go func() { n.done <- Main(ctx, env) }()
	t.Cleanup(func() { n.stop() })
	return n
}

// stop sends the node the equivalent of SIGTERM and returns its exit code.
func (n *testNode) stop() int {
	n.cancel()
	return n.exitCode(10 * time.Second)
}

func (n *testNode) exitCode(timeout time.Duration) int {
	n.t.Helper()
	if n.exited {
		return n.code
	}
	select {
	case n.code = <-n.done:
		n.exited = true
	case <-time.After(timeout):
		n.t.Fatalf("node did not exit within %v; log:\n%s", timeout, n.out)
	}
	return n.code
}

// waitLog waits until the node has logged a line containing s.
func (n *testNode) waitLog(s string) {
	n.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		text, changed := n.out.wait()
		if strings.Contains(text, s) {
			return
		}
		select {
		case <-changed:
		case code := <-n.done:
			n.code, n.exited = code, true
			if strings.Contains(n.out.String(), s) {
				return
			}
			n.t.Fatalf("node exited with %d before logging %q; log:\n%s", code, s, n.out)
		case <-deadline:
			n.t.Fatalf("node did not log %q; log:\n%s", s, n.out)
		}
	}
}

// server starts a first server and waits until it is up.
func startServer(t *testing.T, dir, name string, extra ...string) *testNode {
	t.Helper()
	args := append([]string{"server", "--data-dir", filepath.Join(dir, name), "--write-kubeconfig", filepath.Join(dir, name+".yaml"),
		"--https-listen-port=0", "--bind-address=127.0.0.1", "--node-ip=127.0.0.1", "--node-name", name}, extra...)
	n := startNode(t, args, nodeOpts{})
	n.waitLog("k3s is up and running")
	return n
}

// serverURL is where the server at dir/name serves, from its kubeconfig.
func serverURL(t *testing.T, kubeconfig string) string {
	t.Helper()
	cfg := restConfig(t, kubeconfig)
	return cfg.Host
}

func restConfig(t *testing.T, kubeconfig string) *rest.Config {
	t.Helper()
	b, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(b)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", kubeconfig, err)
	}
	cfg.Timeout = 10 * time.Second
	return cfg
}

func clientset(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// nodeNames lists the cluster's nodes through the given client.
func nodeNames(t *testing.T, cs *kubernetes.Clientset) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	var names []string
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	return names
}

// eventually polls cond (briefly) until it holds, for what peers learn by
// their periodic sync.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gate is a TCP front for a server that refuses connections until opened,
// like a server that has not started yet.
type gate struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
}

func newGate(t *testing.T) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			target := g.target
			g.mu.Unlock()
			if target == "" {
				c.Close()
				continue
			}
			go proxy(c, target)
		}
	}()
	return g
}

func (g *gate) url() string { return "https://" + g.ln.Addr().String() }

func (g *gate) open(target string) {
	g.mu.Lock()
	g.target = target
	g.mu.Unlock()
}

func proxy(c net.Conn, target string) {
	defer c.Close()
	u, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer u.Close()
	go func() { _, _ = io.Copy(u, c) }()
	_, _ = io.Copy(c, u)
}

var (
	metav1GetOptions    = metav1.GetOptions{}
	metav1DeleteOptions = metav1.DeleteOptions{}
)
