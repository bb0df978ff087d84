package k3s

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// NodeRecord is what the cluster knows about one node: what the node said
// when it registered, and when it was last heard of. Servers exchange these
// records, so every server can list every node.
type NodeRecord struct {
	Name       string            `json:"name"`
	Server     bool              `json:"server"`
	Etcd       bool              `json:"etcd,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Taints     []Taint           `json:"taints,omitempty"`
	Hostname   string            `json:"hostname,omitempty"`
	InternalIP string            `json:"internalIP,omitempty"`
	ExternalIP string            `json:"externalIP,omitempty"`
	// APIPort is where a server serves, for its peers to reach it.
	APIPort int    `json:"apiPort,omitempty"`
	Kernel  string `json:"kernel,omitempty"`
	Arch    string `json:"arch,omitempty"`
	// MemoryKB is the node's memory as its kubelet sees it.
	MemoryKB int64 `json:"memoryKB,omitempty"`
	// SandboxError is why containerd on this node cannot start pods, if it cannot.
	SandboxError string `json:"sandboxError,omitempty"`

	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	HeartbeatAt time.Time `json:"heartbeatAt"`
	Deleted     bool      `json:"deleted,omitempty"`
}

// Taint is a node taint (key=value:Effect).
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// registry is a server's copy of the cluster's node records, kept on disk so
// that a restarted server remembers the cluster.
type registry struct {
	mu    sync.Mutex
	path  string
	nodes map[string]NodeRecord
	gen   int64
}

func openRegistry(path string) (*registry, error) {
	r := &registry{path: path, nodes: map[string]NodeRecord{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read node registry: %w", err)
	}
	var recs []NodeRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("read node registry %s: %w", path, err)
	}
	for _, rec := range recs {
		r.nodes[rec.Name] = rec
	}
	r.gen = int64(len(recs))
	return r, nil
}

// merged is what two records of one node combine to: the later registration
// wins, and the node was last heard of when either copy last heard of it.
func merged(a, b NodeRecord) NodeRecord {
	out := a
	if b.UpdatedAt.After(a.UpdatedAt) {
		out = b
	}
	if b.HeartbeatAt.After(out.HeartbeatAt) {
		out.HeartbeatAt = b.HeartbeatAt
	}
	if a.HeartbeatAt.After(out.HeartbeatAt) {
		out.HeartbeatAt = a.HeartbeatAt
	}
	if !out.Deleted && !a.Deleted && !b.Deleted && !a.CreatedAt.IsZero() && a.CreatedAt.Before(out.CreatedAt) {
		out.CreatedAt = a.CreatedAt
	}
	return out
}

// merge folds records into the registry and reports whether it changed.
func (r *registry) merge(recs ...NodeRecord) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, rec := range recs {
		if rec.Name == "" {
			continue
		}
		old, ok := r.nodes[rec.Name]
		next := rec
		if ok {
			next = merged(old, rec)
		}
		if ok && sameRecord(old, next) {
			continue
		}
		r.nodes[rec.Name] = next
		changed = true
	}
	if !changed {
		return false, nil
	}
	r.gen++
	return true, r.saveLocked()
}

func sameRecord(a, b NodeRecord) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// register records a node's (re)registration at now. A node registering
// again keeps its creation time unless it had been deleted.
func (r *registry) register(rec NodeRecord, now time.Time) (NodeRecord, error) {
	r.mu.Lock()
	old, ok := r.nodes[rec.Name]
	r.mu.Unlock()
	rec.CreatedAt = now
	if ok && !old.Deleted && !old.CreatedAt.IsZero() {
		rec.CreatedAt = old.CreatedAt
	}
	if !rec.UpdatedAt.After(old.UpdatedAt) {
		rec.UpdatedAt = now
	}
	if !rec.UpdatedAt.After(old.UpdatedAt) {
		rec.UpdatedAt = old.UpdatedAt.Add(time.Nanosecond)
	}
	rec.HeartbeatAt = now
	rec.Deleted = false
	_, err := r.merge(rec)
	return rec, err
}

// heartbeat notes that a node was heard of; false if the node is unknown.
func (r *registry) heartbeat(name string, now time.Time) (bool, error) {
	r.mu.Lock()
	rec, ok := r.nodes[name]
	r.mu.Unlock()
	if !ok || rec.Deleted {
		return false, nil
	}
	rec.HeartbeatAt = now
	_, err := r.merge(rec)
	return true, err
}

// remove leaves a tombstone, so that peers drop the node too.
func (r *registry) remove(name string, now time.Time) (NodeRecord, bool, error) {
	r.mu.Lock()
	rec, ok := r.nodes[name]
	r.mu.Unlock()
	if !ok || rec.Deleted {
		return NodeRecord{}, false, nil
	}
	gone := rec
	gone.Deleted = true
	gone.UpdatedAt = now
	if !now.After(rec.UpdatedAt) {
		gone.UpdatedAt = rec.UpdatedAt.Add(time.Nanosecond)
	}
	_, err := r.merge(gone)
	return rec, true, err
}

// all returns every record, tombstones included, sorted by name.
func (r *registry) all() []NodeRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]NodeRecord, 0, len(r.nodes))
	for _, n := range r.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// live returns the nodes that exist, sorted by name.
func (r *registry) live() []NodeRecord {
	var out []NodeRecord
	for _, n := range r.all() {
		if !n.Deleted {
			out = append(out, n)
		}
	}
	return out
}

func (r *registry) get(name string) (NodeRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.nodes[name]
	if !ok || n.Deleted {
		return NodeRecord{}, false
	}
	return n, true
}

func (r *registry) generation() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

func (r *registry) saveLocked() error {
	recs := make([]NodeRecord, 0, len(r.nodes))
	for _, n := range r.nodes {
		recs = append(recs, n)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(r.path, b, 0o600)
}

// writeFileAtomic replaces path so that a reader, or a restart after a
// crash, sees the old or the new content, never half of it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
