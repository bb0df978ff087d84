package k3s

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// apiServer answers on the server's HTTPS port, as k3s does there: the parts
// of the Kubernetes API that k3d and kubectl use, and k3s's supervisor
// endpoints (/cacerts, /v1-k3s/...) through which nodes join.
type apiServer struct {
	log         *logger
	now         func() time.Time
	ca          *authority
	serverToken token
	agentToken  token
	reg         *registry
	cms         *configMapStore
	peers       *peers
	disabled    map[string]bool
	// joinable: servers can join this one (it runs etcd or an external
	// datastore); a server on sqlite cannot be joined.
	joinable bool
}

func (s *apiServer) handler() http.Handler {
	mux := http.NewServeMux()
	// Supervisor: authenticated by the join token, as k3s's are.
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "pong") })
	mux.HandleFunc("GET /cacerts", s.withToken(true, s.cacerts))
	mux.HandleFunc("GET /v1-k3s/server-bootstrap", s.withToken(false, s.serverBootstrap))
	mux.HandleFunc("POST /v1-k3s/register", s.withToken(true, s.register))
	mux.HandleFunc("POST /v1-k3s/heartbeat", s.withToken(true, s.heartbeat))
	mux.HandleFunc("GET "+nodesSyncPath, s.withToken(false, s.syncGet))
	mux.HandleFunc("POST "+nodesSyncPath, s.withToken(false, s.syncPost))
	mux.HandleFunc("GET "+configMapsSyncPath, s.withToken(false, s.syncConfigMapsGet))
	mux.HandleFunc("POST "+configMapsSyncPath, s.withToken(false, s.syncConfigMapsPost))
	// Kubernetes API: client certificates from the cluster CA.
	kube := http.NewServeMux()
	for _, p := range []string{"/readyz", "/livez", "/healthz"} {
		kube.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	}
	kube.HandleFunc("GET /version", s.version)
	kube.HandleFunc("GET /api", s.apiVersions)
	kube.HandleFunc("GET /apis", s.apiGroups)
	kube.HandleFunc("GET /api/v1", s.apiResources)
	kube.HandleFunc("GET /api/v1/nodes", s.listNodes)
	kube.HandleFunc("GET /api/v1/nodes/{name}", s.getNode)
	kube.HandleFunc("DELETE /api/v1/nodes/{name}", s.deleteNode)
	kube.HandleFunc("GET /api/v1/pods", s.listPods)
	kube.HandleFunc("GET /api/v1/namespaces/{ns}/pods", s.listPods)
	kube.HandleFunc("GET /api/v1/namespaces", s.listNamespaces)
	kube.HandleFunc("GET /api/v1/configmaps", s.listConfigMaps)
	kube.HandleFunc("GET /api/v1/namespaces/{ns}/configmaps", s.listConfigMaps)
	kube.HandleFunc("POST /api/v1/namespaces/{ns}/configmaps", s.createConfigMap)
	kube.HandleFunc("GET /api/v1/namespaces/{ns}/configmaps/{name}", s.getConfigMap)
	kube.HandleFunc("PUT /api/v1/namespaces/{ns}/configmaps/{name}", s.replaceConfigMap)
	kube.HandleFunc("DELETE /api/v1/namespaces/{ns}/configmaps/{name}", s.deleteConfigMap)
	kube.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource", nil)
	})
	mux.Handle("/", s.withAdmin(kube))
	return mux
}

// presentedToken is the token in a request: a bearer token, or the password
// of basic auth (k3s nodes send node:<token> or server:<token>).
func presentedToken(r *http.Request) (token, bool) {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return parseToken(t), true
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return parseToken(pw), true
	}
	return token{}, false
}

func (s *apiServer) tokenOK(r *http.Request, agentsToo bool) bool {
	t, ok := presentedToken(r)
	if !ok {
		return false
	}
	if s.serverToken.matches(t, s.ca.hash()) {
		return true
	}
	return agentsToo && s.agentToken.matches(t, s.ca.hash())
}

func (s *apiServer) withToken(agentsToo bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.tokenOK(r, agentsToo) && !hasClientCert(r) {
			s.log.Errorf("Failed to authenticate request from %s: invalid username/password combination", r.RemoteAddr)
			writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", nil)
			return
		}
		h(w, r)
	}
}

// hasClientCert: the TLS layer verified the certificate against the cluster CA.
func hasClientCert(r *http.Request) bool {
	return r.TLS != nil && len(r.TLS.VerifiedChains) > 0
}

func (s *apiServer) withAdmin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasClientCert(r) && !s.tokenOK(r, false) {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", nil)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string, details map[string]string) {
	st := map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": code}
	if details != nil {
		st["details"] = details
	}
	writeJSON(w, code, st)
}

// --- supervisor ---

func (s *apiServer) cacerts(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(s.ca.certPEM)
}

// bootstrapData is what a joining server takes from the cluster: the CA that
// every server signs with, and the tokens.
type bootstrapData struct {
	CACert     []byte `json:"caCert"`
	CAKey      []byte `json:"caKey"`
	Token      string `json:"token"`
	AgentToken string `json:"agentToken"`
}

func (s *apiServer) serverBootstrap(w http.ResponseWriter, r *http.Request) {
	if !s.joinable {
		// What k3s answers, for want of etcd to join.
		s.log.Errorf("Refusing to bootstrap server from %s: this server does not run etcd (start the first server with --cluster-init)", r.RemoteAddr)
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", nil)
		return
	}
	writeJSON(w, http.StatusOK, bootstrapData{CACert: s.ca.certPEM, CAKey: s.ca.keyPEM,
		Token: s.serverToken.password, AgentToken: s.agentToken.password})
}

type registerResponse struct {
	CACert []byte       `json:"caCert"`
	Nodes  []NodeRecord `json:"nodes"`
}

func (s *apiServer) register(w http.ResponseWriter, r *http.Request) {
	var rec NodeRecord
	if err := json.NewDecoder(r.Body).Decode(&rec); err != nil || rec.Name == "" {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid node registration", nil)
		return
	}
	// Only the server token makes a server: an agent token cannot add a
	// control-plane node.
	if rec.Server && !s.tokenOK(r, false) {
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", nil)
		return
	}
	rec, err := s.reg.register(rec, s.now())
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, "InternalError", err.Error(), nil)
		return
	}
	// Tell the other servers before answering: once a node says it is
	// registered, every server lists it.
	s.peers.push(r.Context(), []NodeRecord{rec}, rec.Name)
	writeJSON(w, http.StatusOK, registerResponse{CACert: s.ca.certPEM, Nodes: s.reg.all()})
}

func (s *apiServer) heartbeat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid heartbeat", nil)
		return
	}
	ok, err := s.reg.heartbeat(req.Name, s.now())
	switch {
	case err != nil:
		writeStatus(w, http.StatusInternalServerError, "InternalError", err.Error(), nil)
	case !ok:
		writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("nodes %q not found", req.Name), nil)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *apiServer) syncGet(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.reg.all())
}

func (s *apiServer) syncPost(w http.ResponseWriter, r *http.Request) {
	var recs []NodeRecord
	if err := json.NewDecoder(r.Body).Decode(&recs); err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid node records", nil)
		return
	}
	if _, err := s.reg.merge(recs...); err != nil {
		writeStatus(w, http.StatusInternalServerError, "InternalError", err.Error(), nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- Kubernetes API ---

func (s *apiServer) version(w http.ResponseWriter, r *http.Request) {
	major, minor := "1", "36"
	if v := strings.TrimPrefix(Version, "v"); v != "" {
		parts := strings.SplitN(v, ".", 3)
		if len(parts) >= 2 {
			major, minor = parts[0], parts[1]
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"major": major, "minor": minor, "gitVersion": Version, "gitCommit": "0000000000000000000000000000000000000000",
		"gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": runtime.Version(),
		"compiler": "gc", "platform": runtime.GOOS + "/" + runtime.GOARCH,
	})
}

// Discovery is served in its legacy (unaggregated) form: clients that ask for
// aggregated discovery fall back to it when the answer is plain JSON.
func (s *apiServer) apiVersions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"kind": "APIVersions", "versions": []string{"v1"},
		"serverAddressByClientCIDRs": []map[string]string{{"clientCIDR": "0.0.0.0/0", "serverAddress": r.Host}}})
}

func (s *apiServer) apiGroups(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{}})
}

func (s *apiServer) apiResources(w http.ResponseWriter, r *http.Request) {
	res := func(name, singular, kind string, namespaced bool, verbs, short []string) map[string]any {
		m := map[string]any{"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": verbs}
		if short != nil {
			m["shortNames"] = short
		}
		return m
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "APIResourceList", "groupVersion": "v1", "resources": []any{
		res("configmaps", "configmap", "ConfigMap", true, []string{"create", "delete", "get", "list", "update"}, []string{"cm"}),
		res("namespaces", "namespace", "Namespace", false, []string{"get", "list"}, []string{"ns"}),
		res("nodes", "node", "Node", false, []string{"delete", "get", "list"}, []string{"no"}),
		res("pods", "pod", "Pod", true, []string{"get", "list"}, []string{"po"}),
	}})
}

// tableVersion is the meta.k8s.io version of Table the client accepts, if any.
func tableVersion(r *http.Request) string {
	found := ""
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		params := map[string]string{}
		for _, p := range strings.Split(part, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			params[k] = v
		}
		if params["as"] != "Table" {
			continue
		}
		if params["v"] == "v1" {
			return "meta.k8s.io/v1"
		}
		found = "meta.k8s.io/v1beta1"
	}
	return found
}

func (s *apiServer) rv() string { return strconv.FormatInt(s.reg.generation(), 10) }

func (s *apiServer) nodes(selector string) ([]nodeObject, error) {
	now, rv := s.now(), s.rv()
	match, err := parseSelector(selector)
	if err != nil {
		return nil, err
	}
	items := []nodeObject{}
	for _, rec := range s.reg.live() {
		if match(rec.Labels) {
			items = append(items, toNode(rec, now, rv))
		}
	}
	return items, nil
}

func (s *apiServer) listNodes(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the k3s test double does not support watch", nil)
		return
	}
	items, err := s.nodes(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error(), nil)
		return
	}
	if tv := tableVersion(r); tv != "" {
		writeJSON(w, http.StatusOK, nodeTable(items, s.now(), s.rv(), tv))
		return
	}
	writeJSON(w, http.StatusOK, nodeList{Kind: "NodeList", APIVersion: "v1", Metadata: listMeta{ResourceVersion: s.rv()}, Items: items})
}

func (s *apiServer) getNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rec, ok := s.reg.get(name)
	if !ok {
		writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("nodes %q not found", name), map[string]string{"name": name, "kind": "nodes"})
		return
	}
	n := toNode(rec, s.now(), s.rv())
	if tv := tableVersion(r); tv != "" {
		writeJSON(w, http.StatusOK, nodeTable([]nodeObject{n}, s.now(), s.rv(), tv))
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *apiServer) deleteNode(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rec, ok, err := s.reg.remove(name, s.now())
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, "InternalError", err.Error(), nil)
		return
	}
	if !ok {
		writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("nodes %q not found", name), map[string]string{"name": name, "kind": "nodes"})
		return
	}
	if gone, ok := s.tombstone(name); ok {
		s.peers.push(r.Context(), []NodeRecord{gone}, "")
	}
	writeJSON(w, http.StatusOK, toNode(rec, s.now(), s.rv()))
}

func (s *apiServer) tombstone(name string) (NodeRecord, bool) {
	for _, rec := range s.reg.all() {
		if rec.Name == name {
			return rec, true
		}
	}
	return NodeRecord{}, false
}

func (s *apiServer) listPods(w http.ResponseWriter, r *http.Request) {
	ns := r.PathValue("ns")
	pods := []podObject{}
	if ns == "" || ns == "kube-system" {
		pods = append(pods, clusterPods(s.reg.live(), s.disabled, s.rv())...)
	}
	if tv := tableVersion(r); tv != "" {
		writeJSON(w, http.StatusOK, podTable(pods, s.now(), s.rv(), tv))
		return
	}
	writeJSON(w, http.StatusOK, podList{Kind: "PodList", APIVersion: "v1", Metadata: listMeta{ResourceVersion: s.rv()}, Items: pods})
}

func (s *apiServer) listNamespaces(w http.ResponseWriter, r *http.Request) {
	var first time.Time
	for _, n := range s.reg.live() {
		if first.IsZero() || n.CreatedAt.Before(first) {
			first = n.CreatedAt
		}
	}
	var items []map[string]any
	for _, ns := range servedNamespaces() {
		items = append(items, map[string]any{"kind": "Namespace", "apiVersion": "v1",
			"metadata": objectMeta{Name: ns, UID: uid("ns", ns), CreationTimestamp: kubeTime(first)},
			"spec":     map[string]any{"finalizers": []string{"kubernetes"}}, "status": map[string]string{"phase": "Active"}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "NamespaceList", "apiVersion": "v1", "metadata": listMeta{ResourceVersion: s.rv()}, "items": items})
}

// parseSelector understands equality label selectors (k=v, k==v, k!=v, k).
func parseSelector(sel string) (func(map[string]string) bool, error) {
	type req struct {
		key, val string
		op       string
	}
	var reqs []req
	for _, part := range strings.Split(sel, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case strings.Contains(part, "!="):
			k, v, _ := strings.Cut(part, "!=")
			reqs = append(reqs, req{strings.TrimSpace(k), strings.TrimSpace(v), "!="})
		case strings.Contains(part, "=="):
			k, v, _ := strings.Cut(part, "==")
			reqs = append(reqs, req{strings.TrimSpace(k), strings.TrimSpace(v), "="})
		case strings.Contains(part, "="):
			k, v, _ := strings.Cut(part, "=")
			reqs = append(reqs, req{strings.TrimSpace(k), strings.TrimSpace(v), "="})
		case strings.ContainsAny(part, " ()"):
			return nil, fmt.Errorf("unable to parse requirement: %q: the k3s test double supports only equality selectors", part)
		default:
			reqs = append(reqs, req{key: strings.TrimPrefix(part, "!"), op: map[bool]string{true: "!", false: "exists"}[strings.HasPrefix(part, "!")]})
		}
	}
	return func(labels map[string]string) bool {
		for _, q := range reqs {
			v, ok := labels[q.key]
			switch q.op {
			case "=":
				if !ok || v != q.val {
					return false
				}
			case "!=":
				if ok && v == q.val {
					return false
				}
			case "exists":
				if !ok {
					return false
				}
			case "!":
				if ok {
					return false
				}
			}
		}
		return true
	}, nil
}

// basicAuth is how nodes present the token, as k3s agents do.
func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
