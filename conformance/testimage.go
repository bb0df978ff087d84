package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/k3d/k3d/engine/imagebuild"
)

const testprogPackage = "github.com/k3d/k3d/conformance/testprog"

// testprogBuilds memoises the test program per architecture for the life of
// the test process: every Run (one per backend) needs the same bytes, and a
// go build per backend would cost seconds for nothing. It only ever caches an
// immutable build artifact.
var testprogBuilds = struct {
	sync.Mutex
	bins map[string][]byte
}{bins: map[string][]byte{}}

// goArch turns a runtime's idea of its architecture into GOARCH.
func goArch(arch string) string {
	switch arch {
	case "":
		return runtime.GOARCH
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "armv7l", "armhf":
		return "arm"
	}
	return arch
}

// testprogBinary returns the static test program for goarch, built once per
// test process with the go command that runs the tests.
func testprogBinary(ctx context.Context, goarch string) ([]byte, error) {
	testprogBuilds.Lock()
	defer testprogBuilds.Unlock()
	if b, ok := testprogBuilds.bins[goarch]; ok {
		return b, nil
	}
	dir, err := os.MkdirTemp("", "k3d-conformance-testprog-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "testprog")
	// go test puts its own GOROOT/bin first on PATH, so this is the go
	// command that is running the tests.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("build %s: %w (or pass a prebuilt one with WithTestprog)", testprogPackage, err)
	}
	// -trimpath and no build ID keep the bytes, and so the image reference,
	// the same from one run to the next.
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, testprogPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build %s for linux/%s: %w\n%s", testprogPackage, goarch, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	testprogBuilds.bins[goarch] = b
	return b, nil
}

// testImageSpec is the test image: the test program and the empty
// directories the suite copies files into. No shell, nothing else.
func testImageSpec(ref, goarch string, binary []byte) imagebuild.Spec {
	return imagebuild.Spec{
		Ref: ref,
		Files: []imagebuild.File{
			{Path: "/testprog", Mode: 0o755, Data: binary},
			{Path: "/conf", Mode: os.ModeDir | 0o755},
			{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		},
		Entrypoint: []string{"/testprog"},
		Cmd:        []string{"sleep"},
		Env:        []string{"PATH=/", "K3D_CONFORMANCE_IMAGE=1"},
		// Real node images carry labels too (rancher/k3s does); a backend
		// must not report them as the node's own.
		Labels: map[string]string{"k3d.conformance": "testprog"},
		Arch:   goarch,
	}
}

// loadTestImage builds the test program and loads it into the runtime as an
// image named after the binary's hash, unless that image is there already.
func (s *suite) loadTestImage(t *testing.T, prebuilt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	goarch := goArch(s.info.Arch)
	var bin []byte
	var err error
	if prebuilt != "" {
		bin, err = os.ReadFile(prebuilt)
	} else {
		bin, err = testprogBinary(ctx, goarch)
	}
	if err != nil {
		t.Fatalf("test program: %v", err)
	}
	sum := sha256.Sum256(bin)
	s.binary = bin
	s.image = "k3d-conformance-testprog:" + hex.EncodeToString(sum[:])[:16]

	ok, err := s.rt.ImageExists(ctx, s.image)
	if err != nil {
		t.Fatalf("image exists %s: %v", s.image, err)
	}
	if ok {
		return
	}
	refs, err := s.rt.ImageLoad(ctx, archiveReader(testImageSpec(s.image, goarch, bin)))
	if err != nil {
		t.Fatalf("load test image %s: %v", s.image, err)
	}
	if !containsRef(refs, s.image) {
		t.Fatalf("load test image %s: loaded references %q do not name it", s.image, refs)
	}
}

// archiveReader streams spec as a docker-archive without holding it in memory.
func archiveReader(spec imagebuild.Spec) io.Reader {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(imagebuild.WriteArchive(pw, spec)) }()
	return pr
}

// sameRef compares image references the way a user reads them: runtimes
// report a short name with their default registry spelled out
// ("docker.io/library/x:1", "localhost/x:1").
func sameRef(a, b string) bool {
	return normalizeRef(a) == normalizeRef(b)
}

func normalizeRef(r string) string {
	for _, p := range []string{"docker.io/library/", "docker.io/", "localhost/"} {
		if strings.HasPrefix(r, p) {
			r = strings.TrimPrefix(r, p)
			break
		}
	}
	if !strings.Contains(r[strings.LastIndex(r, "/")+1:], ":") && !strings.Contains(r, "@") {
		r += ":latest"
	}
	return r
}

func containsRef(refs []string, ref string) bool {
	for _, r := range refs {
		if sameRef(r, ref) {
			return true
		}
	}
	return false
}
