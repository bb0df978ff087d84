package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/archivefile"
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

// ReadFile returns one regular file's contents from the node, running or
// not. The daemon sends a tar stream; only the file's bytes are passed on.
func (r *Runtime) ReadFile(ctx context.Context, node, p string) (io.ReadCloser, error) {
	object := func(p string) string { return fmt.Sprintf("file %q in node %q", p, node) }
	rc, err := archivefile.Open(p, object, func(p string) (io.ReadCloser, error) {
		body, _, err := r.cli.CopyFromContainer(ctx, node, p)
		if err != nil {
			return nil, r.pathErr(ctx, err, node, p)
		}
		return body, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s in node %s: %w", p, node, err)
	}
	return rc, nil
}

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
