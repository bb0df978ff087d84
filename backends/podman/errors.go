package podman

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/containers/podman/v4/pkg/bindings"
	"github.com/containers/podman/v4/pkg/errorhandling"

	"github.com/k3d/k3d/backends"
)

// Object names, in the contract's words, for error messages.
func nodeObj(name string) string    { return fmt.Sprintf("node %q", name) }
func networkObj(name string) string { return fmt.Sprintf("network %q", name) }
func volumeObj(name string) string  { return fmt.Sprintf("volume %q", name) }
func imageObj(ref string) string    { return fmt.Sprintf("image %q", ref) }

// conflictMeans says what the service's 409 Conflict answer means for one
// call: Podman uses it alike for "name taken", "still in use" and "container
// state improper", and only the call knows which.
type conflictMeans struct{ kind error }

var (
	conflictIsExists = conflictMeans{backends.ErrAlreadyExists}
	conflictIsInUse  = conflictMeans{backends.ErrInUse}
	conflictIsNotRun = conflictMeans{backends.ErrNotRunning}
)

// causeKinds classify answers by the service's root cause where the status
// code does not tell (Podman 4 answers 500 for some of them). The causes are
// libpod's sentinel errors (libpod/define/errors.go), stable API vocabulary.
var causeKinds = []struct {
	cause string
	kind  error
}{
	{"no such container", backends.ErrNotFound},
	{"no such network", backends.ErrNotFound},
	{"network not found", backends.ErrNotFound},
	{"no such volume", backends.ErrNotFound},
	{"image not known", backends.ErrNotFound},
	{"no such exec session", backends.ErrNotFound},
	{"container already exists", backends.ErrAlreadyExists},
	{"name is already in use", backends.ErrAlreadyExists},
	{"network already exists", backends.ErrAlreadyExists},
	{"volume already exists", backends.ErrAlreadyExists},
	{"volume is being used", backends.ErrInUse},
	{"network is being used", backends.ErrInUse},
	{"container state improper", backends.ErrNotRunning},
	{"container is stopped", backends.ErrNotRunning},
	{"invalid argument", backends.ErrInvalid},
}

// typed turns a bindings error into the contract's typed errors about
// object. Errors the contract has no kind for are returned unchanged.
func (r *Runtime) typed(err error, object string, conflict conflictMeans) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ue *backends.UnreachableError
	var be *backends.Error
	if errors.As(err, &ue) || errors.As(err, &be) {
		return err
	}
	if isTransportError(err) {
		return r.unreachable(err)
	}
	var model *errorhandling.ErrorModel
	if !errors.As(err, &model) {
		return err
	}
	detail := model.Message
	switch model.Code() {
	case http.StatusNotFound:
		return backends.NewError(backends.ErrNotFound, object, detail)
	case http.StatusConflict:
		return backends.NewError(conflict.kind, object, detail)
	case http.StatusBadRequest:
		return backends.NewError(backends.ErrInvalid, object, detail)
	}
	cause := strings.ToLower(model.Because + " " + model.Message)
	for _, c := range causeKinds {
		if strings.Contains(cause, c.cause) {
			return backends.NewError(c.kind, object, detail)
		}
	}
	return err
}

// statusError builds the error of a raw response that failed, in the form
// the bindings give (so typed can read it).
func statusError(resp *bindings.APIResponse) error {
	err := resp.Process(nil)
	if err == nil {
		err = &errorhandling.ErrorModel{Message: resp.Status, ResponseCode: resp.StatusCode}
	}
	return err
}

// isTransportError reports whether err means the request never got an
// answer from the service (as opposed to an answer that was an error).
func isTransportError(err error) bool {
	var ce bindings.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return true
	}
	var operr *net.OpError
	var nerr *netError
	return errors.As(err, &operr) || errors.As(err, &nerr)
}

// unreachable says where the service was looked for and how to start it.
func (r *Runtime) unreachable(err error) error {
	detail := err.Error()
	var ce bindings.ConnectError
	if errors.As(err, &ce) && ce.Err != nil {
		detail = ce.Err.Error()
	}
	return &backends.UnreachableError{
		Runtime:  runtimeName,
		Endpoint: r.endpoint.uri,
		Hint:     r.endpoint.hint(err),
		Detail:   detail,
	}
}
