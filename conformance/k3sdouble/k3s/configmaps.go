package k3s

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"
)

// ConfigMapRecord is one ConfigMap as a server keeps it and as servers
// exchange it. UpdatedAt and Deleted are not part of the object: they let
// servers that each took writes agree on the last one, deletes included.
type ConfigMapRecord struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Data        map[string]string `json:"data,omitempty"`
	BinaryData  map[string][]byte `json:"binaryData,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	UID         string            `json:"uid"`
	CreatedAt   time.Time         `json:"createdAt"`
	// ResourceVersion travels with the record, so that a version read
	// through one server is the version another server checks a write
	// against.
	ResourceVersion int64     `json:"resourceVersion"`
	UpdatedAt       time.Time `json:"updatedAt"`
	Deleted         bool      `json:"deleted,omitempty"`
}

func (c ConfigMapRecord) key() string { return c.Namespace + "/" + c.Name }

// newerThan decides which of two copies of a ConfigMap wins: the later
// write, and on a tie the higher version, so every server picks the same.
func (c ConfigMapRecord) newerThan(o ConfigMapRecord) bool {
	if !c.UpdatedAt.Equal(o.UpdatedAt) {
		return c.UpdatedAt.After(o.UpdatedAt)
	}
	return c.ResourceVersion > o.ResourceVersion
}

var (
	errConfigMapExists   = errors.New("configmap already exists")
	errConfigMapNotFound = errors.New("configmap not found")
)

// configMapStore is a server's copy of the cluster's ConfigMaps, kept on
// disk so that a restarted server still has them. Deleted ConfigMaps stay as
// tombstones, so that a peer that missed the delete does not bring them back.
type configMapStore struct {
	mu    sync.Mutex
	path  string
	items map[string]ConfigMapRecord
	// rv is the highest resourceVersion written or merged: a logical clock
	// that peers' records advance, so a write here never reuses a version
	// a peer already gave out.
	rv int64
}

func openConfigMaps(path string) (*configMapStore, error) {
	s := &configMapStore{path: path, items: map[string]ConfigMapRecord{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read configmap store: %w", err)
	}
	var recs []ConfigMapRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("read configmap store %s: %w", path, err)
	}
	for _, rec := range recs {
		s.items[rec.key()] = rec
		s.rv = max(s.rv, rec.ResourceVersion)
	}
	return s, nil
}

// after is a write time later than prev even when the clock says otherwise,
// so that a write always wins over the copy it replaced.
func after(now, prev time.Time) time.Time {
	if now.After(prev) {
		return now
	}
	return prev.Add(time.Nanosecond)
}

// create stores a new ConfigMap; errConfigMapExists if the name is taken.
func (s *configMapStore) create(rec ConfigMapRecord, now time.Time) (ConfigMapRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.items[rec.key()]
	if ok && !old.Deleted {
		return ConfigMapRecord{}, errConfigMapExists
	}
	rec.UpdatedAt = after(now, old.UpdatedAt)
	rec.CreatedAt = rec.UpdatedAt
	rec.UID = uid("configmap", rec.Namespace, rec.Name, rec.CreatedAt.Format(time.RFC3339Nano))
	rec.Deleted = false
	return s.writeLocked(rec)
}

// replace swaps the content of an existing ConfigMap for rec's, once check
// accepts the stored copy; its error is returned as it is.
func (s *configMapStore) replace(rec ConfigMapRecord, check func(cur ConfigMapRecord) error, now time.Time) (ConfigMapRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.items[rec.key()]
	if !ok || cur.Deleted {
		return ConfigMapRecord{}, errConfigMapNotFound
	}
	if err := check(cur); err != nil {
		return ConfigMapRecord{}, err
	}
	rec.UID, rec.CreatedAt = cur.UID, cur.CreatedAt
	rec.UpdatedAt = after(now, cur.UpdatedAt)
	rec.Deleted = false
	return s.writeLocked(rec)
}

// remove deletes a ConfigMap, once check accepts it, leaving a tombstone.
func (s *configMapStore) remove(namespace, name string, check func(cur ConfigMapRecord) error, now time.Time) (ConfigMapRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.items[namespace+"/"+name]
	if !ok || cur.Deleted {
		return ConfigMapRecord{}, errConfigMapNotFound
	}
	if err := check(cur); err != nil {
		return ConfigMapRecord{}, err
	}
	gone := ConfigMapRecord{Namespace: namespace, Name: name, UID: cur.UID, CreatedAt: cur.CreatedAt,
		UpdatedAt: after(now, cur.UpdatedAt), Deleted: true}
	return s.writeLocked(gone)
}

// writeLocked stores rec under a new resourceVersion and persists the
// store; on failure the store is left as it was.
func (s *configMapStore) writeLocked(rec ConfigMapRecord) (ConfigMapRecord, error) {
	prev, had := s.items[rec.key()]
	prevRV := s.rv
	s.rv++
	rec.ResourceVersion = s.rv
	s.items[rec.key()] = rec
	if err := s.saveLocked(); err != nil {
		s.rv = prevRV
		if had {
			s.items[rec.key()] = prev
		} else {
			delete(s.items, rec.key())
		}
		return ConfigMapRecord{}, fmt.Errorf("save configmap %s: %w", rec.key(), err)
	}
	return rec, nil
}

// get returns a ConfigMap that exists.
func (s *configMapStore) get(namespace, name string) (ConfigMapRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.items[namespace+"/"+name]
	if !ok || rec.Deleted {
		return ConfigMapRecord{}, false
	}
	return rec, true
}

// list returns the ConfigMaps that exist in namespace (every namespace if
// empty), sorted by namespace and name, and the store's resourceVersion.
func (s *configMapStore) list(namespace string) ([]ConfigMapRecord, int64) {
	all, rv := s.snapshot()
	var out []ConfigMapRecord
	for _, rec := range all {
		if !rec.Deleted && (namespace == "" || rec.Namespace == namespace) {
			out = append(out, rec)
		}
	}
	return out, rv
}

// all returns every record, tombstones included, for peers.
func (s *configMapStore) all() []ConfigMapRecord {
	recs, _ := s.snapshot()
	return recs
}

func (s *configMapStore) snapshot() ([]ConfigMapRecord, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ConfigMapRecord, 0, len(s.items))
	for _, rec := range s.items {
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out, s.rv
}

func (s *configMapStore) resourceVersion() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rv
}

// merge folds peers' records in, the later write of each ConfigMap winning,
// and reports whether anything changed.
func (s *configMapStore) merge(recs ...ConfigMapRecord) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, rec := range recs {
		if rec.Namespace == "" || rec.Name == "" {
			continue
		}
		s.rv = max(s.rv, rec.ResourceVersion)
		if old, ok := s.items[rec.key()]; ok && !rec.newerThan(old) {
			continue
		}
		s.items[rec.key()] = rec
		changed = true
	}
	if !changed {
		return false, nil
	}
	if err := s.saveLocked(); err != nil {
		return true, fmt.Errorf("save merged configmaps: %w", err)
	}
	return true, nil
}

func (s *configMapStore) saveLocked() error {
	recs := make([]ConfigMapRecord, 0, len(s.items))
	for _, rec := range s.items {
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].key() < recs[j].key() })
	b, err := json.MarshalIndent(recs, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, b, 0o600)
}
