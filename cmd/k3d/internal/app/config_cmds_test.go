package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fullConfig sets every field the equivalent flags below set too.
const fullConfig = `apiVersion: k3d.io/v1alpha5
kind: Simple
metadata:
  name: fromfile
servers: 2
agents: 2
kubeAPI:
  hostIP: 127.0.0.1
  hostPort: "%s"
image: %s
token: s3cret
ports:
  - port: 8080:80
    nodeFilters: [loadbalancer]
  - port: 9090:90
    nodeFilters: [agent:0]
volumes:
  - volume: /tmp:/data
    nodeFilters: [server:0, agent:*]
env:
  - envVar: FOO=bar
    nodeFilters: [all]
options:
  k3d:
    wait: true
    timeout: 90s
    disableRollback: true
  k3s:
    extraArgs:
      - arg: --disable=traefik
        nodeFilters: [server:*]
    nodeLabels:
      - label: tier=backend
        nodeFilters: [agent:1]
  kubeconfig:
    updateDefaultKubeconfig: false
    switchCurrentContext: false
  runtime:
    serversMemory: 1g
    agentsMemory: 512m
    labels:
      - label: team=platform
        nodeFilters: [agent:0]
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "k3d.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeTCPPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// A cluster from the file and one from the equivalent flags get the same
// nodes, field by field (names, the API port and runtime ids aside).
func TestConfigFileMakesTheClusterTheFlagsMake(t *testing.T) {
	c := newCLI(t)
	filePort, flagPort := freeTCPPort(t), freeTCPPort(t)
	cfg := writeConfig(t, fmt.Sprintf(fullConfig, filePort, testImage))
	if code, _, stderr := c.run("create", "cluster", "--config", cfg); code != 0 {
		t.Fatalf("create from file: %s", stderr)
	}
	fromFile := c.nodeSpecs(t, "fromfile", filePort)
	// Deleted first: the two clusters publish the same host ports.
	if code, _, stderr := c.run("delete", "cluster", "fromfile"); code != 0 {
		t.Fatalf("delete: %s", stderr)
	}
	if code, _, stderr := c.run("create", "cluster", "fromflags", "--servers", "2", "--agents", "2",
		"--api-port", "127.0.0.1:"+flagPort, "-i", testImage, "--token", "s3cret",
		"-p", "8080:80@loadbalancer", "-p", "9090:90@agent:0", "-v", "/tmp:/data@server:0;agent:*",
		"-e", "FOO=bar@all", "--k3s-arg", "--disable=traefik@server:*", "--k3s-arg", "--node-label=tier=backend@agent:1",
		"--runtime-label", "team=platform@agent:0", "--timeout", "90s", "--no-rollback",
		"--kubeconfig-update-default=false", "--kubeconfig-switch-context=false",
		"--servers-memory", "1g", "--agents-memory", "512m"); code != 0 {
		t.Fatalf("create from flags: %s", stderr)
	}
	fromFlags := c.nodeSpecs(t, "fromflags", flagPort)
	// The fake binds published host ports while a node runs.
	t.Cleanup(func() { c.run("delete", "cluster", "fromflags") })
	if len(fromFile) != 5 {
		t.Fatalf("the file made %d nodes, want 2 servers, 2 agents and a load balancer", len(fromFile))
	}
	for name, want := range fromFlags {
		got, ok := fromFile[name]
		if !ok {
			t.Errorf("the file made no %s", name)
			continue
		}
		if got != want {
			t.Errorf("%s differs:\nfrom the file:  %s\nfrom the flags: %s", name, got, want)
		}
	}
}

// nodeSpecs are the cluster's nodes as JSON, with what must differ between
// two clusters (their name, API port, ids, addresses) written the same.
func (c *cli) nodeSpecs(t *testing.T, cluster, apiPort string) map[string]string {
	t.Helper()
	ctx := context.Background()
	nodes, err := c.rt.ListNodes(ctx, map[string]string{"k3d.cluster": cluster})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range nodes {
		n.ID, n.Created, n.State.StartedAt = "", time.Time{}, time.Time{}
		for i := range n.Networks {
			n.Networks[i].IPv4 = ""
		}
		for k := range n.Labels {
			if strings.Contains(k, "network.id") || strings.Contains(k, "iprange") {
				delete(n.Labels, k)
			}
		}
		slices.Sort(n.Env)
		b, _ := json.Marshal(n)
		s := strings.ReplaceAll(string(b), cluster, "CLUSTER")
		s = strings.ReplaceAll(s, apiPort, "APIPORT")
		out[strings.ReplaceAll(n.Name, cluster, "CLUSTER")] = s
	}
	return out
}

// Flags given with --config override the file, list flags add to its lists,
// NAME replaces metadata.name, and $VARs come from the environment.
func TestConfigFilePrecedence(t *testing.T) {
	c := newCLI(t)
	c.env["K3D_TEST_AGENTS"] = "1"
	cfg := writeConfig(t, `apiVersion: k3d.io/v1alpha5
kind: Simple
metadata:
  name: named-in-file
agents: ${K3D_TEST_AGENTS}
image: `+testImage+`
ports:
  - port: 8080:80
    nodeFilters: [loadbalancer]
options:
  runtime:
    labels:
      - label: from=file
        nodeFilters: [all]
`)
	if code, _, stderr := c.run("create", "cluster", "override", "--config", cfg, "--agents", "2", "-p", "9090:90@loadbalancer", "--runtime-label", "from2=flag@all"); code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	ctx := context.Background()
	nodes, _ := c.rt.ListNodes(ctx, map[string]string{"k3d.cluster": "override"})
	if len(nodes) != 4 {
		t.Fatalf("cluster override has %d nodes, want a server, --agents 2 and the load balancer", len(nodes))
	}
	if n, _ := c.rt.ListNodes(ctx, map[string]string{"k3d.cluster": "named-in-file"}); len(n) != 0 {
		t.Errorf("metadata.name was used although NAME was given")
	}
	lb, err := c.rt.InspectNode(ctx, "k3d-override-serverlb")
	if err != nil {
		t.Fatal(err)
	}
	var published []uint16
	for _, p := range lb.Ports {
		published = append(published, p.HostPort)
	}
	if !slices.Contains(published, 8080) || !slices.Contains(published, 9090) {
		t.Errorf("load balancer publishes %v: want the file's 8080 and the flag's 9090", published)
	}
	if lb.Labels["from"] != "file" || lb.Labels["from2"] != "flag" {
		t.Errorf("labels %v: want the file's and the flag's", lb.Labels)
	}

	// Without --agents the file's ${K3D_TEST_AGENTS} counts.
	if code, _, stderr := c.run("delete", "cluster", "override"); code != 0 {
		t.Fatalf("delete: %s", stderr)
	}
	if code, _, stderr := c.run("create", "cluster", "--config", cfg); code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	if n, _ := c.rt.ListNodes(ctx, map[string]string{"k3d.cluster": "named-in-file", "k3d.role": "agent"}); len(n) != 1 {
		t.Errorf("named-in-file has %d agents, want ${K3D_TEST_AGENTS}=1", len(n))
	}
	c.run("delete", "cluster", "named-in-file")
}

// A bad file is one line naming the file, line and field; nothing is created.
func TestConfigFileErrors(t *testing.T) {
	c := newCLI(t)
	cfg := writeConfig(t, "apiVersion: k3d.io/v1alpha5\nkind: Simple\nservers: 1\nagnets: 2\n")
	code, _, stderr := c.run("create", "cluster", "--config", cfg)
	line := errLine(t, stderr)
	if code == 0 || line != "k3d: create cluster: config "+cfg+":4: agnets: unknown field: the file has no \"agnets\" (see k3d config init for every field)" {
		t.Errorf("exit %d, error %q", code, line)
	}
	if n := c.rt.Calls("CreateNode") + c.rt.Calls("CreateNetwork"); n != 0 {
		t.Errorf("a bad config file still made %d objects", n)
	}
}

func TestConfigInitAndMigrate(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "k3d.yaml")
	if code, _, stderr := c.run("config", "init", "--output", out); code != 0 {
		t.Fatalf("config init: %s", stderr)
	}
	if code, _, stderr := c.run("config", "init", "--output", out); code == 0 || !strings.Contains(errLine(t, stderr), "--force") {
		t.Errorf("config init over an existing file: exit %d, %q", code, stderr)
	}
	if code, _, stderr := c.run("config", "init", "--output", out, "--force"); code != 0 {
		t.Errorf("config init --force: %s", stderr)
	}
	// The written file creates a cluster (with the test image in place of the default).
	data, _ := os.ReadFile(out)
	cfg := writeConfig(t, strings.Replace(string(data), "image: rancher/k3s", "image: "+testImage+" # ", 1))
	if code, _, stderr := c.run("create", "cluster", "--config", cfg); code != 0 {
		t.Fatalf("create from config init's file: %s", stderr)
	}
	if _, err := c.rt.InspectNode(context.Background(), "k3d-k3s-default-server-0"); err != nil {
		t.Errorf("config init's file made no k3d-k3s-default-server-0: %v", err)
	}

	old := writeConfig(t, "apiVersion: k3d.io/v1alpha3\nkind: Simple\nname: migrated\nagents: 1\nimage: "+testImage+"\n")
	newPath := filepath.Join(dir, "new.yaml")
	if code, _, stderr := c.run("config", "migrate", old, newPath); code != 0 {
		t.Fatalf("config migrate: %s", stderr)
	}
	code, stdout, _ := c.run("config", "migrate", old)
	if code != 0 || !strings.Contains(stdout, "apiVersion: k3d.io/v1alpha5") || !strings.Contains(stdout, "metadata:\n  name: migrated") {
		t.Errorf("config migrate to stdout: exit %d:\n%s", code, stdout)
	}
	if code, _, stderr := c.run("create", "cluster", "--config", newPath); code != 0 {
		t.Fatalf("create from the migrated file: %s", stderr)
	}
	if n, _ := c.rt.ListNodes(context.Background(), map[string]string{"k3d.cluster": "migrated", "k3d.role": "agent"}); len(n) != 1 {
		t.Errorf("migrated cluster has %d agents, want 1", len(n))
	}
}
