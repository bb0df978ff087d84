// Package imagebuild packs a few files (usually one static binary) into a
// single-layer container image written as a docker-archive tar stream, so that
// k3d and its tests make the images they need without a registry.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one entry of the image's only layer.
type File struct {
	// Path inside the image, absolute ("/bin/k3d").
	Path string
	// Mode carries permissions and, for directories and symlinks, os.ModeDir
	// or os.ModeSymlink.
	Mode os.FileMode
	// Data is the content of a regular file. When nil, SourcePath is read.
	Data []byte
	// SourcePath is a host file to copy when Data is nil.
	SourcePath string
	// Linkname is the target of a symlink.
	Linkname string
	// UID and GID own the entry (0 = root).
	UID, GID int
}

// Spec describes the image to write.
type Spec struct {
	// Ref is the name the image is loaded under ("k3d-helper:dev-0123abcd").
	Ref        string
	Files      []File
	Entrypoint []string
	Cmd        []string
	Env        []string
	Labels     map[string]string
	User       string
	WorkingDir string
	// Arch is the image architecture; empty means the architecture of this
	// process, which is what a binary built alongside it runs on.
	Arch string
}

// epoch keeps layers byte-identical across builds of the same files, so the
// image ID only changes when the content does.
var epoch = time.Unix(0, 0).UTC()

// WriteArchive writes spec as a docker-archive tar stream (the format `docker
// load` and every k3d backend's ImageLoad accept).
func WriteArchive(w io.Writer, spec Spec) error {
	img, tag, err := Image(spec)
	if err != nil {
		return err
	}
	if err := tarball.Write(tag, img, w); err != nil {
		return fmt.Errorf("write image %s: %w", spec.Ref, err)
	}
	return nil
}

// Image builds spec as an in-memory image and the tag it is written under.
func Image(spec Spec) (v1.Image, name.Tag, error) {
	tag, err := name.NewTag(spec.Ref)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("image reference %q: %w", spec.Ref, err)
	}
	layerTar, err := layer(spec.Files)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("build layer of %s: %w", spec.Ref, err)
	}
	// An uncompressed layer: compressing a 50 MB binary costs seconds on every
	// build, and the stream only ever travels to a local runtime.
	l := static.NewLayer(layerTar, types.DockerUncompressedLayer)
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("build image %s: %w", spec.Ref, err)
	}
	arch := spec.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, name.Tag{}, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Cmd = spec.Cmd
	cf.Config.Env = spec.Env
	cf.Config.Labels = spec.Labels
	cf.Config.User = spec.User
	cf.Config.WorkingDir = spec.WorkingDir
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("configure image %s: %w", spec.Ref, err)
	}
	return img, tag, nil
}

// layer returns the tar of files, with every parent directory present so
// that runtimes that unpack strictly (containerd) accept it.
func layer(files []File) ([]byte, error) {
	entries := map[string]File{}
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if p == "/" {
			return nil, fmt.Errorf("file with empty path")
		}
		f.Path = p
		entries[p] = f
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = File{Path: d, Mode: os.ModeDir | 0o755}
			}
		}
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents sort before their children

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := entries[p]
		hdr := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    tarMode(f.Mode),
			Uid:     f.UID,
			Gid:     f.GID,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		var data []byte
		switch {
		case f.Mode&os.ModeDir != 0:
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case f.Mode&os.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = f.Linkname
		default:
			hdr.Typeflag = tar.TypeReg
			data = f.Data
			if data == nil && f.SourcePath != "" {
				b, err := os.ReadFile(f.SourcePath)
				if err != nil {
					return nil, fmt.Errorf("read %s for %s: %w", f.SourcePath, p, err)
				}
				data = b
			}
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if len(data) > 0 {
			if _, err := tw.Write(data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarMode converts Go's file mode bits to the tar header's Unix mode bits.
func tarMode(m os.FileMode) int64 {
	mode := int64(m.Perm())
	if m&os.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}
