package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	client "github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/images/archive"
	"github.com/containerd/containerd/platforms"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/k3d/k3d/backends"
)

// normalizeRef spells a reference the way containerd stores image names
// ("k3s:1" is "docker.io/library/k3s:1"), as Docker and nerdctl do.
func normalizeRef(ref string) string {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return ref
	}
	return named.String()
}

// getImage finds an image by the reference a user would type.
func (r *Runtime) getImage(ctx context.Context, ref string) (client.Image, error) {
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return nil, err
	}
	img, err := cli.GetImage(ctx, normalizeRef(ref))
	if errdefs.IsNotFound(err) && normalizeRef(ref) != ref {
		img, err = cli.GetImage(ctx, ref)
	}
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, backends.NewError(backends.ErrNotFound, imageObj(ref), "not present in containerd namespace "+r.namespace)
		}
		return nil, r.typed(err, imageObj(ref))
	}
	return img, nil
}

// unpack makes sure the image's layers are in the snapshotter, which
// nodes are made from (an import stores only the blobs).
func (r *Runtime) unpack(ctx context.Context, img client.Image) error {
	ok, err := img.IsUnpacked(ctx, "")
	if err != nil {
		return r.typed(err, imageObj(img.Name()))
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, ""); err != nil {
		return fmt.Errorf("unpack image %s: %w", img.Name(), r.typed(err, imageObj(img.Name())))
	}
	return nil
}

// imageConfig is the image's configuration (entrypoint, volumes...).
func imageConfig(ctx context.Context, img client.Image) (ocispec.ImageConfig, error) {
	s, err := img.Spec(ctx)
	if err != nil {
		return ocispec.ImageConfig{}, err
	}
	return s.Config, nil
}

// ImageExists reports whether ref is present; nothing is pulled.
func (r *Runtime) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := r.getImage(ctx, ref)
	if err == nil {
		return true, nil
	}
	if backends.IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("look for image %s: %w", ref, err)
}

// ImageLoad imports a docker-archive or OCI-layout tar stream (containerd's
// importer reads both) and unpacks what it names, so that nodes can be made
// from it at once.
func (r *Runtime) ImageLoad(ctx context.Context, tarStream io.Reader) ([]string, error) {
	refs, err := r.imageLoad(ctx, tarStream)
	if err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	return refs, nil
}

func (r *Runtime) imageLoad(ctx context.Context, tarStream io.Reader) ([]string, error) {
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return nil, err
	}
	imgs, err := cli.Import(ctx, tarStream)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if typed := r.typed(err, "image archive"); typed != err {
			return nil, typed
		}
		return nil, backends.NewError(backends.ErrInvalid, "image archive", err.Error())
	}
	var refs []string
	for _, m := range imgs {
		if err := r.unpack(ctx, client.NewImage(cli, m)); err != nil {
			return nil, err
		}
		refs = append(refs, m.Name)
	}
	return refs, nil
}

// ImageSave streams the images as one archive that is both a docker-archive
// (manifest.json, which `docker load` and k3s's `ctr images import` read) and
// an OCI layout.
func (r *Runtime) ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error) {
	if len(refs) == 0 {
		return nil, backends.NewError(backends.ErrInvalid, "images", "no image given to save")
	}
	cli, nctx, err := r.Client(ctx)
	if err != nil {
		return nil, fmt.Errorf("save images: %w", err)
	}
	opts := []archive.ExportOpt{archive.WithPlatform(platforms.DefaultStrict())}
	for _, ref := range refs {
		img, err := r.getImage(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("save images: %w", err)
		}
		opts = append(opts, archive.WithImage(cli.ImageService(), img.Name()))
	}
	ectx, cancel := context.WithCancel(nctx)
	pr, pw := io.Pipe()
	go func() {
		err := cli.Export(ectx, pw, opts...)
		pw.CloseWithError(r.typed(err, "images"))
	}()
	return &cancelReader{PipeReader: pr, cancel: cancel}, nil
}

// cancelReader stops the work behind a pipe when the reader is closed.
type cancelReader struct {
	*io.PipeReader
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancelReader) Close() error {
	c.once.Do(func() {
		c.cancel()
		_ = c.PipeReader.Close()
	})
	return nil
}

// ImageTag gives source the extra reference target, replacing any image
// that had it.
func (r *Runtime) ImageTag(ctx context.Context, source, target string) error {
	if err := r.imageTag(ctx, source, target); err != nil {
		return fmt.Errorf("tag image %s as %s: %w", source, target, err)
	}
	return nil
}

func (r *Runtime) imageTag(ctx context.Context, source, target string) error {
	img, err := r.getImage(ctx, source)
	if err != nil {
		return err
	}
	named, err := reference.ParseDockerRef(target)
	if err != nil {
		return invalid(imageObj(target), "%v", err)
	}
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return err
	}
	m := images.Image{Name: named.String(), Target: img.Target(), Labels: img.Labels()}
	is := cli.ImageService()
	if _, err := is.Create(ctx, m); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return r.typed(err, imageObj(target))
		}
		if _, err := is.Update(ctx, m, "target", "labels"); err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			return r.typed(err, imageObj(target))
		}
	}
	return nil
}
