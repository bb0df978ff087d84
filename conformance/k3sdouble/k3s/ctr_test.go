package k3s

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// runTool runs ctr, crictl or kubectl as a node's shell would.
func runTool(t *testing.T, dataDir string, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	env := Env{Args: args, Stdin: stdin, Stdout: &out, Stderr: &errOut, Now: time.Now,
		Getenv: func(k string) string {
			if k == "K3S_DATA_DIR" {
				return dataDir
			}
			return ""
		}}
	code = Main(context.Background(), env)
	return code, out.String(), errOut.String()
}

// testImage is a small random image for linux/amd64.
func testImage(t *testing.T, size int64, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func dockerArchive(t *testing.T, refs ...string) ([]byte, v1.Image) {
	t.Helper()
	img := testImage(t, 1024, 2)
	m := map[name.Tag]v1.Image{}
	for _, r := range refs {
		tag, err := name.NewTag(r)
		if err != nil {
			t.Fatal(err)
		}
		m[tag] = img
	}
	var buf bytes.Buffer
	if err := tarball.MultiWrite(m, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), img
}

func TestCtrImportsDockerArchive(t *testing.T) {
	data := t.TempDir()
	archive, img := dockerArchive(t, "foo:bar", "registry.local:5000/team/app:v1")
	code, out, errOut := runTool(t, data, bytes.NewReader(archive), "ctr", "-n", "k8s.io", "images", "import", "--digests", "--all-platforms", "-")
	if code != 0 {
		t.Fatalf("ctr images import = %d: %s", code, errOut)
	}
	for _, ref := range []string{"docker.io/library/foo:bar", "registry.local:5000/team/app:v1"} {
		if !strings.Contains(out, "unpacking "+ref+" (sha256:") || !strings.Contains(out, ")...done") {
			t.Errorf("import output lacks %s:\n%s", ref, out)
		}
	}

	code, out, _ = runTool(t, data, nil, "ctr", "images", "ls")
	if code != 0 {
		t.Fatal(out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "REF TYPE DIGEST SIZE PLATFORMS LABELS" {
		t.Errorf("header = %q", lines[0])
	}
	if len(lines) != 3 {
		t.Fatalf("ctr images ls:\n%s", out)
	}
	cfgName, _ := img.ConfigName()
	row := strings.Fields(lines[1])
	if row[0] != "docker.io/library/foo:bar" || row[1] != mediaDockerManifest || !strings.HasPrefix(row[2], "sha256:") ||
		row[5] != "linux/amd64" || row[6] != "io.cri-containerd.image=managed" {
		t.Errorf("row = %q", lines[1])
	}

	code, out, _ = runTool(t, data, nil, "k3s", "ctr", "-n=k8s.io", "image", "list", "-q")
	if code != 0 || strings.TrimSpace(out) != "docker.io/library/foo:bar\nregistry.local:5000/team/app:v1" {
		t.Errorf("ctr image list -q = %d:\n%s", code, out)
	}
	// crictl sees the k8s.io namespace, by image ID (the config digest).
	code, out, _ = runTool(t, data, nil, "crictl", "images")
	if code != 0 || !strings.Contains(out, "docker.io/library/foo") || !strings.Contains(out, cfgName.Hex[:13]) {
		t.Errorf("crictl images = %d:\n%s", code, out)
	}
	// Other namespaces are apart.
	code, out, _ = runTool(t, data, nil, "ctr", "-n", "default", "images", "ls", "-q")
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("default namespace lists %q", out)
	}
}

func TestCtrImportsOCILayoutFromFile(t *testing.T) {
	data := t.TempDir()
	dir := t.TempDir()
	img := testImage(t, 512, 1)
	p, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"io.containerd.image.name": "docker.io/library/oci:1"})); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "oci.tar")
	tarDir(t, filepath.Join(dir, "layout"), tarPath)
	code, out, errOut := runTool(t, data, nil, "ctr", "image", "import", tarPath)
	if code != 0 {
		t.Fatalf("import = %d: %s", code, errOut)
	}
	digest, _ := img.Digest()
	if strings.TrimSpace(out) != "unpacking docker.io/library/oci:1 ("+digest.String()+")...done" {
		t.Errorf("import output = %q", out)
	}
	_, out, _ = runTool(t, data, nil, "ctr", "images", "ls")
	mt, _ := img.MediaType()
	if !strings.Contains(out, string(mt)) || !strings.Contains(out, digest.String()) || !strings.Contains(out, "linux/amd64") {
		t.Errorf("ls:\n%s", out)
	}
}

func TestCtrRejectsWhatIsNotAnImage(t *testing.T) {
	data := t.TempDir()
	var notImage bytes.Buffer
	tw := tar.NewWriter(&notImage)
	_ = tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: 2})
	_, _ = tw.Write([]byte("hi"))
	tw.Close()
	for name, in := range map[string][]byte{"empty": nil, "garbage": []byte("not a tar at all, not at all........"), "tar without image": notImage.Bytes()} {
		code, _, errOut := runTool(t, data, bytes.NewReader(in), "ctr", "images", "import", "-")
		if code == 0 || !strings.HasPrefix(errOut, "ctr: unrecognized image format") {
			t.Errorf("%s: exit %d, stderr %q", name, code, errOut)
		}
	}
	_, out, _ := runTool(t, data, nil, "ctr", "images", "ls", "-q")
	if strings.TrimSpace(out) != "" {
		t.Errorf("failed imports recorded images: %q", out)
	}
}

func TestAirgapImagesAreImportedAtStart(t *testing.T) {
	dir := t.TempDir()
	archive, _ := dockerArchive(t, "airgap:1")
	imagesDir := filepath.Join(dir, "server-0", "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(imagesDir, "airgap.tar"), archive, 0o644); err != nil {
		t.Fatal(err)
	}
	startServer(t, dir, "server-0")
	_, out, _ := runTool(t, filepath.Join(dir, "server-0"), nil, "ctr", "images", "ls", "-q")
	if strings.TrimSpace(out) != "docker.io/library/airgap:1" {
		t.Errorf("images after start = %q", out)
	}
}

func tarDir(t *testing.T, src, dst string) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// crictl's JSON lists each image once, by the ID k3d compares with the
// source runtime's (the config digest), with every tag naming it; a
// rebuilt image imported under an old tag takes that tag over.
func TestCrictlImagesJSONByImageID(t *testing.T) {
	data := t.TempDir()
	archive, img := dockerArchive(t, "app:v1", "app:latest")
	if code, _, errOut := runTool(t, data, bytes.NewReader(archive), "ctr", "-n", "k8s.io", "images", "import", "-"); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	other, _ := dockerArchive(t, "registry.local:5000/tools/other:2")
	if code, _, errOut := runTool(t, data, bytes.NewReader(other), "ctr", "-n", "k8s.io", "images", "import", "-"); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	hidden, _ := dockerArchive(t, "elsewhere:1")
	if code, _, errOut := runTool(t, data, bytes.NewReader(hidden), "ctr", "-n", "default", "images", "import", "-"); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	type listed struct {
		Images []struct {
			ID          string   `json:"id"`
			RepoTags    []string `json:"repoTags"`
			RepoDigests []string `json:"repoDigests"`
			Size        string   `json:"size"`
			Pinned      *bool    `json:"pinned"`
		} `json:"images"`
	}
	list := func(args ...string) listed {
		t.Helper()
		code, out, errOut := runTool(t, data, nil, args...)
		if code != 0 {
			t.Fatalf("%v = %d: %s", args, code, errOut)
		}
		var l listed
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("%v printed no JSON image list: %v\n%s", args, err, out)
		}
		return l
	}
	cfg, _ := img.ConfigName()
	_, ls, _ := runTool(t, data, nil, "ctr", "-n", "k8s.io", "images", "ls")
	ls = strings.Join(strings.Fields(ls), " ")
	for _, args := range [][]string{
		{"crictl", "images", "-o", "json"},
		{"crictl", "images", "--output", "json"},
		{"crictl", "images", "-o=json"},
		{"crictl", "--runtime-endpoint", "unix:///run/k3s/containerd/containerd.sock", "images", "--output=json"},
		{"k3s", "crictl", "img", "-ojson"},
	} {
		l := list(args...)
		if len(l.Images) != 2 {
			t.Fatalf("%v lists %d images, want 2 (one per image ID, k8s.io only):\n%+v", args, len(l.Images), l)
		}
		a := l.Images[0]
		if a.ID != cfg.String() {
			t.Errorf("%v: id %s, want the config digest %s", args, a.ID, cfg)
		}
		if strings.Join(a.RepoTags, " ") != "docker.io/library/app:latest docker.io/library/app:v1" {
			t.Errorf("%v: repoTags %v", args, a.RepoTags)
		}
		// The digest of the manifest containerd made of the archive, as
		// `ctr images ls` shows it.
		if len(a.RepoDigests) != 1 || !strings.Contains(ls, "docker.io/library/app:v1 "+mediaDockerManifest+" "+strings.TrimPrefix(a.RepoDigests[0], "docker.io/library/app@")) {
			t.Errorf("%v: repoDigests %v, want the manifest digest `ctr images ls` shows:\n%s", args, a.RepoDigests, ls)
		}
		if a.Size == "" || a.Size == "0" || a.Pinned == nil {
			t.Errorf("%v: size %q, pinned %v: want crictl's fields", args, a.Size, a.Pinned)
		}
		if strings.Join(l.Images[1].RepoTags, " ") != "registry.local:5000/tools/other:2" {
			t.Errorf("%v: second image tags %v", args, l.Images[1].RepoTags)
		}
	}

	rebuilt, img2 := dockerArchive(t, "app:v1")
	if code, _, errOut := runTool(t, data, bytes.NewReader(rebuilt), "ctr", "-n", "k8s.io", "images", "import", "-"); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	cfg2, _ := img2.ConfigName()
	ids := map[string]string{}
	for _, im := range list("crictl", "images", "-o", "json").Images {
		for _, tag := range im.RepoTags {
			ids[tag] = im.ID
		}
	}
	if ids["docker.io/library/app:v1"] != cfg2.String() || ids["docker.io/library/app:latest"] != cfg.String() {
		t.Errorf("after importing a rebuilt app:v1: ids by tag %v, want app:v1=%s and app:latest=%s", ids, cfg2, cfg)
	}

	if code, out, _ := runTool(t, t.TempDir(), nil, "crictl", "images", "-o", "json"); code != 0 || strings.Join(strings.Fields(out), "") != `{"images":[]}` {
		t.Errorf("no images: exit %d, %q", code, out)
	}
	if code, _, errOut := runTool(t, data, nil, "crictl", "images", "-o", "xml"); code == 0 || !strings.Contains(errOut, "xml") {
		t.Errorf("unknown format: exit %d, %q", code, errOut)
	}
}
