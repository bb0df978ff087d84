package conformance

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/imagebuild"
)

var configDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// testImageInspect: an image's ID is the digest of its config, the same one
// any other runtime (and a node's containerd) reports for it, and it
// survives a save and a load; a missing image is ErrNotFound naming it.
func testImageInspect(t *testing.T, f *fixture) {
	want, err := configDigestOf(testImageSpec(f.s.image, goArch(f.s.info.Arch), f.s.binary))
	if err != nil {
		t.Fatalf("config digest of the test image: %v", err)
	}
	img, err := f.rt.ImageInspect(f.ctx, f.s.image)
	if err != nil {
		t.Fatalf("inspect image %s: %v", f.s.image, err)
	}
	if !configDigest.MatchString(img.ID) {
		t.Errorf("inspect image %s: ID %q is not a sha256 digest", f.s.image, img.ID)
	}
	if img.ID != want {
		t.Errorf("inspect image %s: ID %s, want the digest of its config %s", f.s.image, img.ID, want)
	}
	if !containsRef(img.Refs, f.s.image) {
		t.Errorf("inspect image %s: refs %q do not name it", f.s.image, img.Refs)
	}
	if img.Size <= 0 {
		t.Errorf("inspect image %s: size %d", f.s.image, img.Size)
	}

	// Under a name of its own, so that reloading it cannot disturb the other
	// behaviours' nodes; named after the image, so a re-run replaces it.
	hash := f.s.image[strings.LastIndex(f.s.image, ":")+1:]
	tagged := "k3d-conformance-inspect:" + hash
	if err := f.rt.ImageTag(f.ctx, f.s.image, tagged); err != nil {
		t.Fatalf("tag %s as %s: %v", f.s.image, tagged, err)
	}
	rc, err := f.rt.ImageSave(f.ctx, []string{tagged})
	if err != nil {
		t.Fatalf("save image %s: %v", tagged, err)
	}
	saved, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatalf("read saved image %s: %v", tagged, err)
	}
	if _, err := f.rt.ImageLoad(f.ctx, bytes.NewReader(saved)); err != nil {
		t.Fatalf("load the saved image %s again: %v", tagged, err)
	}
	again, err := f.rt.ImageInspect(f.ctx, tagged)
	if err != nil {
		t.Fatalf("inspect image %s after save and load: %v", tagged, err)
	}
	if again.ID != img.ID {
		t.Errorf("image ID changed across save and load: %s, then %s", img.ID, again.ID)
	}
	if !containsRef(again.Refs, tagged) {
		t.Errorf("inspect image %s after save and load: refs %q do not name it", tagged, again.Refs)
	}

	missing := "k3d-conformance-missing:" + f.s.runID
	_, err = f.rt.ImageInspect(f.ctx, missing)
	wantKind(t, "inspect a missing image", err, backends.ErrNotFound)
	if err != nil && !strings.Contains(err.Error(), missing) {
		t.Errorf("inspect a missing image: error %q does not name %s", err, missing)
	}
}

// configDigestOf is the digest of the config of the image spec builds.
func configDigestOf(spec imagebuild.Spec) (string, error) {
	img, _, err := imagebuild.Image(spec)
	if err != nil {
		return "", err
	}
	h, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}
