package podman

import (
	"context"
	"fmt"

	"github.com/containers/podman/v4/pkg/bindings/volumes"
	"github.com/containers/podman/v4/pkg/domain/entities"

	"github.com/k3d/k3d/backends"
)

// CreateVolume creates a local named volume (local volumes keep file modes).
// Podman refuses a taken name, leaving the existing volume as it was.
func (r *Runtime) CreateVolume(ctx context.Context, spec backends.VolumeSpec) (backends.Volume, error) {
	if spec.Name == "" {
		return backends.Volume{}, backends.NewError(backends.ErrInvalid, "volume", "no name given")
	}
	v, err := r.createVolume(ctx, spec.Name, spec.Labels)
	if err != nil {
		return backends.Volume{}, fmt.Errorf("create volume %s: %w", spec.Name, err)
	}
	return volumeFrom(v), nil
}

func (r *Runtime) createVolume(ctx context.Context, name string, labels map[string]string) (*entities.VolumeConfigResponse, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return nil, err
	}
	// Label is what Podman 4.3 reads, Labels what later versions prefer.
	v, err := volumes.Create(actx, entities.VolumeCreateOptions{Name: name, Driver: "local", Label: copyLabels(labels), Labels: copyLabels(labels)}, nil)
	if err != nil {
		return nil, r.typed(err, volumeObj(name), conflictIsExists)
	}
	return v, nil
}

// InspectVolume finds a volume by name.
func (r *Runtime) InspectVolume(ctx context.Context, name string) (backends.Volume, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return backends.Volume{}, fmt.Errorf("inspect volume %s: %w", name, err)
	}
	v, err := volumes.Inspect(actx, name, nil)
	if err != nil {
		return backends.Volume{}, fmt.Errorf("inspect volume %s: %w", name, r.typed(err, volumeObj(name), conflictIsExists))
	}
	if v.Name != name {
		return backends.Volume{}, fmt.Errorf("inspect volume %s: %w", name, backends.NotFound(volumeObj(name)))
	}
	return volumeFrom(v), nil
}

// ListVolumes lists the volumes whose labels match selector.
func (r *Runtime) ListVolumes(ctx context.Context, selector map[string]string) ([]backends.Volume, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	list, err := volumes.List(actx, new(volumes.ListOptions).WithFilters(labelFilters(selector)))
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", r.typed(err, "volumes", conflictIsExists))
	}
	out := make([]backends.Volume, 0, len(list))
	for _, v := range list {
		if v != nil && matches(v.Labels, selector) {
			out = append(out, volumeFrom(&v.VolumeConfigResponse))
		}
	}
	return out, nil
}

// DeleteVolume removes a volume no node mounts.
func (r *Runtime) DeleteVolume(ctx context.Context, name string) error {
	actx, err := r.api(ctx)
	if err != nil {
		return fmt.Errorf("delete volume %s: %w", name, err)
	}
	// Not forced: force removes the nodes that use the volume too.
	if err := volumes.Remove(actx, name, new(volumes.RemoveOptions).WithForce(false)); err != nil {
		return fmt.Errorf("delete volume %s: %w", name, r.typed(err, volumeObj(name), conflictIsInUse))
	}
	return nil
}

func volumeFrom(v *entities.VolumeConfigResponse) backends.Volume {
	return backends.Volume{Name: v.Name, Labels: copyLabels(v.Labels)}
}
