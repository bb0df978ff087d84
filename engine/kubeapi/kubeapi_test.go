package kubeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeAPI keeps ConfigMaps the way the API server does: a resourceVersion
// per write, 409 for a write based on an old one or a create of an existing
// name, 404 for a missing object.
type fakeAPI struct {
	mu   sync.Mutex
	rv   int
	cms  map[string]wireConfigMap
	puts int
	// beforePut, when set, runs inside the handler before a PUT is judged:
	// another writer getting in between a client's read and write.
	beforePut func(f *fakeAPI)
}

func (f *fakeAPI) write(cm wireConfigMap) {
	f.rv++
	cm.Metadata.ResourceVersion = strconv.Itoa(f.rv)
	f.cms[cm.Metadata.Namespace+"/"+cm.Metadata.Name] = cm
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/"), "/")
	if len(parts) < 2 || parts[1] != "configmaps" {
		status(w, http.StatusNotFound, "the server could not find the requested resource")
		return
	}
	ns := parts[0]
	switch {
	case r.Method == http.MethodGet && len(parts) == 3:
		cm, ok := f.cms[ns+"/"+parts[2]]
		if !ok {
			status(w, http.StatusNotFound, fmt.Sprintf("configmaps %q not found", parts[2]))
			return
		}
		_ = json.NewEncoder(w).Encode(cm)
	case r.Method == http.MethodPost && len(parts) == 2:
		var cm wireConfigMap
		_ = json.NewDecoder(r.Body).Decode(&cm)
		if _, ok := f.cms[ns+"/"+cm.Metadata.Name]; ok {
			status(w, http.StatusConflict, fmt.Sprintf("configmaps %q already exists", cm.Metadata.Name))
			return
		}
		cm.Metadata.Namespace = ns
		f.write(cm)
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodPut && len(parts) == 3:
		f.puts++
		if f.beforePut != nil {
			hook := f.beforePut
			f.beforePut = nil
			hook(f)
		}
		var cm wireConfigMap
		_ = json.NewDecoder(r.Body).Decode(&cm)
		cur, ok := f.cms[ns+"/"+parts[2]]
		if !ok {
			status(w, http.StatusNotFound, fmt.Sprintf("configmaps %q not found", parts[2]))
			return
		}
		if cm.Metadata.ResourceVersion != cur.Metadata.ResourceVersion {
			status(w, http.StatusConflict, "the object has been modified; please apply your changes to the latest version and try again")
			return
		}
		cm.Metadata.Namespace = ns
		f.write(cm)
	default:
		status(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func status(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": msg, "code": code})
}

func newFake(t *testing.T) (*fakeAPI, *Client) {
	t.Helper()
	f := &fakeAPI{cms: map[string]wireConfigMap{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {token: secret}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, srv.URL)
	c, err := New([]byte(kc))
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func TestApplyCreatesThenReplaces(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	cm := ConfigMap{Namespace: "kube-public", Name: "local-registry-hosting", Data: map[string]string{"localRegistryHosting.v1": "host: a"}}
	if err := c.ApplyConfigMap(ctx, cm); err != nil {
		t.Fatalf("create: %v", err)
	}
	cm.Data = map[string]string{"localRegistryHosting.v1": "host: b"}
	if err := c.ApplyConfigMap(ctx, cm); err != nil {
		t.Fatalf("replace: %v", err)
	}
	got, err := c.GetConfigMap(ctx, "kube-public", "local-registry-hosting")
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["localRegistryHosting.v1"] != "host: b" {
		t.Errorf("after apply, data = %v, want host: b", got.Data)
	}
	if len(f.cms) != 1 {
		t.Errorf("the API holds %d ConfigMaps, want 1", len(f.cms))
	}
}

func TestGetMissingIsNotFound(t *testing.T) {
	_, c := newFake(t)
	_, err := c.GetConfigMap(context.Background(), "kube-system", "coredns")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if !strings.Contains(err.Error(), `configmaps "coredns" not found`) {
		t.Errorf("the error does not carry the API's message: %v", err)
	}
	if err := c.UpdateConfigMap(context.Background(), "kube-system", "coredns", func(map[string]string) bool { return true }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing ConfigMap: want ErrNotFound, got %v", err)
	}
}

// A write that loses a race with another writer is redone on the new
// version, so that neither change is lost.
func TestUpdateRetriesOnConflict(t *testing.T) {
	f, c := newFake(t)
	f.write(wireConfigMap{Metadata: wireMetadata{Namespace: "kube-system", Name: "coredns"}, Data: map[string]string{"NodeHosts": "172.18.0.2 k3d-x-server-0\n"}})
	f.beforePut = func(f *fakeAPI) {
		cur := f.cms["kube-system/coredns"]
		cur.Data = map[string]string{"NodeHosts": cur.Data["NodeHosts"] + "172.18.0.3 k3d-x-agent-0\n"}
		f.write(cur)
	}
	calls := 0
	err := c.UpdateConfigMap(context.Background(), "kube-system", "coredns", func(d map[string]string) bool {
		calls++
		d["NodeHosts"] += "172.18.0.1 host.k3d.internal\n"
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("mutate ran %d times, want 2 (once more after the conflict)", calls)
	}
	got := f.cms["kube-system/coredns"].Data["NodeHosts"]
	want := "172.18.0.2 k3d-x-server-0\n172.18.0.3 k3d-x-agent-0\n172.18.0.1 host.k3d.internal\n"
	if got != want {
		t.Errorf("NodeHosts = %q, want %q (both writers' lines)", got, want)
	}
}

func TestUpdateWithoutChangeWritesNothing(t *testing.T) {
	f, c := newFake(t)
	f.write(wireConfigMap{Metadata: wireMetadata{Namespace: "kube-system", Name: "coredns"}, Data: map[string]string{"NodeHosts": "x"}})
	if err := c.UpdateConfigMap(context.Background(), "kube-system", "coredns", func(map[string]string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if f.puts != 0 {
		t.Errorf("an unchanged ConfigMap was written %d times", f.puts)
	}
}
