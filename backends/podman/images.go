package podman

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/containers/podman/v4/pkg/bindings/images"

	"github.com/k3d/k3d/backends"
)

// ImageExists reports whether ref is present; nothing is pulled.
func (r *Runtime) ImageExists(ctx context.Context, ref string) (bool, error) {
	ok, err := r.imageExists(ctx, ref)
	if err != nil {
		return false, fmt.Errorf("look for image %s: %w", ref, err)
	}
	return ok, nil
}

// imageExists asks the service directly: the bindings' Exists says "no" for
// any failure, an unreachable service included.
func (r *Runtime) imageExists(ctx context.Context, ref string) (bool, error) {
	actx, conn, err := r.connection(ctx)
	if err != nil {
		return false, err
	}
	resp, err := conn.DoRequest(actx, nil, http.MethodGet, "/images/%s/exists", nil, nil, ref)
	if err != nil {
		return false, r.typed(err, imageObj(ref), conflictIsExists)
	}
	defer resp.Body.Close()
	switch {
	case resp.IsSuccess():
		return true, nil
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	}
	return false, r.typed(statusError(resp), imageObj(ref), conflictIsExists)
}

// ImageSave streams the images as one docker-archive tar.
func (r *Runtime) ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error) {
	if len(refs) == 0 {
		return nil, backends.NewError(backends.ErrInvalid, "images", "no image given to save")
	}
	// The service notices a missing image only after the stream has begun;
	// each is looked up first.
	for _, ref := range refs {
		ok, err := r.imageExists(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("save images: %w", err)
		}
		if !ok {
			return nil, fmt.Errorf("save images: %w", backends.NotFound(imageObj(ref)))
		}
	}
	actx, err := r.api(ctx)
	if err != nil {
		return nil, fmt.Errorf("save images: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		err := images.Export(actx, refs, pw, new(images.ExportOptions).WithFormat("docker-archive").WithCompress(false))
		if err != nil {
			err = fmt.Errorf("save images: %w", r.typed(err, "images", conflictIsExists))
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// ImageTag gives source the extra reference target.
func (r *Runtime) ImageTag(ctx context.Context, source, target string) error {
	repo, tag := splitTag(target)
	actx, err := r.api(ctx)
	if err != nil {
		return fmt.Errorf("tag image %s as %s: %w", source, target, err)
	}
	if err := images.Tag(actx, source, tag, repo, nil); err != nil {
		return fmt.Errorf("tag image %s as %s: %w", source, target, r.typed(err, imageObj(source), conflictIsExists))
	}
	return nil
}

// splitTag splits a reference into repository and tag ("latest" when it
// names none); a colon before the last slash belongs to a registry's port.
func splitTag(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}
