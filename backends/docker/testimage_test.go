package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The tests cannot pull, so they build their image: the static test program
// in one layer, packed with go-containerregistry and loaded through the
// backend's own ImageLoad.

// buildTestprog compiles internal/testprog as a static binary into dir.
func buildTestprog(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "testprog")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./internal/testprog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, b)
	}
	return out, nil
}

// layerFile is one entry of a layer.
type layerFile struct {
	path string
	mode int64
	data io.Reader
	size int64
	dir  bool
	link string // symlink target
}

// testprogCommands are the names the image links to the test program.
var testprogCommands = []string{"serve", "echo", "stderr", "cat", "exit", "env", "pwd", "id", "lines", "write", "privcheck", "resolve", "stat"}

// layerTar writes an uncompressed layer tarball.
func layerTar(files []layerFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.path, Mode: f.mode, ModTime: time.Unix(0, 0)}
		switch {
		case f.dir:
			hdr.Typeflag = tar.TypeDir
		case f.link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.link
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, f.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// testprogImage is an image whose entrypoint is the test program.
func testprogImage(progBin string, extra ...layerFile) (v1.Image, error) {
	prog, err := os.ReadFile(progBin)
	if err != nil {
		return nil, err
	}
	files := append([]layerFile{
		{path: "etc/", mode: 0o755, dir: true},
		{path: "tmp/", mode: 0o1777, dir: true},
		{path: "testprog", mode: 0o755, data: bytes.NewReader(prog), size: int64(len(prog))},
	}, extra...)
	for _, c := range testprogCommands {
		files = append(files, layerFile{path: c, mode: 0o777, link: "testprog"})
	}
	b, err := layerTar(files)
	if err != nil {
		return nil, err
	}
	// An uncompressed layer: the daemon takes it as is, and nothing spends
	// time compressing test data.
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(b, types.DockerUncompressedLayer)})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{"/testprog"}
	cf.Config.Cmd = []string{"serve"}
	cf.Config.Env = []string{"PATH=/"}
	// The daemon merges image labels into a node's; the backend must not
	// return them as the node's own (tests give "app" a value of their own).
	cf.Config.Labels = map[string]string{"k3d.test.image": "testprog", "app": "from-image"}
	return mutate.ConfigFile(img, cf)
}

// randomImage is the test program plus size bytes of incompressible data.
func randomImage(progBin string, size int64, seed uint64) (v1.Image, error) {
	data := io.LimitReader(rand.NewChaCha8(seedBytes(seed)), size)
	return testprogImage(progBin, layerFile{path: "random.bin", mode: 0o644, data: data, size: size})
}

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}

// dockerArchive streams img as a docker-archive tagged ref.
func dockerArchive(ref string, img v1.Image) (io.ReadCloser, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(tag, img, pw)) }()
	return pr, nil
}

// ociArchive writes img as an OCI layout (no manifest.json) into a tar,
// naming it with annotations (none when ann is nil).
func ociArchive(dir string, img v1.Image, ann map[string]string) ([]byte, error) {
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		return nil, err
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(ann)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.AddFS(os.DirFS(string(lp))); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// loadTestImage builds the test image and loads it through ImageLoad.
func loadTestImage(ctx context.Context, rt *Runtime, ref, progBin string) error {
	img, err := testprogImage(progBin)
	if err != nil {
		return err
	}
	rc, err := dockerArchive(ref, img)
	if err != nil {
		return err
	}
	defer rc.Close()
	refs, err := rt.ImageLoad(ctx, rc)
	if err != nil {
		return err
	}
	if len(refs) != 1 || refs[0] != ref {
		return fmt.Errorf("ImageLoad named %v, want [%s]", refs, ref)
	}
	return nil
}
