// Package archivefile reads one file out of the tar stream that Docker's and
// Podman's archive endpoints answer with, following links as open(2) would.
package archivefile

import (
	"archive/tar"
	"errors"
	"io"
	"path"

	"github.com/k3d/k3d/backends"
)

// maxSymlinks bounds how many links Open follows, like the kernel's ELOOP.
const maxSymlinks = 40

// Open returns the contents of the regular file at p. fetch asks the runtime
// for the archive of one path; its errors are returned as they are. The
// runtime archives a link as a link, so Open asks again for its target.
// object names a path in errors ("file \"/x\" in node \"n\"").
func Open(p string, object func(p string) string, fetch func(p string) (io.ReadCloser, error)) (io.ReadCloser, error) {
	for range maxSymlinks {
		body, err := fetch(p)
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(body)
		hdr, err := tr.Next()
		if err != nil {
			body.Close()
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			return &entry{Reader: tr, body: body}, nil
		case tar.TypeSymlink:
			body.Close()
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(p), target)
			}
			p = target
		default:
			body.Close()
			return nil, backends.NewError(backends.ErrInvalid, object(p), "not a regular file")
		}
	}
	return nil, backends.NewError(backends.ErrInvalid, object(p), "too many levels of symbolic links")
}

// entry reads one tar entry and closes the runtime's response.
type entry struct {
	io.Reader
	body io.Closer
}

func (e *entry) Close() error { return e.body.Close() }
