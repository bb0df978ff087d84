package docker

import (
	"archive/tar"
	"bytes"
	"testing"
)

// The containerd image store names an image by its manifest; the config
// digest is then read from what `docker save` writes, in either layout.
func TestConfigDigestOfArchive(t *testing.T) {
	const hex = "4b825dc642cb6eb9a060e54bf8d69288fbee4904aaaaaaaaaaaaaaaaaaaaaaaa"
	for _, config := range []string{"blobs/sha256/" + hex, hex + ".json"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for name, data := range map[string]string{
			"repositories":  "{}",
			"manifest.json": `[{"Config":"` + config + `","RepoTags":["x:1"],"Layers":[]}]`,
		} {
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write([]byte(data)); err != nil {
				t.Fatal(err)
			}
		}
		tw.Close()
		got, err := configDigestOfArchive(&buf)
		if want := "sha256:" + hex; err != nil || got != want {
			t.Errorf("config %s: got %q, %v; want %s", config, got, err, want)
		}
	}
	if _, err := configDigestOfArchive(bytes.NewReader(nil)); err == nil {
		t.Error("an empty archive gave a digest")
	}
}
