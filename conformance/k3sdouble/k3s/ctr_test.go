package k3s

import (
	"archive/tar"
	"bytes"
	"context"
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
