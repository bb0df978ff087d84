// Package helperimage builds the images k3d's helper nodes run (the load
// balancer from k3d's own static binary, registries from k3d-registry), and
// loads them into the runtime when missing, so that no helper needs a registry.
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

// Repository is the name every load balancer image is tagged under.
const Repository = "k3d-helper"

// nobody is the uid and gid the load balancer runs as.
const nobody = 65534

// Kind is one helper image: which program it runs and what is around it.
type Kind struct {
	// Repository the image is tagged under (k3d-helper:<version>-<digest>).
	Repository string
	// Binary is where the program is in the image.
	Binary string
	// UID (and GID) the program runs as.
	UID int
	// Dirs are directories the program writes to.
	Dirs []string
	// For names what the image is for, in errors ("the load balancer").
	For string
	// Without says how to do without the image when it cannot be built.
	Without string
}

// LoadBalancer is the image of the load balancer, built from k3d itself.
var LoadBalancer = Kind{
	Repository: Repository, Binary: "/bin/k3d", UID: nobody, Dirs: []string{"/etc/k3d"},
	For: "the load balancer", Without: "or create the cluster with --no-lb",
}

// Registry is the image of k3d's registries, built from k3d-registry. The
// registry runs as root, as registry:2 does: runtimes create named volumes
// owned by root, and its storage is one.
var Registry = Kind{
	Repository: "k3d-registry", Binary: "/bin/k3d-registry", UID: 0, Dirs: []string{"/var/lib/registry"},
	For: "registries", Without: "or give `k3d registry create` an image with -i (registry:2)",
}

// Ensure makes the load balancer's image, built from the k3d executable exe,
// present in rt and returns its reference (see Kind.Ensure).
func Ensure(ctx context.Context, rt backends.Runtime, exe string) (string, error) {
	return LoadBalancer.Ensure(ctx, rt, exe)
}

// Ensure makes the image of k built from the executable exe present in rt
// and returns its reference, REPOSITORY:<version>-<first 12 hex digits of the
// binary's sha256>. An image already present under that reference is used as
// it is; otherwise the image is streamed into rt.ImageLoad without a
// temporary file. exe must be a static Linux executable for the runtime's
// architecture (see ErrUnusableExecutable).
func (k Kind) Ensure(ctx context.Context, rt backends.Runtime, exe string) (string, error) {
	info, err := rt.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("helper image: %w", err)
	}
	arch, err := checkExecutable(exe, info, k)
	if err != nil {
		return "", err
	}
	id, err := identify(exe)
	if err != nil {
		return "", fmt.Errorf("helper image: %w", err)
	}
	ref := k.reference(id.version, id.digest)
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
		ref = k.reference(id.version, d)
	}
	if err := load(ctx, rt, k.spec(ref, arch, data)); err != nil {
		return "", fmt.Errorf("helper image %s: %w", ref, err)
	}
	return ref, nil
}

// spec is the image: the binary, its writable directories owned by the user
// it runs as, a /tmp, and the user database entries for root and nobody.
func (k Kind) spec(ref, arch string, binary []byte) imagebuild.Spec {
	files := []imagebuild.File{{Path: k.Binary, Mode: 0o755, Data: binary}}
	for _, d := range k.Dirs {
		files = append(files, imagebuild.File{Path: d, Mode: os.ModeDir | 0o755, UID: k.UID, GID: k.UID})
	}
	return imagebuild.Spec{
		Ref:  ref,
		Arch: arch,
		Files: append(files, []imagebuild.File{
			{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
			{Path: "/etc/passwd", Mode: 0o644, Data: []byte(
				"root:x:0:0:root:/root:/sbin/nologin\n" +
					"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
			{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnobody:x:65534:\n")},
		}...),
		Entrypoint: []string{k.Binary},
		Labels:     map[string]string{"app": "k3d"},
		User:       fmt.Sprintf("%d:%d", k.UID, k.UID),
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

func (k Kind) reference(version, sum string) string {
	return k.Repository + ":" + tagSafe(version) + "-" + sum[:12]
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
