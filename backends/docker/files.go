package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/docker/docker/api/types/container"

	"github.com/k3d/k3d/backends"
)

// CopyToNode extracts a tar stream into dir in the node, running or not,
// keeping the tar's modes and owners.
func (r *Runtime) CopyToNode(ctx context.Context, node, dir string, tarStream io.Reader) error {
	err := r.cli.CopyToContainer(ctx, node, dir, tarStream, container.CopyToContainerOptions{
		// Without CopyUIDGID the daemon keeps the tar's owners, as the
		// contract says. With it, the daemon chowns everything to the node's
		// user, looked up in the HOST's passwd database: that fails for the
		// load balancer's 65534:65534 on hosts without such an entry.
		CopyUIDGID: false,
	})
	if err != nil {
		return fmt.Errorf("copy to %s in node %s: %w", dir, node, r.pathErr(ctx, err, node, dir))
	}
	return nil
}

// maxSymlinks bounds how many links ReadFile follows, like the kernel's ELOOP.
const maxSymlinks = 40

// ReadFile returns one regular file's contents from the node, running or
// not. The daemon sends a tar stream; only the file's bytes are passed on.
func (r *Runtime) ReadFile(ctx context.Context, node, p string) (io.ReadCloser, error) {
	for range maxSymlinks {
		body, _, err := r.cli.CopyFromContainer(ctx, node, p)
		if err != nil {
			return nil, fmt.Errorf("read %s in node %s: %w", p, node, r.pathErr(ctx, err, node, p))
		}
		tr := tar.NewReader(body)
		hdr, err := tr.Next()
		if err != nil {
			body.Close()
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("read %s in node %s: %w", p, node, err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			return &tarEntry{Reader: tr, body: body}, nil
		case tar.TypeSymlink:
			// The daemon archives a link as a link; follow it the way open(2) would.
			body.Close()
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(p), target)
			}
			p = target
		default:
			body.Close()
			return nil, fmt.Errorf("read %s in node %s: %w", p, node,
				backends.NewError(backends.ErrInvalid, fmt.Sprintf("file %q in node %q", p, node), "not a regular file"))
		}
	}
	return nil, fmt.Errorf("read %s in node %s: %w", p, node,
		backends.NewError(backends.ErrInvalid, fmt.Sprintf("file %q in node %q", p, node), "too many levels of symbolic links"))
}

// tarEntry reads one tar entry and closes the daemon's response.
type tarEntry struct {
	io.Reader
	body io.Closer
}

func (t *tarEntry) Close() error { return t.body.Close() }

// pathErr names the right object: the daemon says "not found" alike for a
// missing node and a missing path in it.
func (r *Runtime) pathErr(ctx context.Context, err error, node, p string) error {
	typed := r.typed(err, fmt.Sprintf("path %q in node %q", p, node), conflictIsExists)
	if !backends.IsNotFound(typed) {
		return typed
	}
	if _, ierr := r.inspectContainer(ctx, node); ierr != nil {
		return ierr
	}
	return typed
}
