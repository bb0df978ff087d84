package imagebuild

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestWriteArchiveRoundTrip(t *testing.T) {
	spec := Spec{
		Ref:        "k3d-test/imagebuild:v1",
		Entrypoint: []string{"/bin/app"},
		Cmd:        []string{"serve"},
		Env:        []string{"PATH=/bin"},
		Labels:     map[string]string{"app": "k3d"},
		User:       "65534",
		Files: []File{
			{Path: "/bin/app", Mode: 0o755, Data: []byte("#!binary")},
			{Path: "/bin/ctr", Mode: os.ModeSymlink | 0o777, Linkname: "app"},
			{Path: "/etc/k3d", Mode: os.ModeDir | 0o777, UID: 65534},
		},
	}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, spec); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }, nil)
	if err != nil {
		t.Fatalf("archive is not a loadable docker-archive: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; len(got) != 1 || got[0] != "/bin/app" {
		t.Errorf("entrypoint = %v", got)
	}
	if cf.Config.User != "65534" || cf.OS != "linux" || cf.Config.Labels["app"] != "k3d" {
		t.Errorf("config = %+v", cf.Config)
	}
	layers, _ := img.Layers()
	if len(layers) != 1 {
		t.Fatalf("want one layer, got %d", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	seen := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = h
	}
	for _, want := range []string{"bin/", "bin/app", "bin/ctr", "etc/", "etc/k3d/"} {
		if seen[want] == nil {
			t.Errorf("layer lacks %s (has %v)", want, seen)
		}
	}
	if h := seen["bin/app"]; h != nil && h.Mode != 0o755 {
		t.Errorf("bin/app mode %o, want 755", h.Mode)
	}
	if h := seen["bin/ctr"]; h != nil && h.Linkname != "app" {
		t.Errorf("bin/ctr links to %q", h.Linkname)
	}
	if h := seen["etc/k3d/"]; h != nil && h.Uid != 65534 {
		t.Errorf("etc/k3d owner %d", h.Uid)
	}
}

func TestSameFilesSameImage(t *testing.T) {
	spec := Spec{Ref: "k3d-test/x:1", Files: []File{{Path: "/a", Mode: 0o644, Data: []byte("a")}}}
	d := func() string {
		img, _, err := Image(spec)
		if err != nil {
			t.Fatal(err)
		}
		h, err := img.ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
	if a, b := d(), d(); a != b {
		t.Errorf("image ID changed between identical builds: %s vs %s", a, b)
	}
}

func TestBadReference(t *testing.T) {
	if err := WriteArchive(io.Discard, Spec{Ref: "Bad Ref!"}); err == nil {
		t.Error("want an error for an invalid reference")
	}
}
