package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/k3d/k3d/backends"
)

// A named volume is a directory under the data root: volumes/NAME/_data is
// bind-mounted into nodes (so files keep their modes and owners), and
// volumes/NAME/volume.json holds its labels.

type volumeInfo struct {
	Labels  map[string]string `json:"labels"`
	Created time.Time         `json:"created"`
}

// CreateVolume creates a named volume.
func (r *Runtime) CreateVolume(ctx context.Context, spec backends.VolumeSpec) (backends.Volume, error) {
	if err := checkName(volumeObj(spec.Name), spec.Name); err != nil {
		return backends.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, err)
	}
	if _, err := r.client(ctx); err != nil {
		return backends.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, err)
	}
	if err := r.makeVolume(spec.Name, spec.Labels); err != nil {
		return backends.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, err)
	}
	return backends.Volume{Name: spec.Name, Labels: copyLabels(spec.Labels)}, nil
}

// makeVolume builds the volume in a temporary directory and renames it into
// place: the rename fails if the name is taken, and no process ever sees a
// volume without its labels.
func (r *Runtime) makeVolume(name string, labels map[string]string) error {
	if err := os.MkdirAll(r.root.volumesDir(), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(r.root.volumesDir(), ".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(tmp+"/_data", 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(volumeInfo{Labels: copyLabels(labels), Created: time.Now().UTC()})
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmp+"/volume.json", data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, r.root.volumeDir(name)); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, unix.ENOTEMPTY) {
			return backends.AlreadyExists(volumeObj(name))
		}
		return err
	}
	return nil
}

// InspectVolume reads a volume's labels.
func (r *Runtime) InspectVolume(ctx context.Context, name string) (backends.Volume, error) {
	if err := ctx.Err(); err != nil {
		return backends.Volume{}, err
	}
	v, err := r.readVolume(name)
	if err != nil {
		return backends.Volume{}, fmt.Errorf("inspect volume %s: %w", name, err)
	}
	return v, nil
}

func (r *Runtime) readVolume(name string) (backends.Volume, error) {
	if !validName.MatchString(name) {
		return backends.Volume{}, backends.NotFound(volumeObj(name))
	}
	data, err := os.ReadFile(r.root.volumeDir(name) + "/volume.json")
	if errors.Is(err, fs.ErrNotExist) {
		return backends.Volume{}, backends.NotFound(volumeObj(name))
	}
	if err != nil {
		return backends.Volume{}, err
	}
	var vi volumeInfo
	if err := json.Unmarshal(data, &vi); err != nil {
		return backends.Volume{}, fmt.Errorf("read labels of volume %s: %w", name, err)
	}
	return backends.Volume{Name: name, Labels: copyLabels(vi.Labels)}, nil
}

// ListVolumes lists the volumes whose labels match selector.
func (r *Runtime) ListVolumes(ctx context.Context, selector map[string]string) ([]backends.Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(r.root.volumesDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := []backends.Volume{}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		v, err := r.readVolume(e.Name())
		if backends.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list volumes: %w", err)
		}
		if matches(v.Labels, selector) {
			out = append(out, v)
		}
	}
	return out, nil
}

// DeleteVolume removes a volume no node mounts, with its data.
func (r *Runtime) DeleteVolume(ctx context.Context, name string) error {
	if err := r.deleteVolume(ctx, name); err != nil {
		return fmt.Errorf("delete volume %s: %w", name, err)
	}
	return nil
}

func (r *Runtime) deleteVolume(ctx context.Context, name string) error {
	if _, err := r.readVolume(name); err != nil {
		return err
	}
	unlock, err := r.lock(ctx, lockState)
	if err != nil {
		return err
	}
	defer unlock()
	nodes, err := r.listNodeRecords(ctx)
	if err != nil {
		return err
	}
	var users []string
	for _, n := range nodes {
		for _, m := range n.meta.Mounts {
			if m.Type == backends.MountVolume && m.Source == name {
				users = append(users, n.name)
				break
			}
		}
	}
	if len(users) > 0 {
		slices.Sort(users)
		return backends.NewError(backends.ErrInUse, volumeObj(name), "mounted by nodes: "+strings.Join(users, ", "))
	}
	// Out of the way first, so that the name is free at once and a failed
	// removal leaves no half volume under the name.
	trash := fmt.Sprintf("%s/.deleted-%s", r.root.volumesDir(), randomHex(6))
	if err := os.Rename(r.root.volumeDir(name), trash); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return backends.NotFound(volumeObj(name))
		}
		return err
	}
	return os.RemoveAll(trash)
}

// ensureVolume creates a named volume a node mounts if it does not exist
// yet, and says whether it did.
func (r *Runtime) ensureVolume(name string) (bool, error) {
	if err := checkName(volumeObj(name), name); err != nil {
		return false, err
	}
	if _, err := r.readVolume(name); err == nil {
		return false, nil
	}
	err := r.makeVolume(name, nil)
	if backends.IsAlreadyExists(err) {
		return false, nil // made by someone else just now
	}
	return err == nil, err
}
