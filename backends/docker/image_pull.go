package docker

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/pull"
)

// ImageInspect describes a present image; nothing is pulled.
func (r *Runtime) ImageInspect(ctx context.Context, ref string) (backends.Image, error) {
	img, err := r.imageInspect(ctx, ref)
	if err != nil {
		return backends.Image{}, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img, nil
}

func (r *Runtime) imageInspect(ctx context.Context, ref string) (backends.Image, error) {
	resp, err := r.cli.ImageInspect(ctx, ref)
	if err != nil {
		return backends.Image{}, r.typed(err, imageObj(ref), conflictIsExists)
	}
	id := resp.ID
	// With the containerd image store (Docker 29's default) the daemon's ID
	// is the digest of the manifest or index it holds, not of the config the
	// contract asks for; the config is named in what the daemon saves.
	if resp.Descriptor != nil && resp.Descriptor.Digest.String() == id {
		if id, err = r.savedConfigDigest(ctx, ref); err != nil {
			return backends.Image{}, err
		}
	}
	return backends.Image{
		ID:   id,
		Refs: append(append([]string{}, resp.RepoTags...), resp.RepoDigests...),
		Size: resp.Size,
	}, nil
}

// savedConfigDigest reads the config digest of ref from the docker-archive
// manifest of `docker save`. The daemon writes the whole image, so this is
// for daemons that report no config digest of their own.
func (r *Runtime) savedConfigDigest(ctx context.Context, ref string) (string, error) {
	rc, err := r.cli.ImageSave(ctx, []string{ref})
	if err != nil {
		return "", r.typed(err, imageObj(ref), conflictIsExists)
	}
	defer rc.Close()
	return configDigestOfArchive(rc)
}

// configDigestOfArchive finds the config of the (only) image in a
// docker-archive: its manifest.json names the config file, whose name is
// the digest ("blobs/sha256/HEX" since Docker 25, "HEX.json" before).
func configDigestOfArchive(archive io.Reader) (string, error) {
	tr := tar.NewReader(archive)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return "", errors.New("the saved image has no manifest.json")
		}
		if err != nil {
			return "", fmt.Errorf("read the saved image: %w", err)
		}
		if path.Clean(hdr.Name) != "manifest.json" {
			continue
		}
		var manifest []struct{ Config string }
		if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
			return "", fmt.Errorf("read manifest.json of the saved image: %w", err)
		}
		if len(manifest) == 0 {
			return "", errors.New("manifest.json of the saved image lists no image")
		}
		cfg := manifest[0].Config
		if dir, hex, ok := strings.Cut(strings.TrimPrefix(cfg, "blobs/"), "/"); ok && !strings.Contains(hex, "/") {
			return dir + ":" + hex, nil
		}
		return "sha256:" + strings.TrimSuffix(path.Base(cfg), ".json"), nil
	}
}

// ImagePull has the daemon pull ref, reporting the bytes of its layers as
// the daemon's JSON messages tell them. The daemon speaks plain HTTP to
// loopback registries by itself (they are insecure registries by default).
func (r *Runtime) ImagePull(ctx context.Context, ref string, opts backends.PullOptions) error {
	if err := r.imagePull(ctx, ref, opts); err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	return nil
}

func (r *Runtime) imagePull(ctx context.Context, ref string, opts backends.PullOptions) error {
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return backends.NewError(backends.ErrInvalid, imageObj(ref), err.Error())
	}
	body, err := r.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return r.pullError(ctx, ref, err)
	}
	defer body.Close()
	var layers pull.Layers
	dec := json.NewDecoder(body)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read the daemon's pull messages: %w", err)
		}
		if m.Error != nil {
			return r.pullError(ctx, ref, errors.New(m.Error.Message))
		}
		var current, total int64
		if m.Progress != nil {
			current, total = m.Progress.Current, m.Progress.Total
		}
		p := layers.Update(m.ID, m.Status, current, total)
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
}

// pullError types a failed pull: the daemon itself unreachable, the caller
// gone, the registry unreachable or without the image, or a bad reference.
func (r *Runtime) pullError(ctx context.Context, ref string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if isTransportError(err) {
		return r.unreachable(err)
	}
	msg := daemonMessage(err)
	if typed := pull.Classify(ref, msg); typed != nil {
		return typed
	}
	return r.typed(err, imageObj(ref), conflictIsExists)
}
