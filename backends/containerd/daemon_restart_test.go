package containerd

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	client "github.com/containerd/containerd"

	"github.com/k3d/k3d/backends"
)

// privateContainerd runs a containerd of its own (its own socket, root and
// state), so that restarting it disturbs nothing else on the host — the
// system containerd is Docker's too. Its restart monitor checks every
// monitorInterval (containerd's default is 10 s).
type privateContainerd struct {
	t    *testing.T
	dir  string
	cfg  string
	sock string
	cmd  *exec.Cmd
	ns   string // the namespace the test uses, for the last-resort cleanup
}

func startPrivateContainerd(t *testing.T, monitorInterval time.Duration) *privateContainerd {
	t.Helper()
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("no containerd binary to run a private daemon")
	}
	dir, err := os.MkdirTemp("", "k3d-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privateContainerd{t: t, dir: dir, cfg: filepath.Join(dir, "config.toml"), sock: filepath.Join(dir, "containerd.sock")}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.internal.v1.restart"]
  interval = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), p.sock, p.sock+".ttrpc", filepath.Join(dir, "opt"), monitorInterval.String())
	if err := os.WriteFile(p.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p.start(bin)
	t.Cleanup(func() {
		p.stop()
		p.killLeftovers()
		if p.ns != "" {
			removeNamespaceDirs(p.ns)
		}
		_ = exec.Command("umount", "-R", "-l", dir).Run()
		os.RemoveAll(dir)
	})
	return p
}

// privateRuntime starts a private containerd and a backend on it, in a
// namespace of the test's own, holding the test image.
func privateRuntime(ctx context.Context, t *testing.T, nsPrefix string, monitorInterval time.Duration) (*privateContainerd, *Runtime) {
	t.Helper()
	d := startPrivateContainerd(t, monitorInterval)
	ns := nsPrefix + suite.runID
	rt, err := New(Options{Address: d.sock, Namespace: ns, Root: filepath.Join(d.dir, "k3d"), Executable: suite.rt.exe})
	if err != nil {
		t.Fatal(err)
	}
	d.ns = ns
	t.Cleanup(func() { rt.Close() })
	if err := loadTestImage(ctx, rt, suite.image, filepath.Join(suite.root, "testprog")); err != nil {
		t.Fatal(err)
	}
	return d, rt
}

func (p *privateContainerd) start(bin string) {
	p.t.Helper()
	log, err := os.OpenFile(filepath.Join(p.dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer log.Close()
	p.cmd = exec.Command(bin, "--config", p.cfg)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := client.New(p.sock, client.WithTimeout(time.Second))
		if err == nil {
			_, err = c.Version(context.Background())
			c.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(filepath.Join(p.dir, "containerd.log"))
			p.t.Fatalf("private containerd did not come up: %v\n%s", err, data)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killLeftovers ends what a failed test left running: the processes of the
// test's namespace (found in its cgroups) and the daemon's shims.
func (p *privateContainerd) killLeftovers() {
	if p.ns == "" {
		return
	}
	procs, _ := filepath.Glob("/sys/fs/cgroup/memory/" + p.ns + "/*/cgroup.procs")
	v2, _ := filepath.Glob("/sys/fs/cgroup/" + p.ns + "/*/cgroup.procs")
	for _, f := range append(procs, v2...) {
		data, _ := os.ReadFile(f)
		for _, pid := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(pid); err == nil {
				_ = syscall.Kill(n, syscall.SIGKILL)
			}
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(cmdline), p.sock) {
			_ = syscall.Kill(n, syscall.SIGKILL)
		}
	}
}

// stop ends the daemon, leaving its shims and their containers running, as
// a restart of containerd does.
func (p *privateContainerd) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// A restart of containerd loses nothing: a running node keeps running and
// serving, with its logs and restart policy; a node stopped before the
// restart starts again after it, at its address.
func TestSurvivesContainerdRestart(t *testing.T) {
	needContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, rt := privateRuntime(ctx, t, "k3d-restart-", time.Second)
	netName := "k3d-restart"
	if _, err := rt.CreateNetwork(ctx, backends.NetworkSpec{Name: netName}); err != nil {
		t.Fatal(err)
	}
	up, down := "up", "down"
	for _, n := range []string{up, down} {
		if _, err := rt.CreateNode(ctx, backends.NodeSpec{Name: n, Image: suite.image, Cmd: []string{"serve", "7000"},
			Networks: []backends.NetworkAttachment{{Network: netName}}, RestartPolicy: backends.RestartUnlessStopped,
			Ports: []backends.PortMapping{{HostIP: "127.0.0.1", ContainerPort: 7000}}}); err != nil {
			t.Fatal(err)
		}
		if err := rt.StartNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range []string{up, down} {
			if err := rt.DeleteNode(cctx, n); err != nil {
				t.Errorf("delete node %s: %v", n, err)
			}
		}
		if err := rt.DeleteNetwork(cctx, netName); err != nil {
			t.Errorf("delete network: %v", err)
		}
		if cli, nctx, err := rt.Client(cctx); err == nil {
			deleteImages(nctx, cli)
		}
	})
	if err := rt.StopNode(ctx, down, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	before, err := rt.InspectNode(ctx, down)
	if err != nil {
		t.Fatal(err)
	}

	bin := d.cmd.Path
	d.stop()
	d.start(bin)

	n, err := rt.InspectNode(ctx, up)
	if err != nil {
		t.Fatalf("inspect node %s after containerd restarted: %v", up, err)
	}
	if !n.State.Running {
		t.Errorf("node %s after containerd restarted: %+v, want running", up, n.State)
	}
	dial(t, n.Ports[0].HostPort)
	var out strings.Builder
	if code, err := rt.Exec(ctx, up, backends.ExecSpec{Cmd: []string{"/testprog", "out", "still here"}, Stdout: &out}); err != nil || code != 0 || out.String() != "still here\n" {
		t.Errorf("exec in node %s after containerd restarted: %d, %v, %q", up, code, err, out.String())
	}

	if err := rt.StartNode(ctx, down); err != nil {
		t.Fatalf("start node %s, stopped before containerd restarted: %v", down, err)
	}
	after, err := rt.InspectNode(ctx, down)
	if err != nil {
		t.Fatal(err)
	}
	if !after.State.Running || after.Networks[0].IPv4 != before.Networks[0].IPv4 {
		t.Errorf("node %s started after containerd restarted: %+v at %+v, want running at %s", down, after.State, after.Networks, before.Networks[0].IPv4)
	}
	dial(t, after.Ports[0].HostPort)

	// The restart monitor still keeps the policy: a node whose process dies
	// comes back.
	cli, nctx, err := rt.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cli.LoadContainer(nctx, up)
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.Task(nctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(int(task.Pid()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := rt.InspectNode(ctx, up)
		if err == nil && n.State.Running && n.State.RestartCount >= 1 {
			dial(t, n.Ports[0].HostPort)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s whose process died was not restarted: %+v, %v", up, n.State, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rc, err := rt.Logs(ctx, up, backends.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}

// dial checks that a published port answers on 127.0.0.1.
func dial(t *testing.T, port uint16) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			_, _ = c.Write([]byte("ping\n"))
			buf := make([]byte, 5)
			n, err := c.Read(buf)
			c.Close()
			if err == nil && string(buf[:n]) == "ping\n" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("published port %s does not echo: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
