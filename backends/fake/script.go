package fake

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/k3d/k3d/backends"
)

// Handle is what a started node's script acts through. Actions of a handle
// whose run has ended (the node was stopped or restarted) are ignored.
type Handle struct {
	r         *Runtime
	name      string
	gen       int
	listeners []net.Listener
	// Ctx ends when the node's run ends.
	Ctx context.Context
	// Spec is the node as created.
	Spec backends.NodeSpec
}

// Name is the node's name.
func (h *Handle) Name() string { return h.name }

// Env returns the value of one of the node's environment variables.
func (h *Handle) Env(key string) string {
	for _, kv := range h.Spec.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// current runs fn with the node locked if this handle's run is still on.
func (h *Handle) current(fn func(nd *node)) {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	nd, ok := h.r.nodes[h.name]
	if !ok || nd.startGen != h.gen || !nd.state.Running {
		return
	}
	fn(nd)
}

// Log appends output lines to the node's log.
func (h *Handle) Log(lines ...string) {
	h.current(func(nd *node) {
		for _, l := range lines {
			for _, s := range splitLines(l) {
				nd.logs = append(nd.logs, logLine{at: time.Now(), text: s})
			}
		}
		nd.notify()
	})
}

// Exit ends the node's run with code, as if its main process had exited.
func (h *Handle) Exit(code int) {
	h.current(func(nd *node) { h.r.halt(nd, code) })
}

// WriteFile puts a file into the node's filesystem.
func (h *Handle) WriteFile(p string, data []byte) {
	h.current(func(nd *node) { nd.files[path.Clean(p)] = append([]byte(nil), data...) })
}

// ServeAPI answers HTTPS on every published 6443 port of the node the way the
// k3s API does for k3d: /readyz, /version and ConfigMaps, with the runtime's
// test CA.
func (h *Handle) ServeAPI() {
	h.r.mu.Lock()
	ca := h.r.authority()
	nd := h.r.nodes[h.name]
	var apiListeners []net.Listener
	if nd != nil && nd.startGen == h.gen {
		for i, p := range nd.ports {
			if p.ContainerPort == 6443 && p.Protocol == "tcp" && i < len(h.listeners) {
				apiListeners = append(apiListeners, h.listeners[i])
			}
		}
	}
	h.r.mu.Unlock()
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"gitVersion": "v1.36.0+fake"})
	})
	h.r.configMaps().serve(mux)
	for _, l := range apiListeners {
		srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.server}}, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.ServeTLS(l, "", "") }()
		go func() { <-h.Ctx.Done(); _ = srv.Close() }()
	}
}

// Kubeconfig is the kubeconfig a fake k3s server writes: admin credentials
// signed by the runtime's test CA, server https://127.0.0.1:6443.
func (r *Runtime) Kubeconfig() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.authority().kubeconfig
}

// DefaultOnStart is how a node behaves unless OnStart says otherwise: a k3s
// server writes its kubeconfig to K3S_KUBECONFIG_OUTPUT, serves the API on
// published 6443 ports and prints "k3s is up and running"; an agent prints
// "Successfully registered node"; a load balancer serves the API port.
func DefaultOnStart(h *Handle) {
	var first string
	if len(h.Spec.Cmd) > 0 {
		first = h.Spec.Cmd[0]
	}
	switch first {
	case "server":
		if out := h.Env("K3S_KUBECONFIG_OUTPUT"); out != "" {
			h.WriteFile(out, h.r.Kubeconfig())
		}
		h.ServeAPI()
		h.Log(`level=info msg="Starting k3s"`, `level=info msg="k3s is up and running"`)
	case "agent":
		h.Log(`level=info msg="Starting k3s agent"`, `level=info msg="Successfully registered node `+h.Spec.Name+`"`)
	case "lb-proxy":
		h.ServeAPI()
		h.Log("lb-proxy: serving")
	}
}

func repoTags(manifest []byte) []string {
	var entries []struct{ RepoTags []string }
	if err := json.Unmarshal(manifest, &entries); err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.RepoTags...)
	}
	return out
}
