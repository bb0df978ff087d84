// Package k3sdouble builds the node image of the k3s test double, a test
// fixture that lets end-to-end tests run k3d clusters with no registry. The
// product's default node image stays rancher/k3s.
package k3sdouble

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/imagebuild"
)

// Repository is where the double's images are named; the tag is a hash of
// their content.
const Repository = "k3d-test/k3s-double"

// BuildImage builds the double and writes its image to w as a docker-archive
// tar stream, returning the image's reference.
func BuildImage(ctx context.Context, w io.Writer) (ref string, err error) {
	spec, err := imageSpec(ctx)
	if err != nil {
		return "", err
	}
	if err := imagebuild.WriteArchive(w, spec); err != nil {
		return "", fmt.Errorf("write image %s: %w", spec.Ref, err)
	}
	return spec.Ref, nil
}

// Load builds the double's image and loads it into the runtime, unless an
// image of the same content is there already; it returns the reference.
func Load(ctx context.Context, rt backends.Runtime) (ref string, err error) {
	spec, err := imageSpec(ctx)
	if err != nil {
		return "", err
	}
	ok, err := rt.ImageExists(ctx, spec.Ref)
	if err != nil {
		return "", fmt.Errorf("look for image %s: %w", spec.Ref, err)
	}
	if ok {
		return spec.Ref, nil
	}
	// Streamed, not buffered: the runtime reads while the archive is written.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(imagebuild.WriteArchive(pw, spec)) }()
	_, err = rt.ImageLoad(ctx, pr)
	pr.CloseWithError(errors.New("image load ended"))
	if err != nil {
		return "", fmt.Errorf("load image %s: %w", spec.Ref, err)
	}
	if ok, err := rt.ImageExists(ctx, spec.Ref); err != nil || !ok {
		return "", fmt.Errorf("load image %s: the runtime does not list it after loading (%v)", spec.Ref, err)
	}
	return spec.Ref, nil
}

// imageSpec builds the program and describes its image, laid out where
// rancher/k3s has its files and the directories k3d writes into.
func imageSpec(ctx context.Context) (imagebuild.Spec, error) {
	bin, err := buildProgram(ctx)
	if err != nil {
		return imagebuild.Spec{}, err
	}
	spec := imagebuild.Spec{
		Files: []imagebuild.File{
			{Path: "/bin/k3s", Mode: 0o755, Data: bin},
			// One program answers to every name, by argv[0], as in k3s.
			{Path: "/bin/ctr", Mode: os.ModeSymlink | 0o777, Linkname: "k3s"},
			{Path: "/bin/kubectl", Mode: os.ModeSymlink | 0o777, Linkname: "k3s"},
			{Path: "/bin/crictl", Mode: os.ModeSymlink | 0o777, Linkname: "k3s"},
			{Path: "/bin/cat", Mode: os.ModeSymlink | 0o777, Linkname: "k3s"},
			{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
			{Path: "/etc/rancher/k3s", Mode: os.ModeDir | 0o755},
			{Path: "/etc/rancher/node", Mode: os.ModeDir | 0o755},
			{Path: "/var/lib/rancher/k3s/agent/etc/containerd", Mode: os.ModeDir | 0o755},
			{Path: "/var/lib/rancher/k3s/agent/images", Mode: os.ModeDir | 0o755},
			{Path: "/var/lib/rancher/k3s/server/manifests", Mode: os.ModeDir | 0o755},
			{Path: "/var/lib/kubelet", Mode: os.ModeDir | 0o755},
			{Path: "/var/lib/cni", Mode: os.ModeDir | 0o755},
			{Path: "/var/log", Mode: os.ModeDir | 0o755},
			{Path: "/run", Mode: os.ModeDir | 0o755},
		},
		Entrypoint: []string{"/bin/k3s"},
		Cmd:        []string{"agent"},
		Env: []string{
			"PATH=/var/lib/rancher/k3s/data/cni:/var/lib/rancher/k3s/data/current/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"CRI_CONFIG_FILE=/var/lib/rancher/k3s/agent/etc/crictl.yaml",
		},
		Labels: map[string]string{
			"app":                             "k3d",
			"org.opencontainers.image.title":  "k3s test double (test fixture, not k3s)",
			"org.opencontainers.image.source": "github.com/k3d/k3d/conformance/k3sdouble",
		},
	}
	// The tag names the content: the program and the image's layout.
	h := sha256.New()
	h.Write(bin)
	for _, f := range spec.Files {
		fmt.Fprintf(h, "%s %v %s\n", f.Path, f.Mode, f.Linkname)
	}
	fmt.Fprintf(h, "%q %q %q %v\n", spec.Entrypoint, spec.Cmd, spec.Env, spec.Labels)
	spec.Ref = Repository + ":" + hex.EncodeToString(h.Sum(nil))[:12]
	return spec, nil
}

// buildProgram compiles cmd/k3s as a static linux binary. Go's build cache
// makes repeated builds of unchanged sources take a moment only.
func buildProgram(ctx context.Context) ([]byte, error) {
	src, err := sourceDir()
	if err != nil {
		return nil, err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	tmp, err := os.MkdirTemp("", "k3s-double-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "k3s")
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "./cmd/k3s")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build the k3s test double: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return os.ReadFile(out)
}

// sourceDir is this package's directory: the double is built from source,
// so its image is only available where the k3d source tree is.
func sourceDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("build the k3s test double: cannot locate its source")
	}
	dir := filepath.Dir(file)
	if _, err := os.Stat(filepath.Join(dir, "cmd", "k3s", "main.go")); err != nil {
		return "", fmt.Errorf("build the k3s test double: its source is not at %s (run from the k3d source tree): %w", dir, err)
	}
	return dir, nil
}
