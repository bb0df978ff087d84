package k3s

import (
	"slices"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	env := map[string]string{"K3S_TOKEN": "from-env", "K3S_URL": "https://env:6443", "K3S_KUBECONFIG_OUTPUT": "/output/kubeconfig.yaml"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name    string
		server  bool
		args    []string
		check   func(*config) bool
		wantErr string
	}{
		{name: "env fills what flags leave", server: true, args: nil,
			check: func(c *config) bool {
				return c.token == "from-env" && c.serverURL == "https://env:6443" && c.writeKubeconfig == "/output/kubeconfig.yaml" &&
					c.httpsPort == 6443 && c.dataDir == DefaultDataDir
			}},
		{name: "flags win over env", server: true, args: []string{"--token=flag", "-s", "https://flag:6443", "-o", "/k.yaml"},
			check: func(c *config) bool {
				return c.token == "flag" && c.serverURL == "https://flag:6443" && c.writeKubeconfig == "/k.yaml"
			}},
		{name: "tls-san and disable split on commas and repeat", server: true,
			args: []string{"--tls-san", "a,b", "--tls-san=c", "--disable", "traefik", "--disable=servicelb,metrics-server"},
			check: func(c *config) bool {
				return slices.Equal(c.tlsSANs, []string{"a", "b", "c"}) && slices.Equal(c.disable, []string{"traefik", "servicelb", "metrics-server"})
			}},
		{name: "kubelet args keep their commas", server: false,
			args: []string{"--kubelet-arg=eviction-hard=imagefs.available<1%,nodefs.available<1%", "--kubelet-arg", "fail-cgroupv1=false"},
			check: func(c *config) bool {
				return slices.Equal(c.kubeletArgs, []string{"eviction-hard=imagefs.available<1%,nodefs.available<1%", "fail-cgroupv1=false"})
			}},
		{name: "bool flags", server: true, args: []string{"--cluster-init", "--disable-network-policy", "--https-listen-port", "7443"},
			check: func(c *config) bool { return c.clusterInit && c.disableNetPolicy && c.httpsPort == 7443 }},
		{name: "unknown flags are accepted and reported", server: true,
			args: []string{"--kube-proxy-arg=foo", "--egress-selector-mode", "disabled", "--disable-cloud-controller", "--debug", "--node-name", "n"},
			check: func(c *config) bool {
				return slices.Equal(c.ignored, []string{"--kube-proxy-arg=foo", "--egress-selector-mode disabled", "--disable-cloud-controller", "--debug"}) &&
					c.nodeName == "n"
			}},
		{name: "positional junk", server: true, args: []string{"--cluster-init", "junk"}, wantErr: `unexpected argument "junk"`},
		{name: "missing value", server: true, args: []string{"--token"}, wantErr: "flag needs an argument"},
		{name: "bad port", server: true, args: []string{"--https-listen-port=x"}, wantErr: "invalid value"},
		{name: "server flags are not agent flags", server: false, args: []string{"--cluster-init"},
			check: func(c *config) bool { return slices.Equal(c.ignored, []string{"--cluster-init"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.server, tt.args, getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config = %+v", *c)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	server := token{password: "secret"}
	hash := strings.Repeat("a", 64)
	for _, tt := range []struct {
		presented string
		want      bool
	}{
		{"secret", true},
		{"K10" + hash + "::server:secret", true},
		{"K10" + hash + "::node:secret", true},
		{"K10" + strings.Repeat("b", 64) + "::server:secret", false}, // pins another CA
		{"wrong", false},
		{"", false},
	} {
		if got := server.matches(parseToken(tt.presented), hash); got != tt.want {
			t.Errorf("token %q matches = %v, want %v", tt.presented, got, tt.want)
		}
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"foo":                                   "docker.io/library/foo:latest",
		"foo:bar":                               "docker.io/library/foo:bar",
		"team/app:v1":                           "docker.io/team/app:v1",
		"localhost:5000/app":                    "localhost:5000/app:latest",
		"registry.local/x/y:z":                  "registry.local/x/y:z",
		"k3d-test/k3s-double:abc":               "docker.io/k3d-test/k3s-double:abc",
		"foo@sha256:" + strings.Repeat("0", 64): "docker.io/library/foo@sha256:" + strings.Repeat("0", 64),
	} {
		if got := normalizeRef(in); got != want {
			t.Errorf("normalizeRef(%q) = %q, want %q", in, got, want)
		}
	}
}
