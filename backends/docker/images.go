package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/k3d/k3d/backends"
)

// ImageExists reports whether ref is present; nothing is pulled.
func (r *Runtime) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := r.cli.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	terr := r.typed(err, imageObj(ref), conflictIsExists)
	if backends.IsNotFound(terr) {
		return false, nil
	}
	return false, fmt.Errorf("look for image %s: %w", ref, terr)
}

// ImageSave streams the images as one docker-archive tar.
func (r *Runtime) ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error) {
	if len(refs) == 0 {
		return nil, backends.NewError(backends.ErrInvalid, "images", "no image given to save")
	}
	// The daemon notices a missing image only after the stream has begun (or
	// not at all, on some versions), so each is looked up first.
	for _, ref := range refs {
		if _, err := r.cli.ImageInspect(ctx, ref); err != nil {
			return nil, fmt.Errorf("save images: %w", r.typed(err, imageObj(ref), conflictIsExists))
		}
	}
	rc, err := r.cli.ImageSave(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("save images: %w", r.typed(err, "images", conflictIsExists))
	}
	return rc, nil
}

// ImageTag gives source the extra reference target.
func (r *Runtime) ImageTag(ctx context.Context, source, target string) error {
	if err := r.cli.ImageTag(ctx, source, target); err != nil {
		return fmt.Errorf("tag image %s as %s: %w", source, target, r.typed(err, imageObj(source), conflictIsExists))
	}
	return nil
}
