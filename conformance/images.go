package conformance

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/imagebuild"
)

// testImages: exists, tag, save to a docker-archive that names the tag and
// loads again, load of an OCI-layout stream, and ErrNotFound for missing
// images. The contract has no image delete, so the images this makes are
// named after the test program's hash: a re-run replaces them instead of
// adding more.
func testImages(t *testing.T, f *fixture) {
	hash := f.s.image[strings.LastIndex(f.s.image, ":")+1:]
	missing := "k3d-conformance-missing:" + f.s.runID

	if ok, err := f.rt.ImageExists(f.ctx, f.s.image); err != nil || !ok {
		t.Errorf("image exists %s (just loaded): %t, %v", f.s.image, ok, err)
	}
	if ok, err := f.rt.ImageExists(f.ctx, missing); err != nil || ok {
		t.Errorf("image exists %s (never loaded): %t, %v; want false and no error", missing, ok, err)
	}

	tagged := "k3d-conformance-tagged:" + hash
	if err := f.rt.ImageTag(f.ctx, f.s.image, tagged); err != nil {
		t.Fatalf("tag %s as %s: %v", f.s.image, tagged, err)
	}
	if ok, err := f.rt.ImageExists(f.ctx, tagged); err != nil || !ok {
		t.Errorf("image exists %s after tagging: %t, %v", tagged, ok, err)
	}
	err := f.rt.ImageTag(f.ctx, missing, "k3d-conformance-never:"+f.s.runID)
	wantKind(t, "tag a missing image", err, backends.ErrNotFound)

	rc, err := f.rt.ImageSave(f.ctx, []string{tagged})
	if err != nil {
		t.Fatalf("save image %s: %v", tagged, err)
	}
	saved, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("read saved image %s: %v", tagged, err)
	}
	if err := checkDockerArchive(saved, tagged); err != nil {
		t.Errorf("saved image %s: %v", tagged, err)
	}
	refs, err := f.rt.ImageLoad(f.ctx, bytes.NewReader(saved))
	if err != nil {
		t.Fatalf("load the saved image %s again: %v", tagged, err)
	}
	if !containsRef(refs, tagged) {
		t.Errorf("load the saved image %s again: loaded %q", tagged, refs)
	}

	_, err = f.rt.ImageSave(f.ctx, []string{f.s.image, missing})
	wantKind(t, "save a missing image", err, backends.ErrNotFound)
	if err != nil && !strings.Contains(err.Error(), missing) {
		t.Errorf("save a missing image: error %q does not name %s", err, missing)
	}

	// What `docker save` writes since Docker 25 and what containerd and
	// Podman export: an OCI image layout.
	oci := "k3d-conformance-oci:" + hash
	layoutTar, err := ociLayoutTar(t, testImageSpec(oci, goArch(f.s.info.Arch), f.s.binary))
	if err != nil {
		t.Fatalf("write OCI layout of %s: %v", oci, err)
	}
	refs, err = f.rt.ImageLoad(f.ctx, bytes.NewReader(layoutTar))
	if err != nil {
		t.Fatalf("load OCI layout of %s: %v", oci, err)
	}
	if !containsRef(refs, oci) {
		t.Errorf("load OCI layout of %s: loaded %q", oci, refs)
	}
	if ok, err := f.rt.ImageExists(f.ctx, oci); err != nil || !ok {
		t.Errorf("image exists %s after loading it: %t, %v", oci, ok, err)
	}

	// Both images run.
	for i, ref := range []string{tagged, oci} {
		name := f.name(fmt.Sprintf("run%d", i))
		f.runNode(backends.NodeSpec{Name: name, Image: ref})
		if out := f.run(name, "out", "running "+ref); strings.TrimSpace(out) != "running "+ref {
			t.Errorf("node %s from image %s: %q", name, ref, out)
		}
	}

	_, err = f.rt.CreateNode(f.ctx, f.nodeSpec(backends.NodeSpec{Name: f.name("nope"), Image: missing}))
	wantKind(t, "create a node from a missing image", err, backends.ErrNotFound)
	if err != nil && !strings.Contains(err.Error(), missing) {
		t.Errorf("create a node from a missing image: error %q does not name the image", err)
	}
	if _, err := f.rt.InspectNode(f.ctx, f.name("nope")); !backends.IsNotFound(err) {
		f.deleteLater("node", f.name("nope"), f.rt.DeleteNode)
		t.Errorf("failed create from a missing image left node %s behind (%v)", f.name("nope"), err)
	}
}

// checkDockerArchive checks that b is a docker-archive naming ref, with the
// config and layers its manifest lists.
func checkDockerArchive(b []byte, ref string) error {
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not a tar stream: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(hdr.Name, "./")] = data
	}
	raw, ok := files["manifest.json"]
	if !ok {
		return fmt.Errorf("no manifest.json among %d files: not a docker-archive", len(files))
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	for _, m := range manifest {
		if !containsRef(m.RepoTags, ref) {
			continue
		}
		for _, p := range append([]string{m.Config}, m.Layers...) {
			if _, ok := files[p]; !ok {
				return fmt.Errorf("manifest.json lists %s, which the archive lacks", p)
			}
		}
		if len(m.Layers) == 0 {
			return fmt.Errorf("image %s has no layers", ref)
		}
		return nil
	}
	return fmt.Errorf("manifest.json does not name %s: %s", ref, raw)
}

// ociLayoutTar writes spec as an OCI image layout in a tar stream, named the
// way containerd and Docker name images in theirs.
func ociLayoutTar(t *testing.T, spec imagebuild.Spec) ([]byte, error) {
	dockerImg, _, err := imagebuild.Image(spec)
	if err != nil {
		return nil, err
	}
	cf, err := dockerImg.ConfigFile()
	if err != nil {
		return nil, err
	}
	dockerLayers, err := dockerImg.Layers()
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	var layers []v1.Layer
	for _, l := range dockerLayers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		layers = append(layers, static.NewLayer(data, types.OCIUncompressedLayer))
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return nil, err
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}

	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return nil, err
	}
	tag := spec.Ref[strings.LastIndex(spec.Ref, ":")+1:]
	err = p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          "docker.io/library/" + spec.Ref,
		"org.opencontainers.image.ref.name": tag,
	}))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
