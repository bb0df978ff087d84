package engine

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// TestBadInputCreatesNothing feeds create cluster malformed or contradicting
// input: each must fail with a one-line error saying what is wrong, before
// the runtime is changed in any way.
func TestBadInputCreatesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)

	base := func() CreateClusterOptions {
		return CreateClusterOptions{Name: "dev", Servers: 1, Agents: 2, Image: testImage}
	}
	with := func(f func(o *CreateClusterOptions)) CreateClusterOptions {
		o := base()
		f(&o)
		return o
	}
	cases := []struct {
		name string
		opts CreateClusterOptions
		want string // in the error
	}{
		{"uppercase name", with(func(o *CreateClusterOptions) { o.Name = "Dev" }), "DNS-1123"},
		{"underscore name", with(func(o *CreateClusterOptions) { o.Name = "my_dev" }), "DNS-1123"},
		{"long name", with(func(o *CreateClusterOptions) { o.Name = strings.Repeat("x", 33) }), "at most 32"},
		{"no servers", with(func(o *CreateClusterOptions) { o.Servers = 0 }), "at least 1 server"},
		{"negative agents", with(func(o *CreateClusterOptions) { o.Agents = -1 }), "--agents"},
		{"port not a number", with(func(o *CreateClusterOptions) { o.Ports = []string{"abc"} }), "not a number"},
		{"port out of range", with(func(o *CreateClusterOptions) { o.Ports = []string{"70000:80"} }), "out of range"},
		{"port protocol", with(func(o *CreateClusterOptions) { o.Ports = []string{"8080:80/sctp"} }), "sctp"},
		{"unknown filter group", with(func(o *CreateClusterOptions) { o.Ports = []string{"8080:80@nowhere"} }), "nowhere"},
		{"empty filter", with(func(o *CreateClusterOptions) { o.Ports = []string{"8080:80@"} }), "names no node"},
		{"index past last agent", with(func(o *CreateClusterOptions) { o.Ports = []string{"8080:80@agent:5"} }), "index 5"},
		{"filter on missing group", with(func(o *CreateClusterOptions) { o.Agents = 0; o.Ports = []string{"8080:80@agent:0"} }), "no agent"},
		{"load balancer port without one", with(func(o *CreateClusterOptions) { o.NoLoadBalancer = true; o.Ports = []string{"8080:80@loadbalancer"} }), "no load balancer"},
		{"fixed port on two nodes", with(func(o *CreateClusterOptions) { o.Ports = []string{"18080:80@agent:*:direct"} }), "one node only"},
		{"host port twice", with(func(o *CreateClusterOptions) { o.Ports = []string{"18081:80@loadbalancer", "18081:81@loadbalancer"} }), "also asked for"},
		{"host port busy", with(func(o *CreateClusterOptions) { o.Ports = []string{"127.0.0.1:" + busyPort + ":80@loadbalancer"} }), "not available"},
		{"missing host path", with(func(o *CreateClusterOptions) { o.Volumes = []string{"/does/not/exist/k3d:/data"} }), "does not exist"},
		{"empty volume", with(func(o *CreateClusterOptions) { o.Volumes = []string{"@server:0"} }), "volume"},
		{"bad volume mode", with(func(o *CreateClusterOptions) { o.Volumes = []string{"/tmp:/data:xx"} }), "xx"},
		{"volume on load balancer", with(func(o *CreateClusterOptions) { o.Volumes = []string{"/tmp:/data@loadbalancer"} }), "load balancer"},
		{"env without key", with(func(o *CreateClusterOptions) { o.Env = []string{"=x"} }), "empty variable name"},
		{"env unset", with(func(o *CreateClusterOptions) { o.Env = []string{"K3D_TEST_SURELY_UNSET"} }), "no value"},
		{"reserved label app", with(func(o *CreateClusterOptions) { o.Labels = []string{"app=x"} }), "k3d's own"},
		{"reserved label k3d.*", with(func(o *CreateClusterOptions) { o.Labels = []string{"k3d.cluster=other"} }), "k3d's own"},
		{"k3s arg needs a filter", with(func(o *CreateClusterOptions) { o.K3sArgs = []string{"--disable=traefik"} }), "say which"},
		{"k3s arg on load balancer", with(func(o *CreateClusterOptions) { o.K3sArgs = []string{"--x@loadbalancer"} }), "does not run k3s"},
		{"empty k3s arg", with(func(o *CreateClusterOptions) { o.K3sArgs = []string{"@server:0"} }), "no argument"},
		{"api port word", with(func(o *CreateClusterOptions) { o.APIPort = "abc" }), "--api-port"},
		{"api port range", with(func(o *CreateClusterOptions) { o.APIPort = "127.0.0.1:99999" }), "--api-port"},
		{"api port busy", with(func(o *CreateClusterOptions) { o.APIPort = "127.0.0.1:" + busyPort }), "not available"},
		{"image on no reachable registry", with(func(o *CreateClusterOptions) { o.Image = "nope:1" }), "nope:1 is not in fake and its registry could not be reached"},
		{"bad subnet", with(func(o *CreateClusterOptions) { o.Subnet = "300.1.1.0/24" }), "--subnet"},
		{"subnet on existing network", with(func(o *CreateClusterOptions) { o.Network = "existing"; o.Subnet = "10.99.0.0/16" }), "exists already"},
		{"missing image volume", with(func(o *CreateClusterOptions) { o.ImageVolume = "nope" }), "does not exist"},
		{"datastore file without endpoint", with(func(o *CreateClusterOptions) { o.Datastore.CAFile = "/etc/hostname" }), "--datastore-endpoint"},
		{"datastore file missing", with(func(o *CreateClusterOptions) {
			o.Datastore = Datastore{Endpoint: "postgres://db", CAFile: "/does/not/exist.pem"}
		}), "not a readable file"},
		{"missing datastore network", with(func(o *CreateClusterOptions) { o.Datastore = Datastore{Endpoint: "postgres://db", Network: "nope"} }), "does not exist"},
		{"memory word", with(func(o *CreateClusterOptions) { o.ServersMemory = "lots" }), "memory size"},
		{"memory tiny", with(func(o *CreateClusterOptions) { o.AgentsMemory = "1k" }), "6 MiB"},
		{"negative timeout", with(func(o *CreateClusterOptions) { o.Timeout = -1 }), "--timeout"},
		{"host network", with(func(o *CreateClusterOptions) { o.Network = "host" }), "not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			ctx := ctxT(t)
			if _, err := te.rt.CreateNetwork(ctx, backends.NetworkSpec{Name: "existing"}); err != nil {
				t.Fatal(err)
			}
			before := te.rt.Snapshot()
			_, err := te.e.CreateCluster(ctx, tc.opts)
			if err == nil {
				t.Fatal("create succeeded")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if after := te.rt.Snapshot(); after != before {
				t.Errorf("runtime changed:\nbefore %s\nafter  %s", before, after)
			}
			for _, m := range []string{"CreateNode", "CreateNetwork", "CreateVolume"} {
				want := 0
				if m == "CreateNetwork" {
					want = 1 // the test's own "existing"
				}
				if n := te.rt.Calls(m); n != want {
					t.Errorf("%s called %d times", m, n-want)
				}
			}
		})
	}
}

func TestUnreachableRuntimeCreatesNothing(t *testing.T) {
	te := newTestEnv(t)
	te.rt.Fail("Info", "", &backends.UnreachableError{Runtime: "fake", Endpoint: "unix:///nope.sock", Hint: "start it"})
	_, err := te.e.CreateCluster(context.Background(), CreateClusterOptions{Name: "dev", Servers: 1, Image: testImage})
	if !backends.IsUnreachable(err) || !strings.Contains(err.Error(), "start it") {
		t.Fatalf("err = %v, want unreachable with the hint", err)
	}
	if te.rt.Calls("CreateNode")+te.rt.Calls("CreateNetwork") != 0 {
		t.Error("objects were created")
	}
}
