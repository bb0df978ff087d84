// Package helperimage builds the image that k3d's helper nodes (the load
// balancer) run, from k3d's own static binary, and loads it into the runtime
// when it is missing, so that a cluster never needs a registry for them.
package helperimage

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/imagebuild"
)

// Repository is the name every helper image is tagged under.
const Repository = "k3d-helper"

// Where things are in the image.
const (
	binaryPath = "/bin/k3d"
	// nobody is the uid and gid helpers run as.
	nobody = 65534
)

// Ensure makes the helper image built from the executable exe present in rt
// and returns its reference, k3d-helper:<version>-<first 12 hex digits of the
// binary's sha256>. An image already present under that reference is used as
// it is; otherwise the image is streamed into rt.ImageLoad without a
// temporary file. exe must be a static Linux executable for the runtime's
// architecture (see ErrUnusableExecutable).
func Ensure(ctx context.Context, rt backends.Runtime, exe string) (string, error) {
	info, err := rt.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("helper image: %w", err)
	}
	arch, err := checkExecutable(exe, info)
	if err != nil {
		return "", err
	}
	id, err := identify(exe)
	if err != nil {
		return "", fmt.Errorf("helper image: %w", err)
	}
	ref := reference(id.version, id.digest)
	present, err := rt.ImageExists(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("helper image %s: %w", ref, err)
	}
	if present {
		return ref, nil
	}

	// Read once and name the image after what was read, so that a binary
	// replaced since it was hashed cannot be loaded under the old name.
	data, err := os.ReadFile(exe)
	if err != nil {
		return "", fmt.Errorf("helper image: read k3d executable: %w", err)
	}
	if d := digestBytes(data); d != id.digest {
		ref = reference(id.version, d)
	}
	if err := load(ctx, rt, spec(ref, arch, data)); err != nil {
		return "", fmt.Errorf("helper image %s: %w", ref, err)
	}
	return ref, nil
}

// spec is the image: the binary, a writable /etc/k3d for the helpers'
// configuration, a /tmp, and the user database entries for nobody, whom
// every helper runs as.
func spec(ref, arch string, binary []byte) imagebuild.Spec {
	return imagebuild.Spec{
		Ref:  ref,
		Arch: arch,
		Files: []imagebuild.File{
			{Path: binaryPath, Mode: 0o755, Data: binary},
			{Path: "/etc/k3d", Mode: os.ModeDir | 0o755, UID: nobody, GID: nobody},
			{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
			{Path: "/etc/passwd", Mode: 0o644, Data: []byte(
				"root:x:0:0:root:/root:/sbin/nologin\n" +
					"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
			{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnobody:x:65534:\n")},
		},
		Entrypoint: []string{binaryPath},
		Labels:     map[string]string{"app": "k3d"},
		User:       fmt.Sprintf("%d:%d", nobody, nobody),
	}
}

// errLoadEnded stops the archive writer when the runtime stops reading.
var errLoadEnded = errors.New("image load ended")

// load writes the archive into a pipe that the runtime reads from: the
// image never exists as a file.
func load(ctx context.Context, rt backends.Runtime, s imagebuild.Spec) error {
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := imagebuild.WriteArchive(pw, s)
		pw.CloseWithError(err)
		written <- err
	}()
	refs, loadErr := rt.ImageLoad(ctx, pr)
	pr.CloseWithError(errLoadEnded)
	writeErr := <-written
	if writeErr != nil && !errors.Is(writeErr, errLoadEnded) {
		return fmt.Errorf("build image: %w", writeErr)
	}
	if loadErr != nil {
		return fmt.Errorf("load image: %w", loadErr)
	}
	for _, r := range refs {
		if r == s.Ref || r == "docker.io/library/"+s.Ref {
			return nil
		}
	}
	// Some runtimes name what they loaded differently; what matters is that
	// the reference resolves now.
	ok, err := rt.ImageExists(ctx, s.Ref)
	if err != nil {
		return fmt.Errorf("check loaded image: %w", err)
	}
	if !ok {
		return fmt.Errorf("load image: the runtime loaded %v but not this reference", refs)
	}
	return nil
}

func reference(version, sum string) string {
	return Repository + ":" + tagSafe(version) + "-" + sum[:12]
}

var notTagChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// tagSafe turns a module version ("v5.1.0+dirty") into a valid start of an
// image tag: letters, digits, '_', '.' and '-', not starting with '.' or '-',
// short enough to leave room for the digest within the 128 characters a tag
// may have.
func tagSafe(v string) string {
	v = notTagChars.ReplaceAllString(v, "-")
	v = strings.TrimLeft(v, ".-")
	if len(v) > 100 {
		v = v[:100]
	}
	if v == "" {
		return "dev"
	}
	return v
}

// binaryVersion is the module version recorded in exe, "dev" for a build
// from a work tree. It is read from exe itself, so that the tag describes the
// binary in the image even when exe is not the running program.
func binaryVersion(exe string) string {
	bi, err := buildinfo.ReadFile(exe)
	if err != nil || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return "dev"
	}
	return bi.Main.Version
}
