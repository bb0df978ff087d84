package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine"
)

// goldenCluster is a cluster with one of each node kind and the labels k3d
// v5 writes, so that every field of the list JSON has a value to show.
func goldenCluster() engine.Cluster {
	created := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	return engine.Cluster{
		Name: "dev", Network: "k3d-dev", Token: "tok3n", ImageVolume: "k3d-dev-images",
		API: engine.APIEndpoint{Host: "0.0.0.0", HostIP: "0.0.0.0", Port: "6550"},
		Nodes: []engine.Node{
			{
				Name: "k3d-dev-server-0", Cluster: "dev", Role: engine.RoleServer, Image: "rancher/k3s:v1.31.5-k3s1",
				Status: backends.StatusRunning, Running: true, IP: "172.18.0.2", Created: created,
				Labels: map[string]string{
					"app": "k3d", "k3d.cluster": "dev", "k3d.role": "server", "k3d.cluster.network": "k3d-dev",
					"k3d.cluster.token": "tok3n", "k3d.cluster.imageVolume": "k3d-dev-images",
					"k3d.cluster.url": "https://k3d-dev-server-0:6443", "k3d.server.init": "true",
					"k3d.server.api.host": "0.0.0.0", "k3d.server.api.hostIP": "0.0.0.0", "k3d.server.api.port": "6550",
				},
				Cmd: []string{"/bin/k3s", "server", "--cluster-init", "--tls-san", "0.0.0.0"},
				Env: []string{"K3S_TOKEN=tok3n", "K3S_KUBECONFIG_OUTPUT=/output/kubeconfig.yaml"},
				Mounts: []backends.Mount{
					{Type: backends.MountVolume, Source: "k3d-dev-images", Target: "/k3d/images"},
					{Type: backends.MountTmpfs, Target: "/run"},
					{Type: backends.MountBind, Source: "/home/dev/manifests", Target: "/var/lib/rancher/k3s/server/manifests/custom", ReadOnly: true},
				},
				Networks: []string{"k3d-dev"}, Restart: backends.RestartUnlessStopped,
			},
			{
				Name: "k3d-dev-agent-0", Cluster: "dev", Role: engine.RoleAgent, Image: "rancher/k3s:v1.31.5-k3s1",
				Status: backends.StatusExited, Created: created.Add(time.Second).Truncate(time.Second),
				Labels:      map[string]string{"app": "k3d", "k3d.cluster": "dev", "k3d.role": "agent", "k3d.cluster.network": "k3d-dev"},
				Cmd:         []string{"/bin/k3s", "agent"},
				MemoryLimit: 1 << 30, Networks: []string{"k3d-dev"}, Restart: backends.RestartAlways,
			},
			{
				Name: "k3d-dev-serverlb", Cluster: "dev", Role: engine.RoleLoadBalancer, Image: "k3d-helper:v1",
				Status: backends.StatusRunning, Running: true, IP: "172.18.0.9",
				Labels: map[string]string{"app": "k3d", "k3d.cluster": "dev", "k3d.role": "loadbalancer",
					"k3d.cluster.network": "k3d-dev", "k3d.node.staticIP": "172.18.0.9"},
				Cmd: []string{"/k3d", "lb-proxy"},
				Ports: []backends.PortMapping{
					{HostIP: "0.0.0.0", HostPort: 6550, ContainerPort: 6443},
					{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
				},
				Networks: []string{"bridge", "k3d-dev"}, Restart: backends.RestartNo,
			},
		},
	}
}

// The golden file was written by hand from k3d v5.9's pkg/types and
// cmd/cluster/clusterList.go (field names, omitempty, null for untagged
// pointers and slices), not generated from this code.
func TestClusterListJSONIsK3dV5Shape(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "k3d-cluster-list.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := printStructured(&got, "json", clusterListJSON([]engine.Cluster{goldenCluster()}, false)); err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("cluster list -o json differs from testdata/k3d-cluster-list.json:\n%s", got.String())
	}

	// YAML is the same document under the same names.
	var y bytes.Buffer
	if err := printStructured(&y, "yaml", clusterListJSON([]engine.Cluster{goldenCluster()}, false)); err != nil {
		t.Fatal(err)
	}
	fromYAML, err := yaml.YAMLToJSON(y.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal(fromYAML, &a)
	_ = json.Unmarshal(want, &b)
	if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
		t.Errorf("cluster list -o yaml is not the json document:\n%s", y.String())
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// k3dListReader decodes `k3d cluster list -o json` the way its consumers do
// (ctlptl-style Go structs with k3d's tags, the counts scripts read with jq,
// carapace's node fields and port map readers).
type k3dListReader []struct {
	Name           string `json:"name"`
	ServersRunning int    `json:"serversRunning"`
	ServersCount   int    `json:"serversCount"`
	AgentsRunning  int    `json:"agentsRunning"`
	AgentsCount    int    `json:"agentsCount"`
	HasLB          bool   `json:"hasLoadbalancer"`
	Token          string `json:"clusterToken"`
	Network        struct {
		Name string `json:"name"`
	} `json:"network"`
	Nodes []k3dNodeReader `json:"nodes"`
}

type k3dNodeReader struct {
	Name          string            `json:"name"`
	Role          string            `json:"role"`
	RuntimeLabels map[string]string `json:"runtimeLabels"`
	PortMappings  map[string][]struct {
		HostIP   string `json:"HostIp"`
		HostPort string `json:"HostPort"`
	} `json:"portMappings"`
	State struct {
		Running bool
		Status  string
	}
}

func TestListJSONDecodesAsK3dConsumersReadIt(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run("cluster", "create", "dev", "-a", "2", "-i", testImage, "-p", "8080:80@loadbalancer"); code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	if code, _, stderr := c.run("node", "stop", "k3d-dev-agent-1"); code != 0 {
		t.Fatalf("node stop: %s", stderr)
	}

	code, out, stderr := c.run("cluster", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("cluster list -o json: %s", stderr)
	}
	var clusters k3dListReader
	if err := json.Unmarshal([]byte(out), &clusters); err != nil || len(clusters) != 1 {
		t.Fatalf("decode %v: %s", err, out)
	}
	cl := clusters[0]
	if cl.Name != "dev" || cl.ServersCount != 1 || cl.ServersRunning != 1 || cl.AgentsCount != 2 || cl.AgentsRunning != 1 || !cl.HasLB {
		t.Errorf("counts: %+v", cl)
	}
	if cl.Network.Name != "k3d-dev" || cl.Token != "" {
		t.Errorf("network %q, token %q (only with --token)", cl.Network.Name, cl.Token)
	}
	roles := map[string]string{}
	for _, n := range cl.Nodes {
		roles[n.Name] = n.Role
		if n.RuntimeLabels["k3d.cluster"] != "dev" {
			t.Errorf("%s: runtimeLabels %v", n.Name, n.RuntimeLabels)
		}
		if running := n.Name != "k3d-dev-agent-1"; n.State.Running != running {
			t.Errorf("%s: State.Running %v", n.Name, n.State.Running)
		}
		if n.Role == "loadbalancer" {
			if p := n.PortMappings["80/tcp"]; len(p) != 1 || p[0].HostPort != "8080" {
				t.Errorf("lb portMappings: %+v", n.PortMappings)
			}
			if p := n.PortMappings["6443/tcp"]; len(p) != 1 || p[0].HostPort == "" {
				t.Errorf("lb has no API port: %+v", n.PortMappings)
			}
		}
	}
	if roles["k3d-dev-server-0"] != "server" || roles["k3d-dev-agent-0"] != "agent" || roles["k3d-dev-serverlb"] != "loadbalancer" {
		t.Errorf("roles: %v", roles)
	}

	if _, out, _ = c.run("cluster", "list", "dev", "--token", "-o", "yaml"); !strings.Contains(out, "clusterToken: ") {
		t.Errorf("--token -o yaml has no clusterToken:\n%s", out)
	}
	if _, out, _ = c.run("cluster", "list", "--token", "--no-headers"); !regexpLine(out, `^dev\s+1/1\s+1/2\s+true\s+\S+\s+\S{16,}$`) {
		t.Errorf("--token table: %q", out)
	}

	code, out, stderr = c.run("node", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("node list -o json: %s", stderr)
	}
	var nodes []k3dNodeReader
	if err := json.Unmarshal([]byte(out), &nodes); err != nil || len(nodes) != 4 {
		t.Fatalf("decode %v: %s", err, out)
	}
	for i := 1; i < len(nodes); i++ {
		if nodes[i-1].Name > nodes[i].Name {
			t.Errorf("node list not sorted by name: %s before %s", nodes[i-1].Name, nodes[i].Name)
		}
	}
	if code, out, _ = c.run("get", "node", "k3d-dev-server-0", "-o", "yaml"); code != 0 || !strings.Contains(out, "role: server") || !strings.Contains(out, "Running: true") {
		t.Errorf("get node -o yaml: %q", out)
	}
	if code, out, _ = c.run("node", "list", "--no-headers"); code != 0 || strings.Contains(out, "NAME") || !regexpLine(out, `^k3d-dev-agent-1\s+agent\s+dev\s+exited$`) {
		t.Errorf("node list --no-headers: %q", out)
	}

	// No clusters is an empty list, not null, in both commands.
	c = newCLI(t)
	for _, args := range [][]string{{"cluster", "list", "-o", "json"}, {"node", "list", "-o", "json"}} {
		if code, out, _ := c.run(args...); code != 0 || strings.TrimSpace(out) != "[]" {
			t.Errorf("%v with nothing: %d %q", args, code, out)
		}
	}
}
