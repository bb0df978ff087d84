package docker

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/imagelabels"
)

// CreateNode creates a node without starting it. It never pulls: the image
// must be present. Whatever it made before a failure (named volumes it
// created, the container) is removed again.
func (r *Runtime) CreateNode(ctx context.Context, spec backends.NodeSpec) (backends.Node, error) {
	n, err := r.createNode(ctx, spec)
	if err != nil {
		return backends.Node{}, fmt.Errorf("create node %s: %w", spec.Name, err)
	}
	return n, nil
}

func (r *Runtime) createNode(ctx context.Context, spec backends.NodeSpec) (node backends.Node, err error) {
	nc, err := buildNodeConfig(spec)
	if err != nil {
		return backends.Node{}, err
	}
	// The daemon would pull a missing image on create's behalf only if asked;
	// asking first gives the contract's error naming the image.
	img, err := r.cli.ImageInspect(ctx, spec.Image)
	if err != nil {
		return backends.Node{}, r.typed(err, imageObj(spec.Image), conflictIsExists)
	}
	if img.Config != nil {
		if inherited := imagelabels.Record(img.Config.Labels, spec.Labels); inherited != "" {
			nc.cfg.Labels[imagelabels.Key] = inherited
		}
	}
	// A missing network would be reported as a bare "not found"; look first
	// so that the error names it.
	for _, a := range spec.Networks {
		if _, err := r.InspectNetwork(ctx, a.Network); err != nil {
			return backends.Node{}, err
		}
	}
	if spec.Privileged {
		p, err := r.privilegesFor(ctx, spec.Image)
		if err != nil {
			return backends.Node{}, err
		}
		if label := p.apply(nc.host); label != "" {
			nc.cfg.Labels[labelPrivileged] = label
		}
	}

	var made []string // volumes created here, removed again on failure
	var id string
	var madeFiles bool
	defer func() {
		if err == nil {
			return
		}
		cctx, cancel := withoutCancel(ctx)
		defer cancel()
		if madeFiles {
			_ = r.files.Remove(spec.Name)
		}
		if id != "" {
			_ = r.cli.ContainerRemove(cctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
		for _, v := range made {
			_ = r.cli.VolumeRemove(cctx, v, false)
		}
	}()

	for _, m := range spec.Mounts {
		if m.Type != backends.MountVolume {
			continue
		}
		created, err := r.ensureVolume(ctx, m.Source)
		if err != nil {
			return backends.Node{}, err
		}
		if created {
			made = append(made, m.Source)
		}
	}

	if spec.MemoryLimit > 0 {
		src, err := r.files.PutMeminfo(spec.Name, spec.MemoryLimit, func() error {
			_, err := r.inspectContainer(ctx, spec.Name)
			return err
		})
		if err != nil {
			return backends.Node{}, err
		}
		madeFiles = true
		nc.host.Mounts = append(nc.host.Mounts, mount.Mount{Type: mount.TypeBind, Source: src, Target: backends.MeminfoPath, ReadOnly: true})
	}

	res, err := r.cli.ContainerCreate(ctx, nc.cfg, nc.host, nc.net, nil, spec.Name)
	if err != nil {
		// A name clash is a Conflict; the existing node is left alone (id is
		// still empty, so the rollback does not touch it).
		return backends.Node{}, r.typed(err, nodeObj(spec.Name), conflictIsExists)
	}
	id = res.ID
	for _, a := range nc.later {
		if err := r.cli.NetworkConnect(ctx, a.Network, id, endpointSettings(a)); err != nil {
			return backends.Node{}, fmt.Errorf("connect to network %s: %w", a.Network, r.typed(err, networkObj(a.Network), forbiddenIsExists))
		}
	}
	return r.InspectNode(ctx, spec.Name)
}

// ensureVolume creates a named volume a node mounts if it does not exist yet,
// and says whether it did; the daemon would create it silently, and then a
// failed create could not tell which volumes to remove.
func (r *Runtime) ensureVolume(ctx context.Context, name string) (bool, error) {
	_, err := r.cli.VolumeInspect(ctx, name)
	if err == nil {
		return false, nil
	}
	if terr := r.typed(err, volumeObj(name), conflictIsExists); !errors.Is(terr, backends.ErrNotFound) {
		return false, terr
	}
	if _, err := r.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local"}); err != nil {
		return false, r.typed(err, volumeObj(name), conflictIsExists)
	}
	return true, nil
}
