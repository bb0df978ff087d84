package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/k3d/k3d/backends"
)

// removeImage drops a test image after the test.
func removeImage(t *testing.T, ref string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = suite.rt.cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
}

func TestImages(t *testing.T) {
	rt, ctx := needDaemon(t)
	if ok, err := rt.ImageExists(ctx, suite.image); err != nil || !ok {
		t.Fatalf("ImageExists(test image) = %v, %v", ok, err)
	}
	missing := "k3d-test/not-there:" + suite.runID
	if ok, err := rt.ImageExists(ctx, missing); err != nil || ok {
		t.Errorf("ImageExists(missing) = %v, %v", ok, err)
	}

	tagged := "k3d-test/docker-tagged:" + suite.runID
	removeImage(t, tagged)
	if err := rt.ImageTag(ctx, suite.image, tagged); err != nil {
		t.Fatal(err)
	}
	if ok, _ := rt.ImageExists(ctx, tagged); !ok {
		t.Error("tag not present after ImageTag")
	}
	err := rt.ImageTag(ctx, missing, tagged)
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", `image "`+missing+`"`)

	_, err = rt.ImageSave(ctx, []string{suite.image, missing})
	wantKind(t, err, backends.IsNotFound, "ErrNotFound", `image "`+missing+`"`)

	// Save, drop the tag, load the archive again: the tag comes back.
	rc, err := rt.ImageSave(ctx, []string{tagged})
	if err != nil {
		t.Fatal(err)
	}
	archive, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(archive)), nil }); err != nil {
		t.Errorf("saved stream is not a docker-archive: %v", err)
	}
	if _, err := rt.cli.ImageRemove(ctx, tagged, image.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	refs, err := rt.ImageLoad(ctx, bytes.NewReader(archive))
	if err != nil || !slices.Equal(refs, []string{tagged}) {
		t.Errorf("ImageLoad of the saved archive = %v, %v; want [%s]", refs, err, tagged)
	}

	// A stream the daemon cannot read fails the load.
	var bad bytes.Buffer
	tw := tar.NewWriter(&bad)
	tw.WriteHeader(&tar.Header{Name: "manifest.json", Size: 9, Mode: 0o644})
	tw.Write([]byte("not json!"))
	tw.Close()
	if refs, err := rt.ImageLoad(ctx, &bad); err == nil {
		t.Errorf("ImageLoad of a broken archive = %v, want an error", refs)
	}
}

// Docker 20.10 loads only docker-archives: an OCI layout is converted first.
func TestImageLoadOCILayout(t *testing.T) {
	rt, ctx := needDaemon(t)
	img, err := testprogImage(suite.progBin)
	if err != nil {
		t.Fatal(err)
	}
	ref := "k3d-test/docker-oci:" + suite.runID
	removeImage(t, ref)
	tarBytes, err := ociArchive(t.TempDir(), img, map[string]string{annotationRefName: ref})
	if err != nil {
		t.Fatal(err)
	}
	oci, _, _ := sniffOCI(bytes.NewReader(tarBytes))
	if !oci {
		t.Fatal("the OCI layout was not recognized")
	}
	refs, err := rt.ImageLoad(ctx, bytes.NewReader(tarBytes))
	if err != nil || !slices.Equal(refs, []string{ref}) {
		t.Fatalf("ImageLoad(OCI layout) = %v, %v; want [%s]", refs, err, ref)
	}
	// The loaded image runs.
	spec := nodeSpec(t, "oci")
	spec.Image = ref
	startedNode(t, spec)
	if out, _, _ := execOut(t, spec.Name, "echo", "from", "oci"); out != "from oci\n" {
		t.Errorf("exec in a node from the OCI image = %q", out)
	}

	// containerd's annotation carries the full name when the OCI one has
	// only the tag.
	ref2 := "k3d-test/docker-oci2:" + suite.runID
	removeImage(t, ref2)
	tarBytes, err = ociArchive(t.TempDir(), img, map[string]string{annotationRefName: suite.runID, annotationContainerdName: ref2})
	if err != nil {
		t.Fatal(err)
	}
	if refs, err := rt.ImageLoad(ctx, bytes.NewReader(tarBytes)); err != nil || !slices.Equal(refs, []string{ref2}) {
		t.Errorf("ImageLoad(containerd-named OCI layout) = %v, %v; want [%s]", refs, err, ref2)
	}

	// Without a name the image loads untagged, reported by ID.
	tarBytes, err = ociArchive(t.TempDir(), img, nil)
	if err != nil {
		t.Fatal(err)
	}
	refs, err = rt.ImageLoad(ctx, bytes.NewReader(tarBytes))
	if err != nil || len(refs) != 1 || !strings.HasPrefix(refs[0], "sha256:") {
		t.Errorf("ImageLoad(unnamed OCI layout) = %v, %v; want one image ID", refs, err)
	}
}

func TestParseLoadAnswer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		json    bool
		want    []string
		wantErr string
	}{
		{"json", `{"stream":"Loaded image: foo:1\n"}` + "\n" + `{"stream":"Loaded image ID: sha256:abc\n"}`, true, []string{"foo:1", "sha256:abc"}, ""},
		{"json renaming note", `{"stream":"The image foo:1 already exists, renaming the old one with ID sha256:1 to empty string\n"}{"stream":"Loaded image: foo:1\n"}`, true, []string{"foo:1"}, ""},
		{"json error", `{"stream":"Loaded image: foo:1\n"}{"errorDetail":{"message":"archive/tar: invalid tar header"},"error":"archive/tar: invalid tar header"}`, true, nil, "invalid tar header"},
		{"plain", "Loaded image: a/b:c\nLoaded image ID: sha256:def\n", false, []string{"a/b:c", "sha256:def"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLoadAnswer(strings.NewReader(tc.body), tc.json)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !backends.IsInvalid(err) {
					t.Errorf("err = %v, want ErrInvalid with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestSniffOCI(t *testing.T) {
	mk := func(names ...string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, n := range names {
			if strings.HasSuffix(n, "/") {
				tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755})
				continue
			}
			tw.WriteHeader(&tar.Header{Name: n, Size: 2, Mode: 0o644})
			tw.Write([]byte("{}"))
		}
		tw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		names []string
		oci   bool
	}{
		{[]string{"oci-layout", "index.json", "blobs/"}, true},
		{[]string{"./", "./blobs/", "./blobs/sha256/", "./index.json"}, true},
		{[]string{"index.json", "manifest.json"}, true}, // checked properly on the slow path
		{[]string{"sha256:abc", "def.tar.gz", "manifest.json"}, false},
		{[]string{"0123abcd/", "0123abcd/layer.tar", "manifest.json", "repositories"}, false},
		{nil, false},
	} {
		data := mk(tc.names...)
		oci, replay, err := sniffOCI(bytes.NewReader(data))
		if err != nil || oci != tc.oci {
			t.Errorf("%v: oci = %v, %v; want %v", tc.names, oci, err, tc.oci)
		}
		// Whatever was read to decide is replayed.
		if got, _ := io.ReadAll(replay); !bytes.Equal(got, data) {
			t.Errorf("%v: replayed %d bytes, want the %d of the stream", tc.names, len(got), len(data))
		}
	}
}
