package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/volume"

	"github.com/k3d/k3d/backends"
)

// CreateVolume creates a local named volume (local volumes keep file modes).
func (r *Runtime) CreateVolume(ctx context.Context, spec backends.VolumeSpec) (backends.Volume, error) {
	if spec.Name == "" {
		return backends.Volume{}, backends.NewError(backends.ErrInvalid, "volume", "no name given")
	}
	// The daemon answers a create for an existing name with the existing
	// volume (labels untouched), so a clash is found by looking first.
	if _, err := r.cli.VolumeInspect(ctx, spec.Name); err == nil {
		return backends.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, backends.AlreadyExists(volumeObj(spec.Name)))
	} else if terr := r.typed(err, volumeObj(spec.Name), conflictIsExists); !backends.IsNotFound(terr) {
		return backends.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, terr)
	}
	v, err := r.cli.VolumeCreate(ctx, volume.CreateOptions{Name: spec.Name, Driver: "local", Labels: copyLabels(spec.Labels)})
	if err != nil {
		return backends.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, r.typed(err, volumeObj(spec.Name), conflictIsExists))
	}
	return volumeFrom(v), nil
}

// InspectVolume finds a volume by name.
func (r *Runtime) InspectVolume(ctx context.Context, name string) (backends.Volume, error) {
	v, err := r.cli.VolumeInspect(ctx, name)
	if err != nil {
		return backends.Volume{}, fmt.Errorf("inspect volume %s: %w", name, r.typed(err, volumeObj(name), conflictIsExists))
	}
	return volumeFrom(v), nil
}

// ListVolumes lists the volumes whose labels match selector.
func (r *Runtime) ListVolumes(ctx context.Context, selector map[string]string) ([]backends.Volume, error) {
	res, err := r.cli.VolumeList(ctx, volume.ListOptions{Filters: labelFilter(selector)})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", r.typed(err, "volumes", conflictIsExists))
	}
	out := make([]backends.Volume, 0, len(res.Volumes))
	for _, v := range res.Volumes {
		out = append(out, volumeFrom(*v))
	}
	return out, nil
}

// DeleteVolume removes a volume no node mounts.
func (r *Runtime) DeleteVolume(ctx context.Context, name string) error {
	// Not forced: force also forgets a volume whose data the driver failed
	// to remove, which would leave the data behind unnamed.
	if err := r.cli.VolumeRemove(ctx, name, false); err != nil {
		return fmt.Errorf("delete volume %s: %w", name, r.typed(err, volumeObj(name), conflictIsInUse))
	}
	return nil
}

func volumeFrom(v volume.Volume) backends.Volume {
	return backends.Volume{Name: v.Name, Labels: copyLabels(v.Labels)}
}
