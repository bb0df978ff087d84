package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// deadEndpoint points each runtime's backend at an endpoint where no daemon
// answers, through the variable that runtime's own tools read.
var deadEndpoint = map[string]string{
	"docker":     "DOCKER_HOST=unix:///nonexistent/docker.sock",
	"podman":     "CONTAINER_HOST=unix:///nonexistent/podman.sock",
	"containerd": "CONTAINERD_ADDRESS=/nonexistent/containerd.sock",
}

// cfgEnv gives the config files under testdata/config their name and image.
var cfgEnv = []string{"K3D_E2E_NAME={name}", "K3D_E2E_IMAGE={image}"}

// badInput is one malformed or conflicting command. In args, {name} is a fresh
// cluster name, {image} the test double, {existing} a running cluster of one
// server and one agent, {busy} a 127.0.0.1 port something listens on, and
// {free} one nothing listens on.
type badInput struct {
	name string
	args []string
	env  []string
	// want is a phrase the one-line error must contain (case-insensitive):
	// it names what is wrong.
	want string
}

func badInputs(runtime string) []badInput {
	create := func(extra ...string) []string {
		return append([]string{"create", "cluster", "{name}", "--image", "{image}"}, extra...)
	}
	cases := []badInput{
		// Port specs.
		{"port not a number", create("-p", "http:80@loadbalancer"), nil, "http"},
		{"host port out of range", create("-p", "70000:80@loadbalancer"), nil, "70000"},
		{"container port zero", create("-p", "8080:0@loadbalancer"), nil, "port"},
		{"unknown protocol", create("-p", "8080:80/sctp@loadbalancer"), nil, "sctp"},
		{"bad host IP", create("-p", "1.2.3.4.5:8080:80@loadbalancer"), nil, "1.2.3.4.5"},
		{"port with too many parts", create("-p", "1:2:3:4@loadbalancer"), nil, "1:2:3:4"},
		{"unknown port suffix", create("-p", "8080:80@loadbalancer:sideways"), nil, "sideways"},
		// Node filters.
		{"empty node filter", create("-p", "8080:80@"), nil, "filter"},
		{"unknown node group", create("-p", "8080:80@wizards:0"), nil, "wizards"},
		{"index past the last agent", create("--agents", "1", "-p", "8080:80@agent:3"), nil, "agent:3"},
		{"index past the last server (seed grammar)", create("-v", "/tmp:/data@masters[2]"), nil, "masters[2]"},
		{"reversed index range", create("--agents", "2", "-e", "A=b@agent:1-0"), nil, "1-0"},
		{"index not a number", create("--k3s-arg", "--debug@server:x"), nil, "server:x"},
		{"unclosed seed index", create("--label", "a=b@workers[0"), nil, "workers[0"},
		// Volume, env and label specs.
		{"volume with a relative destination", create("-v", "/tmp:data"), nil, "data"},
		{"volume with an unknown mode", create("-v", "/tmp:/data:rx"), nil, "rx"},
		{"volume with an empty source", create("-v", ":/data"), nil, "volume"},
		{"env without a name", create("-e", "=value@all"), nil, "env"},
		{"label without a key", create("--label", "=v@all"), nil, "label"},
		// Cluster names.
		{"name with capitals and underscore", []string{"create", "cluster", "Bad_Name", "--image", "{image}"}, nil, "Bad_Name"},
		{"name longer than 32", []string{"create", "cluster", strings.Repeat("a", 33), "--image", "{image}"}, nil, "32"},
		{"name ending in a dash", []string{"create", "cluster", "ends-", "--image", "{image}"}, nil, "ends-"},
		{"cluster that already exists", []string{"create", "cluster", "{existing}", "--image", "{image}"}, nil, "already exists"},
		// Node counts, sizes, timeouts.
		{"no servers", create("--servers", "0"), nil, "server"},
		{"negative agents", create("--agents", "-1"), nil, "agent"},
		{"negative timeout", create("--timeout", "-5s"), nil, "timeout"},
		{"unparsable memory limit", create("--servers-memory", "lots"), nil, "lots"},
		{"unknown load balancer setting", create("--lb-config-override", "settings.keepalive=5"), nil, "--lb-config-override"},
		{"load balancer setting not a number", create("--lb-config-override", "settings.workerConnections=many"), nil, "workerConnections"},
		{"load balancer setting without a load balancer", create("--no-lb", "--lb-config-override", "settings.workerConnections=10"), nil, "--no-lb"},
		// API endpoint.
		{"API port out of range", create("--api-port", "99999"), nil, "99999"},
		{"API port already in use", create("--api-port", "127.0.0.1:{busy}"), nil, "{busy}"},
		// Contradicting or missing things the flags point at.
		{"--no-lb with a load balancer port", create("--no-lb", "-p", "8080:80@loadbalancer"), nil, "no load balancer"},
		{"--image-vol naming a missing volume", create("--image-vol", "k3d-{name}-nosuchvol"), nil, "nosuchvol"},
		{"--datastore-cafile missing", create("--datastore-endpoint", "https://db.example:2379", "--datastore-cafile", "/nonexistent/ca.pem"), nil, "/nonexistent/ca.pem"},
		{"--subnet not a CIDR", create("--subnet", "10.0.0.0/99"), nil, "10.0.0.0/99"},
		{"--subnet for an existing network", create("--network", "k3d-{existing}", "--subnet", "10.209.0.0/24"), nil, "--subnet"},
		{"datastore files without an endpoint", create("--datastore-cafile", "/etc/hostname"), nil, "--datastore-endpoint"},
		{"port taking the API port on the load balancer", create("-p", "6443@loadbalancer"), nil, "6443"},
		{"host port also given to --api-port", create("--api-port", "127.0.0.1:{free}", "-p", "127.0.0.1:{free}:80@loadbalancer"), nil, "--api-port"},
		{"flag without its value", create("--token"), nil, "--token"},
		{"env naming an unset variable", create("-e", "K3D_E2E_UNSET_VARIABLE@server:0"), nil, "K3D_E2E_UNSET_VARIABLE"},
		{"port with two protocols", create("-p", "80/tcp/udp@loadbalancer"), nil, "80/tcp"},
		{"one of several filters unknown", create("-v", "/tmp:/data@server:0@nosuchnode"), nil, "nosuchnode"},
		{"missing image", []string{"create", "cluster", "{name}", "--image", "k3d-e2e-missing-image:v0"}, nil, "k3d-e2e-missing-image:v0"},
		// Registries ({existing} was made with --registry-create {existing}-reg).
		{"--registry-use of a missing registry", create("--registry-use", "k3d-{name}-reg:5000"), nil, "k3d-{name}-reg does not exist"},
		{"--registry-create on a busy port", create("--registry-create", "{name}-reg:127.0.0.1:{busy}"), nil, "{busy}"},
		{"--registry-create named like a node", create("--registry-create", "{existing}-server-0"), nil, "k3d-{existing}-server-0"},
		{"--registry-create of a taken name", create("--registry-create", "{existing}-reg"), nil, "k3d-{existing}-reg"},
		{"--registry-config missing", create("--registry-config", "/nonexistent/registries.yaml"), nil, "/nonexistent/registries.yaml"},
		{"--registry-config with an unknown field", create("--registry-config", "{testdata}/registries-misspelt.yaml"), nil, "endpoints"},
		{"--registry-use with the wrong port", create("--registry-use", "k3d-{existing}-reg:1"), nil, "not 1"},
		{"registry on a busy port", []string{"registry", "create", "{name}", "-p", "127.0.0.1:{busy}"}, nil, "{busy}"},
		{"registry name with capitals", []string{"registry", "create", "Bad_Reg"}, nil, "Bad_Reg"},
		{"registry name taken", []string{"registry", "create", "{existing}-reg"}, nil, "k3d-{existing}-reg"},
		{"registry proxy credentials without a remote", []string{"registry", "create", "{name}", "--proxy-username", "u"}, nil, "--proxy-remote-url"},
		{"delete a missing registry", []string{"registry", "delete", "{name}"}, nil, "k3d-{name}"},
		{"delete a registry a cluster uses", []string{"registry", "delete", "{existing}-reg"}, nil, "{existing}"},
		// Host aliases.
		{"--host-alias without a name", create("--host-alias", "192.168.77.10"), nil, "--host-alias"},
		{"--host-alias with a bad address", create("--host-alias", "10.0.0.999:db.local"), nil, "10.0.0.999"},
		{"--host-alias with a bad name", create("--host-alias", "10.0.0.9:db_local"), nil, "db_local"},
		{"--k3s-node-label without a value", create("--k3s-node-label", "tier@agent:0"), nil, "--k3s-node-label"},
		{"node --k3s-node-label with a filter", []string{"create", "node", "{name}", "--cluster", "{existing}", "--k3s-node-label", "a=b@agent:0", "--image", "{image}"}, nil, "--k3s-node-label"},
		// cluster edit.
		{"edit a missing cluster", []string{"cluster", "edit", "{name}", "--port-add", "8080:80@loadbalancer"}, nil, "{name}"},
		{"edit without a change", []string{"cluster", "edit", "{existing}"}, nil, "nothing to change"},
		{"edit onto a busy port", []string{"cluster", "edit", "{existing}", "--port-add", "127.0.0.1:{busy}:80@loadbalancer"}, nil, "{busy}"},
		{"edit deleting a port not published", []string{"cluster", "edit", "{existing}", "--port-delete", "{free}"}, nil, "{free}"},
		{"edit a node that is not a load balancer", []string{"node", "edit", "k3d-{existing}-agent-0", "--port-add", "8080:80"}, nil, "load balancer"},
		// Runtimes.
		{"unknown runtime", []string{"--runtime", "nosuchruntime", "create", "cluster", "{name}", "--image", "{image}"}, nil, "nosuchruntime"},
		{"--no-image-volume with --image-vol", create("--no-image-volume", "--image-vol", "{name}-vol"), nil, "contradict"},
		// Runtime options.
		{"--runtime-ulimit of an unknown resource", create("--runtime-ulimit", "openfiles=1024:1024"), nil, "--runtime-ulimit"},
		{"--runtime-ulimit without a hard limit", create("--runtime-ulimit", "nofile=1024"), nil, "NAME=SOFT:HARD"},
		{"--runtime-ulimit soft above hard", create("--runtime-ulimit", "nofile=2048:1024"), nil, "above the hard limit"},
		{"--gpus that is not a count", create("--gpus", "some"), nil, "--gpus"},
		// This host has no GPU runtime: the runtime's refusal says what to install.
		{"--gpus on a host without GPUs", create("--gpus", "all"), nil, "NVIDIA Container Toolkit"},
		{"node --runtime-ulimit of an unknown resource", []string{"create", "node", "{name}", "--cluster", "{existing}", "--runtime-ulimit", "files=1:1", "--image", "{image}"}, nil, "--runtime-ulimit"},
		// Nodes.
		{"node into a missing cluster", []string{"create", "node", "{name}", "--cluster", "{name}", "--image", "{image}"}, nil, "{name}"},
		{"node with an unknown role", []string{"create", "node", "{name}", "--cluster", "{existing}", "--role", "boss", "--image", "{image}"}, nil, "boss"},
		{"node with the load balancer's role", []string{"create", "node", "{name}", "--cluster", "{existing}", "--role", "loadbalancer", "--image", "{image}"}, nil, "loadbalancer"},
		{"node with zero replicas", []string{"create", "node", "{name}", "--cluster", "{existing}", "--replicas", "0", "--image", "{image}"}, nil, "replicas"},
		{"node with an unparsable memory limit", []string{"create", "node", "{name}", "--cluster", "{existing}", "--memory", "lots", "--image", "{image}"}, nil, "--memory"},
		// Joining a cluster elsewhere by URL.
		{"node joining by URL without a token", []string{"create", "node", "{name}", "--cluster", "https://127.0.0.1:{free}", "--image", "{image}"}, nil, "--token"},
		{"node joining a URL that is not https", []string{"create", "node", "{name}", "--cluster", "http://127.0.0.1:{free}", "--token", "t", "--image", "{image}"}, nil, "https://HOST:6443"},
		{"server joining by URL", []string{"create", "node", "{name}", "--cluster", "https://127.0.0.1:{free}", "--token", "t", "--role", "server", "--image", "{image}"}, nil, "--role server"},
		{"node --token for a local cluster", []string{"create", "node", "{name}", "--cluster", "{existing}", "--token", "t", "--image", "{image}"}, nil, "--token"},
		{"delete a missing node", []string{"delete", "node", "k3d-{name}-agent-0"}, nil, "k3d-{name}-agent-0"},
		{"kubeconfig of a missing cluster", []string{"get", "kubeconfig", "{name}"}, nil, "{name}"},
		{"start a missing cluster", []string{"start", "cluster", "{name}"}, nil, "{name}"},
		// Config files (testdata/config; ${K3D_E2E_NAME} and ${K3D_E2E_IMAGE} are expanded).
		{"config with an unknown field", []string{"create", "cluster", "--config", "{testdata}/unknown-field.yaml"}, cfgEnv, "unknown-field.yaml:6: agnets: unknown field"},
		{"config that is a Namespace", []string{"create", "cluster", "{name}", "--config", "{testdata}/namespace.yaml"}, cfgEnv, "is not a k3d config"},
		{"config of an older apiVersion", []string{"create", "cluster", "--config", "{testdata}/v1alpha4.yaml"}, cfgEnv, "k3d config migrate"},
		{"config asking for what is not built yet", []string{"create", "cluster", "--config", "{testdata}/unsupported.yaml"}, cfgEnv, "options.k3d.nodeHookActions: not supported yet"},
		{"config using a missing registry", []string{"create", "cluster", "--config", "{testdata}/registries.yaml"}, cfgEnv, "k3d-e2e-nosuchregistry does not exist"},
		{"config filter past the last agent", []string{"create", "cluster", "--config", "{testdata}/filter-past-agents.yaml"}, cfgEnv, "agent:3"},
		{"config that is a directory", []string{"create", "cluster", "{name}", "--config", "{testdata}"}, nil, "is a directory"},
		{"config that does not exist", []string{"create", "cluster", "{name}", "--config", "{testdata}/nosuch.yaml"}, nil, "no such file"},
	}
	if env, ok := deadEndpoint[runtime]; ok {
		cases = append(cases, badInput{"unreachable runtime", create(), []string{env}, "/nonexistent/"})
	}
	if runtime == "containerd" {
		// containerd answers but its network plugins are missing: a half-set-up
		// host must get the fix, not libcni's "failed to find plugin".
		cases = append(cases, badInput{"containerd without CNI plugins", create(), []string{"K3D_CNI_PATH=/nonexistent/cni"},
			"containerd: CNI plugins not found in /nonexistent/cni (install containernetworking-plugins, or set K3D_CNI_PATH)"})
		// A data root k3d cannot write to (here: below a file) must be named
		// with the fix before anything is created.
		cases = append(cases, badInput{"containerd with an unwritable data root", create(), []string{"K3D_CONTAINERD_ROOT=/dev/null/k3d"},
			"containerd: data root /dev/null/k3d is not writable (not a directory) (run k3d as root, or set K3D_CONTAINERD_ROOT to a writable directory)"})
	}
	return cases
}

// Every bad input fails with a non-zero exit and one line saying what is
// wrong, and leaves the runtime's k3d objects and the kubeconfig as they were.
// Not parallel: it compares the runtime before and after each command.
func TestBadInput(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, r *runtimeEnv) {
		s := newSession(t, r)
		existing := clusterName("exists")
		s.createCluster(existing, "--agents", "1", "--registry-create", existing+"-reg")
		kubeconfig, err := os.ReadFile(s.kubeconfig)
		if err != nil {
			t.Fatalf("read the kubeconfig k3d wrote: %v", err)
		}

		cases := badInputs(r.backend)
		if len(cases) < 30 {
			t.Fatalf("only %d bad inputs: the table must have at least 30", len(cases))
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				busy := listenBusy(t)
				name := clusterName("bad")
				fill := strings.NewReplacer("{name}", name, "{image}", r.image, "{existing}", existing, "{busy}", busy, "{free}", freePort(t), "{testdata}", configTestdata(t)).Replace
				var args, env []string
				for _, a := range c.args {
					args = append(args, fill(a))
				}
				for _, e := range c.env {
					env = append(env, fill(e))
				}

				// Each case starts from the same kubeconfig file, in a
				// directory of its own so that stray lock files show up.
				cs := s.with(t)
				cs.kubeconfig = filepath.Join(t.TempDir(), "config")
				if err := os.WriteFile(cs.kubeconfig, kubeconfig, 0o600); err != nil {
					t.Fatal(err)
				}
				cs.deleteOnCleanup(name)
				before := snapshot(t, r)
				res := cs.runEnv(env, args...)
				after := snapshot(t, r)

				if res.code == 0 {
					t.Errorf("want a non-zero exit from: %s", res)
				}
				errLine, ok := oneErrorLine(res.stderr)
				if !ok {
					t.Errorf("want one error line on stderr (besides progress lines), got:\n%s", res.stderr)
				}
				if !strings.HasPrefix(errLine, "k3d: ") {
					t.Errorf("the error line does not start with \"k3d: \": %q", errLine)
				}
				if want := fill(c.want); !strings.Contains(strings.ToLower(errLine), strings.ToLower(want)) {
					t.Errorf("the error does not mention %q:\n%s", want, res.stderr)
				}
				if diff := before.diff(after); diff != "" {
					t.Errorf("k3d %s changed the runtime:\n%s", strings.Join(args, " "), diff)
				}
				checkKubeconfigUnchanged(t, cs.kubeconfig, kubeconfig)
			})
		}
	})
}

// configTestdata is the absolute path of the config files the tests use.
func configTestdata(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("testdata", "config"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// listenBusy holds a 127.0.0.1 port open until the test ends and returns it.
func listenBusy(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func checkKubeconfigUnchanged(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("kubeconfig %s: %v", path, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the kubeconfig changed:\n%s", got)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != filepath.Base(path) {
			t.Errorf("left %s next to the kubeconfig", e.Name())
		}
	}
}

// oneErrorLine finds the error in k3d's stderr: exactly one line that is not
// a progress log line ("INF ..."), which a non-terminal stderr gets for the
// steps k3d took before it found the problem.
func oneErrorLine(stderr string) (string, bool) {
	var errs []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "INF ") {
			continue
		}
		errs = append(errs, l)
	}
	if len(errs) != 1 {
		return strings.Join(errs, "\n"), false
	}
	return errs[0], true
}

// runtimeState is what the runtime holds of this process's k3d objects, one
// line per object with everything a command could change about it.
type runtimeState map[string]string

// snapshot lists, through the contract, the k3d-labelled nodes, networks and
// volumes that this process made. Objects of other processes (other test
// packages share the runtime) are left out: they change on their own.
func snapshot(t *testing.T, r *runtimeEnv) runtimeState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sel := map[string]string{"app": "k3d"}
	st := runtimeState{}
	nodes, err := r.rt.ListNodes(ctx, sel)
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	for _, n := range nodes {
		if ours(n.Name) || ours(n.Labels["k3d.cluster"]) {
			st["node "+n.Name] = n.ID + " " + string(n.State.Status) + " started " + n.State.StartedAt.String() + " " + labelString(n.Labels)
		}
	}
	nets, err := r.rt.ListNetworks(ctx, sel)
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	for _, n := range nets {
		if ours(n.Name) || ours(n.Labels["k3d.cluster"]) {
			st["network "+n.Name] = n.ID + " " + n.Subnet + " " + labelString(n.Labels)
		}
	}
	vols, err := r.rt.ListVolumes(ctx, sel)
	if err != nil {
		t.Fatalf("list volumes: %v", err)
	}
	for _, v := range vols {
		if ours(v.Name) || ours(v.Labels["k3d.cluster"]) {
			st["volume "+v.Name] = labelString(v.Labels)
		}
	}
	return st
}

func (before runtimeState) diff(after runtimeState) string {
	var b strings.Builder
	for _, k := range keys(before) {
		if a, ok := after[k]; !ok {
			b.WriteString("  removed " + k + "\n")
		} else if a != before[k] {
			b.WriteString("  changed " + k + ": " + before[k] + " -> " + a + "\n")
		}
	}
	for _, k := range keys(after) {
		if _, ok := before[k]; !ok {
			b.WriteString("  added " + k + "\n")
		}
	}
	return b.String()
}

func labelString(labels map[string]string) string {
	var parts []string
	for _, k := range keys(labels) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}
