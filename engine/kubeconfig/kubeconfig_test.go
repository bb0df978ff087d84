package kubeconfig

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// k3sOutput is the shape of what a k3s server writes to K3S_KUBECONFIG_OUTPUT.
const k3sOutput = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkakNDQVIyZ0F3SUJBZ0lCQURBS0JnZ3Foa2pPUFFRREFqQWpNU0V3SHdZRFZRUUREQmhyTTNNdGMyVnkKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJrVENDQVRlZ0F3SUJBZ0lJLi4uCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K
    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSU9mYWtla2V5Li4uCi0tLS0tRU5EIEVDIFBSSVZBVEUgS0VZLS0tLS0K
`

func TestFromK3s(t *testing.T) {
	cfg, err := FromK3s([]byte(k3sOutput), "dev", "https://127.0.0.1:34567")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "k3d-dev" {
		t.Errorf("current-context %q, want k3d-dev", cfg.CurrentContext)
	}
	if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || len(cfg.Contexts) != 1 {
		t.Fatalf("want exactly one cluster, user, context; got %d, %d, %d", len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
	}
	cl := cfg.Clusters["k3d-dev"]
	if cl == nil || cl.Server != "https://127.0.0.1:34567" {
		t.Fatalf("cluster k3d-dev = %+v, want server https://127.0.0.1:34567", cl)
	}
	if !strings.HasPrefix(string(cl.CertificateAuthorityData), "-----BEGIN CERTIFICATE-----") {
		t.Errorf("CA data not carried over: %q", cl.CertificateAuthorityData)
	}
	u := cfg.AuthInfos["admin@k3d-dev"]
	if u == nil || !strings.HasPrefix(string(u.ClientKeyData), "-----BEGIN EC PRIVATE KEY-----") || len(u.ClientCertificateData) == 0 {
		t.Fatalf("user admin@k3d-dev = %+v, want k3s's client certificate and key", u)
	}
	c := cfg.Contexts["k3d-dev"]
	if c == nil || c.Cluster != "k3d-dev" || c.AuthInfo != "admin@k3d-dev" {
		t.Fatalf("context k3d-dev = %+v, want cluster k3d-dev and user admin@k3d-dev", c)
	}

	// What Encode writes is a kubeconfig kubectl reads back the same.
	data, err := Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.CurrentContext != "k3d-dev" || back.Clusters["k3d-dev"].Server != "https://127.0.0.1:34567" || back.Contexts["k3d-dev"].AuthInfo != "admin@k3d-dev" {
		t.Errorf("Encode/Load round trip lost data:\n%s", data)
	}
	if strings.Contains(string(data), "default") {
		t.Errorf("encoded kubeconfig still mentions k3s's default names:\n%s", data)
	}
}

func TestFromK3sServerURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://127.0.0.1:34567", "https://127.0.0.1:34567"},
		{"127.0.0.1:6550", "https://127.0.0.1:6550"},
		{"https://0.0.0.0:6443", "https://127.0.0.1:6443"},
		{"0.0.0.0:6443", "https://127.0.0.1:6443"},
		{"https://[::]:6443", "https://[::1]:6443"},
		{"[::1]:6443", "https://[::1]:6443"},
		{"https://k3d.example.com:6443/", "https://k3d.example.com:6443"},
		{"https://192.168.1.10", "https://192.168.1.10"},
		{"https://0.0.0.0", "https://127.0.0.1"},
	}
	for _, tt := range tests {
		cfg, err := FromK3s([]byte(k3sOutput), "dev", tt.in)
		if err != nil {
			t.Errorf("FromK3s(server %q): %v", tt.in, err)
			continue
		}
		if got := cfg.Clusters["k3d-dev"].Server; got != tt.want {
			t.Errorf("FromK3s(server %q) wrote server %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFromK3sErrors(t *testing.T) {
	tests := []struct{ raw, name, server, want string }{
		{k3sOutput, "dev", "http://127.0.0.1:6443", `kubeconfig for cluster dev: API server address "http://127.0.0.1:6443" uses http: the k3s API speaks only https`},
		{k3sOutput, "dev", "", `kubeconfig for cluster dev: API server address "" is not a URL or host:port: write e.g. https://127.0.0.1:6443`},
		{k3sOutput, "dev", "https://:6443", `kubeconfig for cluster dev: API server address "https://:6443" has no host: write e.g. https://127.0.0.1:6443`},
		{k3sOutput, "", "127.0.0.1:6443", `kubeconfig from k3s: empty cluster name`},
		{"not: [yaml", "dev", "127.0.0.1:6443", `kubeconfig for cluster dev: read what k3s wrote: `},
		{"apiVersion: v1\nkind: Config\n", "dev", "127.0.0.1:6443", `kubeconfig for cluster dev: k3s's kubeconfig has 0 contexts and no usable current-context, so k3d cannot tell which is the cluster's`},
		{strings.Replace(k3sOutput, "    cluster: default\n", "    cluster: gone\n", 1), "dev", "127.0.0.1:6443", `kubeconfig for cluster dev: k3s's context names cluster "gone", which it does not define`},
		{strings.Replace(k3sOutput, "    user: default\n", "    user: gone\n", 1), "dev", "127.0.0.1:6443", `kubeconfig for cluster dev: k3s's context names user "gone", which it does not define`},
	}
	for _, tt := range tests {
		_, err := FromK3s([]byte(tt.raw), tt.name, tt.server)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("FromK3s(%q, %q): %v\nwant %s", tt.name, tt.server, err, tt.want)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	env := func(kc string) func(string) string {
		return func(k string) string {
			if k == "KUBECONFIG" {
				return kc
			}
			return ""
		}
	}
	tests := []struct{ kubeconfig, want string }{
		{"", "/home/me/.kube/config"},
		{"/tmp/a", "/tmp/a"},
		{"/tmp/a:/tmp/b", "/tmp/a"},
		{":/tmp/b", "/tmp/b"},
	}
	for _, tt := range tests {
		if got := DefaultPath(env(tt.kubeconfig), "/home/me"); got != tt.want {
			t.Errorf("DefaultPath(KUBECONFIG=%q) = %q, want %q", tt.kubeconfig, got, tt.want)
		}
	}
}
