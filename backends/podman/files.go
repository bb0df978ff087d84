package podman

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/archivefile"
)

// CopyToNode extracts a tar stream into dir in the node, running or not,
// keeping the tar's modes and owners.
func (r *Runtime) CopyToNode(ctx context.Context, node, dir string, tarStream io.Reader) error {
	if err := r.copyTo(ctx, node, dir, tarStream); err != nil {
		return fmt.Errorf("copy to %s in node %s: %w", dir, node, err)
	}
	return nil
}

func (r *Runtime) copyTo(ctx context.Context, node, dir string, tarStream io.Reader) error {
	actx, conn, err := r.connection(ctx)
	if err != nil {
		return err
	}
	params := url.Values{}
	params.Set("path", dir)
	// Without copyUIDGID the tar's owners are kept, as the contract says;
	// Podman's libpod API chowns everything to the node's user by default.
	params.Set("copyUIDGID", "false")
	resp, err := conn.DoRequest(actx, tarStream, http.MethodPut, "/containers/%s/archive", params, nil, node)
	if err != nil {
		return r.typed(err, nodeObj(node), conflictIsExists)
	}
	defer resp.Body.Close()
	if !resp.IsSuccess() {
		return r.pathErr(ctx, statusError(resp), node, dir)
	}
	return nil
}

// ReadFile returns one regular file's contents from the node, running or
// not. The service sends a tar stream; only the file's bytes are passed on.
func (r *Runtime) ReadFile(ctx context.Context, node, p string) (io.ReadCloser, error) {
	actx, conn, err := r.connection(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s in node %s: %w", p, node, err)
	}
	object := func(p string) string { return fmt.Sprintf("file %q in node %q", p, node) }
	rc, err := archivefile.Open(p, object, func(p string) (io.ReadCloser, error) {
		params := url.Values{}
		params.Set("path", p)
		resp, err := conn.DoRequest(actx, nil, http.MethodGet, "/containers/%s/archive", params, nil, node)
		if err != nil {
			return nil, r.typed(err, nodeObj(node), conflictIsExists)
		}
		if !resp.IsSuccess() {
			serr := statusError(resp)
			resp.Body.Close()
			return nil, r.pathErr(ctx, serr, node, p)
		}
		return resp.Body, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s in node %s: %w", p, node, err)
	}
	return rc, nil
}

// pathErr names the right object: the service says "not found" alike for a
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
