package fake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/k3d/k3d/backends"
)

// configMaps is the ConfigMap part of the Kubernetes API the fake's k3s
// servers answer, one store per runtime (every server of every cluster
// shares it, as tests use one cluster at a time). It starts with k3s's
// kube-system/coredns, so that k3d's CoreDNS edits have something to edit.
type configMaps struct {
	mu    sync.Mutex
	items map[string]map[string]any // "ns/name" -> object
	rv    int
}

func newConfigMaps() *configMaps {
	c := &configMaps{items: map[string]map[string]any{}}
	c.items["kube-system/coredns"] = map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "coredns", "namespace": "kube-system", "resourceVersion": "1"},
		"data":     map[string]any{"Corefile": ".:53 {\n    hosts /etc/coredns/NodeHosts\n}\n", "NodeHosts": ""},
	}
	c.rv = 1
	return c
}

// CoreDNSNodeHosts is what k3d left in CoreDNS's NodeHosts.
func (r *Runtime) CoreDNSNodeHosts() string {
	cm := r.configMaps()
	cm.mu.Lock()
	defer cm.mu.Unlock()
	data, _ := cm.items["kube-system/coredns"]["data"].(map[string]any)
	s, _ := data["NodeHosts"].(string)
	return s
}

func (r *Runtime) configMaps() *configMaps {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cms == nil {
		r.cms = newConfigMaps()
	}
	return r.cms
}

func (c *configMaps) serve(mux *http.ServeMux) {
	status := func(w http.ResponseWriter, code int, reason, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": msg, "code": code})
	}
	write := func(w http.ResponseWriter, code int, obj map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(obj)
	}
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/configmaps/{name}", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		obj, ok := c.items[r.PathValue("ns")+"/"+r.PathValue("name")]
		c.mu.Unlock()
		if !ok {
			status(w, http.StatusNotFound, "NotFound", fmt.Sprintf("configmaps %q not found", r.PathValue("name")))
			return
		}
		write(w, http.StatusOK, obj)
	})
	store := func(w http.ResponseWriter, r *http.Request, create bool) {
		var obj map[string]any
		if err := json.NewDecoder(r.Body).Decode(&obj); err != nil {
			status(w, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
		meta, _ := obj["metadata"].(map[string]any)
		if meta == nil {
			meta = map[string]any{}
			obj["metadata"] = meta
		}
		name, _ := meta["name"].(string)
		key := r.PathValue("ns") + "/" + name
		c.mu.Lock()
		defer c.mu.Unlock()
		cur, exists := c.items[key]
		switch {
		case create && exists:
			status(w, http.StatusConflict, "AlreadyExists", fmt.Sprintf("configmaps %q already exists", name))
			return
		case !create && !exists:
			status(w, http.StatusNotFound, "NotFound", fmt.Sprintf("configmaps %q not found", name))
			return
		case !create:
			curRV := cur["metadata"].(map[string]any)["resourceVersion"]
			if rv, ok := meta["resourceVersion"]; ok && rv != "" && rv != curRV {
				status(w, http.StatusConflict, "Conflict", "the object has been modified; please apply your changes to the latest version and try again")
				return
			}
		}
		c.rv++
		meta["namespace"], meta["resourceVersion"] = r.PathValue("ns"), strconv.Itoa(c.rv)
		c.items[key] = obj
		code := http.StatusOK
		if create {
			code = http.StatusCreated
		}
		write(w, code, obj)
	}
	mux.HandleFunc("POST /api/v1/namespaces/{ns}/configmaps", func(w http.ResponseWriter, r *http.Request) { store(w, r, true) })
	mux.HandleFunc("PUT /api/v1/namespaces/{ns}/configmaps/{name}", func(w http.ResponseWriter, r *http.Request) { store(w, r, false) })
}

// ExtraHosts are the /etc/hosts entries node name was created with.
func (r *Runtime) ExtraHosts(name string) []backends.HostEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if nd := r.nodes[name]; nd != nil {
		return append([]backends.HostEntry(nil), nd.spec.ExtraHosts...)
	}
	return nil
}
