package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/fake"
	"github.com/k3d/k3d/engine"
)

const testImage = "rancher/k3s:test"

type fakeClient struct{ *fake.Runtime }

func (fakeClient) Close() error { return nil }
func (fakeClient) Path() string { return "/fake/k3d-runtime-fake" }

// cli runs k3d commands against one fake runtime, with HOME in a temp dir.
type cli struct {
	t    *testing.T
	rt   *fake.Runtime
	home string
	env  map[string]string
}

func newCLI(t *testing.T) *cli {
	rt := fake.New(backends.Info{Name: "fake", CgroupVersion: 2, FullPrivileges: true, Endpoint: "unix:///fake.sock"})
	rt.AddImage(testImage)
	rt.AddImage("k3d-helper:test")
	home := t.TempDir()
	return &cli{t: t, rt: rt, home: home, env: map[string]string{"HOME": home}}
}

func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	return c.runStdin("", args...)
}

// runStdin is run with stdin as the command's standard input.
func (c *cli) runStdin(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := &Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return c.env[k] },
		Environ: func() []string {
			var kv []string
			for k, v := range c.env {
				kv = append(kv, k+"="+v)
			}
			return kv
		},
		open: func(context.Context) (runtimeClient, error) { return fakeClient{c.rt}, nil },
		engineOpts: []engine.Option{engine.WithHelperImage(func(context.Context) (string, error) {
			return "k3d-helper:test", nil
		})},
	}
	code = run(ctx, args, env)
	return code, out.String(), errb.String()
}

// errLine is the one error line a failed command prints.
func errLine(t *testing.T, stderr string) string {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "k3d: ") {
			return l
		}
	}
	t.Fatalf("no `k3d: ` error line in %q", stderr)
	return ""
}

func TestUnknownRuntimeIsOneLineListingTheKnownOnes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--runtime", "rocket", "get", "cluster"}, nil},
		{[]string{"get", "cluster"}, map[string]string{"K3D_RUNTIME": "rocket"}},
	} {
		var out, errb bytes.Buffer
		getenv := func(k string) string { return tc.env[k] }
		code := Run(context.Background(), tc.args, &out, &errb, getenv)
		if code == 0 {
			t.Fatalf("%v: exit 0", tc.args)
		}
		line := errLine(t, errb.String())
		if !strings.Contains(line, `unknown runtime "rocket"`) || !strings.Contains(line, "docker, podman, containerd") {
			t.Errorf("%v: error %q", tc.args, line)
		}
		if strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("%v: more than one line: %q", tc.args, errb.String())
		}
	}
}

func TestClusterLifecycleThroughTheCLI(t *testing.T) {
	c := newCLI(t)
	code, _, stderr := c.run("create", "cluster", "dev", "-a", "1", "-i", testImage, "-p", "8080:80@loadbalancer")
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	code, out, _ := c.run("get", "cluster")
	if code != 0 || !regexpLine(out, `^dev\s+1/1\s+1/1\s+true\s+127\.0\.0\.1:\d+`) {
		t.Errorf("get cluster: %d %q", code, out)
	}
	code, out, _ = c.run("cluster", "list", "--no-headers")
	if code != 0 || strings.Contains(out, "NAME") || !strings.HasPrefix(out, "dev ") {
		t.Errorf("cluster list --no-headers: %q", out)
	}
	code, out, _ = c.run("get", "cluster", "-o", "json")
	var clusters k3dListReader
	if code != 0 || json.Unmarshal([]byte(out), &clusters) != nil || len(clusters) != 1 || len(clusters[0].Nodes) != 3 {
		t.Errorf("get cluster -o json: %q", out)
	}
	code, out, _ = c.run("node", "list", "-o", "yaml")
	if code != 0 || !strings.Contains(out, "name: k3d-dev-agent-0") {
		t.Errorf("node list -o yaml: %q", out)
	}
	kc, err := os.ReadFile(filepath.Join(c.home, ".kube", "config"))
	if err != nil || !strings.Contains(string(kc), "current-context: k3d-dev") {
		t.Errorf("default kubeconfig after create: %v %q", err, kc)
	}
	code, out, _ = c.run("kubeconfig", "get", "dev")
	if code != 0 || !strings.Contains(out, "admin@k3d-dev") {
		t.Errorf("kubeconfig get: %q", out)
	}

	code, _, stderr = c.run("delete", "cluster", "dev")
	if code != 0 {
		t.Fatalf("delete: %s", stderr)
	}
	if s := c.rt.Snapshot(); s != "nodes= networks= volumes=" {
		t.Errorf("after delete: %s", s)
	}
	kc, _ = os.ReadFile(filepath.Join(c.home, ".kube", "config"))
	if strings.Contains(string(kc), "k3d-dev") {
		t.Errorf("kubeconfig still has the cluster: %q", kc)
	}
	code, _, stderr = c.run("delete", "cluster", "dev")
	if code == 0 || !strings.Contains(errLine(t, stderr), "k3d: delete cluster dev: cluster dev not found") {
		t.Errorf("deleting again: %d %q", code, stderr)
	}
}

func TestSeedFlagAliasesAndNounVerbForms(t *testing.T) {
	c := newCLI(t)
	code, _, stderr := c.run("cluster", "create", "old", "--masters", "1", "--workers", "1", "--secret", "seedtoken0123456789",
		"-i", testImage, "--k3s-server-arg", "--disable=traefik", "--k3s-arg", "--node-label=tier=a@server:0",
		"--k3s-server-arg=--disable=metrics-server", "--kubeconfig-update-default=false")
	if code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	s0, err := c.rt.InspectNode(context.Background(), "k3d-old-server-0")
	if err != nil {
		t.Fatal(err)
	}
	if s0.Labels[engine.LabelClusterToken] != "seedtoken0123456789" || !contains(s0.Cmd, "--disable=traefik") ||
		!contains(s0.Cmd, "--node-label=tier=a") || !contains(s0.Cmd, "--disable=metrics-server") {
		t.Errorf("server-0 labels %v cmd %v", s0.Labels, s0.Cmd)
	}
	a0, _ := c.rt.InspectNode(context.Background(), "k3d-old-agent-0")
	if contains(a0.Cmd, "--disable=traefik") {
		t.Error("--k3s-server-arg reached an agent")
	}
	if _, err := os.Stat(filepath.Join(c.home, ".kube", "config")); err == nil {
		t.Error("--kubeconfig-update-default=false still wrote the kubeconfig")
	}
	if code, _, stderr := c.run("node", "create", "more", "--cluster", "old", "--role", "worker"); code != 0 {
		t.Fatalf("node create: %s", stderr)
	}
	if code, out, _ := c.run("get", "nodes", "--no-headers"); code != 0 || !strings.Contains(out, "k3d-more-0") {
		t.Errorf("get nodes: %q", out)
	}
	if code, _, stderr := c.run("node", "delete", "k3d-more-0"); code != 0 {
		t.Errorf("node delete: %s", stderr)
	}
	if code, _, stderr := c.run("stop", "cluster", "--all"); code != 0 {
		t.Errorf("stop --all: %s", stderr)
	}
	if code, _, stderr := c.run("cluster", "start", "old"); code != 0 {
		t.Errorf("cluster start: %s", stderr)
	}
	if code, _, stderr := c.run("cluster", "delete", "--all"); code != 0 {
		t.Errorf("cluster delete --all: %s", stderr)
	}
	if s := c.rt.Snapshot(); s != "nodes= networks= volumes=" {
		t.Errorf("after delete --all: %s", s)
	}
}

func TestFailedCreateShowsTheNodeAndItsLastLines(t *testing.T) {
	c := newCLI(t)
	c.rt.OnStart = func(h *fake.Handle) {
		if h.Name() == "k3d-dev-agent-0" {
			h.Log(`level=fatal msg="no route to k3d-dev-server-0"`)
			h.Exit(1)
			return
		}
		fake.DefaultOnStart(h)
	}
	code, _, stderr := c.run("create", "cluster", "dev", "-a", "1", "-i", testImage)
	if code == 0 {
		t.Fatal("exit 0")
	}
	line := errLine(t, stderr)
	if !strings.HasPrefix(line, "k3d: create cluster dev: node k3d-dev-agent-0: exited with code 1") {
		t.Errorf("error line %q", line)
	}
	if !strings.Contains(stderr, "last log lines of k3d-dev-agent-0:\n  level=fatal") {
		t.Errorf("stderr lacks the node's log: %q", stderr)
	}
	if s := c.rt.Snapshot(); s != "nodes= networks= volumes=" {
		t.Errorf("not rolled back: %s", s)
	}
}

func TestContradictingArguments(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"delete", "cluster", "a", "--all"},
		{"start", "cluster", "a", "--all"},
		{"delete", "node"},
		{"delete", "node", "k3d-a-agent-0", "--all"},
		{"kubeconfig", "write", "--all", "--output", "x"},
	} {
		code, _, stderr := c.run(args...)
		if code == 0 {
			t.Errorf("%v: exit 0", args)
			continue
		}
		if line := errLine(t, stderr); !strings.Contains(line, strings.Join(args[:2], " ")) && !strings.Contains(line, "kubeconfig") {
			t.Errorf("%v: error %q does not name the command", args, line)
		}
	}
}

func TestLBProxyIsHidden(t *testing.T) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"--help"}, &out, &errb, func(string) string { return "" })
	if code != 0 || strings.Contains(out.String(), "lb-proxy") || !strings.Contains(out.String(), "create") {
		t.Errorf("help: %d %q", code, out.String())
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func regexpLine(out, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, l := range strings.Split(out, "\n") {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}
