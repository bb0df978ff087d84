package containerd

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/containerd/errdefs"

	"github.com/k3d/k3d/backends"
)

// Object names, in the contract's words, for error messages.
func nodeObj(name string) string    { return fmt.Sprintf("node %q", name) }
func networkObj(name string) string { return fmt.Sprintf("network %q", name) }
func volumeObj(name string) string  { return fmt.Sprintf("volume %q", name) }
func imageObj(ref string) string    { return fmt.Sprintf("image %q", ref) }

// typed turns a containerd error about object into the contract's typed
// errors. Errors the contract has no kind for are returned unchanged.
func (r *Runtime) typed(err error, object string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var be *backends.Error
	var ue *backends.UnreachableError
	if errors.As(err, &be) || errors.As(err, &ue) {
		return err
	}
	switch {
	case errdefs.IsCanceled(err):
		return context.Canceled
	case errdefs.IsUnavailable(err):
		return r.unreachable(err)
	case errdefs.IsNotFound(err):
		return backends.NewError(backends.ErrNotFound, object, err.Error())
	case errdefs.IsAlreadyExists(err):
		return backends.NewError(backends.ErrAlreadyExists, object, err.Error())
	case errdefs.IsInvalidArgument(err):
		return backends.NewError(backends.ErrInvalid, object, err.Error())
	}
	return err
}

// invalid is an ErrInvalid about object.
func invalid(object, format string, args ...any) error {
	return backends.NewError(backends.ErrInvalid, object, fmt.Sprintf(format, args...))
}
