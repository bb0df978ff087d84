package k3s

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func getIngress(addr string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestNodesAnswerHTTPLikeTraefik(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	n := startNode(t, []string{"server", "--data-dir", filepath.Join(dir, "data"), "--https-listen-port=0", "--bind-address=127.0.0.1", "--node-ip=127.0.0.1", "--token", "s"},
		nodeOpts{hostname: "k3d-web-server-0", ingress: addr, env: map[string]string{"K3S_KUBECONFIG_OUTPUT": filepath.Join(dir, "kc.yaml")}})
	n.waitLog("Successfully registered node")
	var body string
	eventually(t, "ingress answers", func() bool {
		b, err := getIngress(addr)
		body = b
		return err == nil
	})
	if !strings.Contains(body, "k3d-web-server-0") {
		t.Errorf("ingress answer %q does not name the node", body)
	}
}

func TestNoIngressWhenTraefikDisabled(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	n := startNode(t, []string{"server", "--data-dir", filepath.Join(dir, "data"), "--https-listen-port=0", "--bind-address=127.0.0.1", "--node-ip=127.0.0.1", "--token", "s", "--disable", "traefik"},
		nodeOpts{hostname: "k3d-web-server-0", ingress: addr, env: map[string]string{"K3S_KUBECONFIG_OUTPUT": filepath.Join(dir, "kc.yaml")}})
	n.waitLog("Successfully registered node")
	if _, err := getIngress(addr); err == nil {
		t.Error("a node with --disable traefik answers HTTP on the ingress port")
	}
}
