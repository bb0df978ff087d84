package engine

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// An API that keeps the user waiting is named in a note, once, with its
// last answer, and the wait goes on until the API is ready.
func TestWaitAPIReadySaysWhatItWaitsOn(t *testing.T) {
	var ready atomic.Bool
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "[-]etcd failed", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer ts.Close()
	te := newTestEnv(t)
	te.e.httpClient = func([]byte) (*http.Client, error) { return ts.Client(), nil }
	te.e.slowAPI = 200 * time.Millisecond
	kubeconfig := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n", ts.URL)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		ready.Store(true)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := te.e.waitAPIReady(ctx, []byte(kubeconfig)); err != nil {
		t.Fatalf("wait for the API: %v", err)
	}
	te.progress.mu.Lock()
	defer te.progress.mu.Unlock()
	if len(te.progress.notes) != 1 || !strings.Contains(te.progress.notes[0], ts.URL) ||
		!strings.Contains(te.progress.notes[0], "503") || !strings.Contains(te.progress.notes[0], "--timeout") {
		t.Errorf("notes while the API kept the user waiting: %q; want one naming %s, its last answer and --timeout", te.progress.notes, ts.URL)
	}
}
