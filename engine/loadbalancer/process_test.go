//go:build unix

package loadbalancer

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests in this file involve the process itself: its user, its signals.

// TestMain doubles as the load balancer program: with K3D_LB_TEST_CONFIG set,
// the test binary runs Serve on that file the way `k3d lb-proxy` does, so that
// tests can start it as another user.
func TestMain(m *testing.M) {
	if path := os.Getenv("K3D_LB_TEST_CONFIG"); path != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := Serve(ctx, path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proxyProcess runs Serve in a copy of the test binary as uid (or as root
// when uid is 0), on a config with a port below 1024 and one above.
func proxyProcess(t *testing.T, uid uint32, upstream string) (low, high uint16, log *logSink, pid int) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	start := 1024
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		start, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	low = lowFreePort(t, start)
	high = freePort(t)

	// A directory uid 65534 can read: Go's build and test directories are
	// private to their owner.
	dir, err := os.MkdirTemp("", "k3d-lb-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "lb.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, _ := Config{Listeners: []Listener{
		{Port: low, Protocol: "tcp", Upstreams: []string{upstream}},
		{Port: high, Protocol: "tcp", Upstreams: []string{upstream}},
	}}.Marshal()
	path := filepath.Join(dir, ConfigFile)
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "K3D_LB_TEST_CONFIG="+path)
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log = newLogSink(t)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.logf("%s", sc.Text())
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-scanned
		if err := cmd.Wait(); err != nil {
			t.Errorf("proxy process ended with %v after SIGTERM", err)
		}
	})
	log.wait(0, "loaded ")
	return low, high, log, cmd.Process.Pid
}

// lowFreePort finds a port below start that root can bind (so that only the
// privilege check can stop the proxy).
func lowFreePort(t *testing.T, start int) uint16 {
	t.Helper()
	for p := min(start, 1024) - 1; p > 600; p-- {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err == nil {
			l.Close()
			return uint16(p)
		}
	}
	t.Skipf("no free port below %d", start)
	return 0
}

func TestUnprivilegedProxyServesHighPortsAndExplainsLowOnes(t *testing.T) {
	up := newBackend(t, "server-0")
	low, high, log, _ := proxyProcess(t, 65534, up.addr)
	line := log.wait(0, fmt.Sprintf("listener %d/tcp not opened", low))
	if !strings.Contains(line, "ip_unprivileged_port_start") || !strings.Contains(line, "start it as root") {
		t.Errorf("the failure does not say what to do: %s", line)
	}
	if n, _ := greeting(t, fmt.Sprintf("127.0.0.1:%d", high)); n != "server-0" {
		t.Fatalf("high port reached %s", n)
	}
}

func TestRootProxyBindsLowPortsThenDropsToNobody(t *testing.T) {
	up := newBackend(t, "server-0")
	low, _, log, pid := proxyProcess(t, 0, up.addr)
	log.wait(0, "now running as uid 65534")
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Groups:" {
			t.Errorf("proxy process kept supplementary groups: %s", l)
		}
		if strings.HasPrefix(l, "Uid:") || strings.HasPrefix(l, "Gid:") || strings.HasPrefix(l, "CapEff:") {
			f := strings.Fields(l)
			want := "65534"
			if f[0] == "CapEff:" {
				want = "0000000000000000"
			}
			for _, v := range f[1:] {
				if v != want {
					t.Errorf("proxy process %s want all %s", l, want)
				}
			}
		}
	}
	_, c := greeting(t, fmt.Sprintf("127.0.0.1:%d", low))
	echo(t, c, "served unprivileged")
}

func TestSIGHUPReloads(t *testing.T) {
	s0, s1 := newBackend(t, "server-0"), newBackend(t, "server-1")
	opts := testOptions()
	opts.poll = time.Hour // only the signal can cause a reload
	r := startProxy(t, opts, 1, func(p []uint16) Config {
		return Config{Listeners: []Listener{{Port: p[0], Protocol: "tcp", Upstreams: []string{s0.addr}}}}
	})
	r.write(t, Config{Listeners: []Listener{{Port: r.ports[0], Protocol: "tcp", Upstreams: []string{s1.addr}}}})
	m := r.log.mark()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r.log.wait(m, "on SIGHUP")
	if n, _ := greeting(t, r.addr(0)); n != "server-1" {
		t.Fatalf("after SIGHUP reached %s", n)
	}
}
