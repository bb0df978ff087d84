package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/k3d/k3d/backends"
)

// loadOCI loads an archive that looks like an OCI layout. Docker before 25
// loads only docker-archives (manifest.json), so a layout without one is
// rewritten as a docker-archive first. That needs random access to the
// blobs: the stream is unpacked into a temporary directory, removed after.
func (r *Runtime) loadOCI(ctx context.Context, stream io.Reader) ([]string, error) {
	dir, err := os.MkdirTemp("", "k3d-oci-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := untar(ctx, stream, dir); err != nil {
		return nil, fmt.Errorf("unpack OCI layout: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		// Both layouts in one (Docker 25+ and BuildKit write these): every
		// daemon reads the docker-archive part.
		rd := tarDir(dir)
		defer rd.Close()
		return r.loadArchive(ctx, rd)
	}

	facts, err := r.info.Get(ctx, r.readInfo)
	if err != nil {
		return nil, err
	}
	refs, err := ociImages(dir, v1.Platform{OS: facts.info.OS, Architecture: facts.info.Arch})
	if err != nil {
		return nil, backends.NewError(backends.ErrInvalid, "OCI layout", err.Error())
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.MultiRefWrite(refs, pw)) }()
	defer pr.Close()
	return r.loadArchive(ctx, pr)
}

// Annotations that name an image in an OCI layout's index.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// ociImages lists the layout's images by the reference each should get. An
// index entry that is itself an index (a multi-platform image) contributes
// its image for platform. Images without a full name are loaded untagged.
func ociImages(dir string, platform v1.Platform) (map[name.Reference]v1.Image, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := map[name.Reference]v1.Image{}
	for _, desc := range im.Manifests {
		var img v1.Image
		switch {
		case desc.MediaType.IsImage():
			img, err = idx.Image(desc.Digest)
		case desc.MediaType.IsIndex():
			img, err = imageForPlatform(idx, desc.Digest, platform)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		ref, err := ociRefName(desc.Annotations, desc.Digest)
		if err != nil {
			return nil, err
		}
		out[ref] = img
	}
	if len(out) == 0 {
		return nil, errors.New("no image in the layout's index")
	}
	return out, nil
}

func imageForPlatform(parent v1.ImageIndex, h v1.Hash, platform v1.Platform) (v1.Image, error) {
	idx, err := parent.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var images []v1.Descriptor
	for _, d := range im.Manifests {
		if d.MediaType.IsImage() {
			images = append(images, d)
		}
	}
	for _, d := range images {
		if d.Platform != nil && d.Platform.OS == platform.OS && d.Platform.Architecture == platform.Architecture {
			return idx.Image(d.Digest)
		}
	}
	if len(images) == 1 {
		return idx.Image(images[0].Digest)
	}
	return nil, fmt.Errorf("image %s has no %s/%s variant", h, platform.OS, platform.Architecture)
}

// ociRefName picks the reference an index entry names. containerd and
// BuildKit write the full name in their own annotation and only the tag in
// the OCI one; other tools write the full name in the OCI one. A bare tag
// names no repository: such an image is loaded untagged, under its digest.
func ociRefName(ann map[string]string, digest v1.Hash) (name.Reference, error) {
	for _, key := range []string{annotationContainerdName, annotationRefName} {
		s := ann[key]
		if s == "" || !strings.ContainsAny(s, "/:") {
			continue
		}
		if ref, err := name.ParseReference(s); err == nil {
			return ref, nil
		}
	}
	// tarball writes no tag for a digest reference; the repository is a placeholder.
	return name.NewDigest("k3d.invalid/untagged@" + digest.String())
}

// untar unpacks regular files and directories of a tar stream under dir,
// refusing paths that would leave it.
func untar(ctx context.Context, r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel := filepath.Clean(filepath.FromSlash(hdr.Name))
		if rel == "." {
			continue
		}
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fmt.Errorf("entry %q leaves the archive", hdr.Name)
		}
		target := filepath.Join(dir, rel)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// tarDir streams a directory as a tar archive, paths relative to dir.
func tarDir(dir string) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.AddFS(os.DirFS(dir))
		if cerr := tw.Close(); err == nil {
			err = cerr
		}
		pw.CloseWithError(err)
	}()
	return pr
}
