package podman

import (
	"context"
	"fmt"
	"io"

	"github.com/containers/podman/v4/pkg/bindings/images"
)

// ImageLoad loads a docker-archive or OCI-archive tar stream, which Podman
// reads both, and returns the references it named.
func (r *Runtime) ImageLoad(ctx context.Context, tarStream io.Reader) ([]string, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	rep, err := images.Load(actx, tarStream)
	if err != nil {
		return nil, fmt.Errorf("load images: %w", r.typed(err, "image archive", conflictIsExists))
	}
	return rep.Names, nil
}
