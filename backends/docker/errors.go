package docker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/k3d/k3d/backends"
)

// cleanupTimeout bounds rollback work done after the caller's context ended.
const cleanupTimeout = 30 * time.Second

// Object names, in the contract's words, for error messages.
func nodeObj(name string) string    { return fmt.Sprintf("node %q", name) }
func networkObj(name string) string { return fmt.Sprintf("network %q", name) }
func volumeObj(name string) string  { return fmt.Sprintf("volume %q", name) }
func imageObj(ref string) string    { return fmt.Sprintf("image %q", ref) }

// conflictAs says what a daemon "conflict" or "forbidden" answer means for one
// call: the daemon uses the same classes for "name taken", "still in use" and
// "not running", and only the call knows which it is.
type conflictAs struct {
	conflict  error // default ErrAlreadyExists
	forbidden error // default ErrInvalid
}

var (
	conflictIsExists   = conflictAs{}
	conflictIsInUse    = conflictAs{conflict: backends.ErrInUse, forbidden: backends.ErrInUse}
	conflictIsNotRun   = conflictAs{conflict: backends.ErrNotRunning, forbidden: backends.ErrNotRunning}
	forbiddenIsExists  = conflictAs{forbidden: backends.ErrAlreadyExists}
	forbiddenIsMissing = conflictAs{forbidden: backends.ErrNotFound}
)

// typed turns an Engine API error into the contract's typed errors about
// object. Errors the contract has no kind for are returned unchanged.
func (r *Runtime) typed(err error, object string, as conflictAs) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if isTransportError(err) {
		return r.unreachable(err)
	}
	detail := daemonMessage(err)
	switch {
	case cerrdefs.IsNotFound(err):
		return backends.NewError(backends.ErrNotFound, object, detail)
	case cerrdefs.IsConflict(err):
		kind := as.conflict
		if kind == nil {
			kind = backends.ErrAlreadyExists
		}
		return backends.NewError(kind, object, detail)
	case cerrdefs.IsPermissionDenied(err):
		kind := as.forbidden
		if kind == nil {
			kind = backends.ErrInvalid
		}
		return backends.NewError(kind, object, detail)
	case cerrdefs.IsInvalidArgument(err):
		return backends.NewError(backends.ErrInvalid, object, detail)
	}
	return err
}

// isTransportError reports whether err means the request never got an answer
// from the daemon (as opposed to an answer that was an error).
func isTransportError(err error) bool {
	if client.IsErrConnectionFailed(err) {
		return true
	}
	var uerr *url.Error
	return errors.As(err, &uerr)
}

// daemonMessage is the daemon's own words, without the client's prefix.
func daemonMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "Error response from daemon: ")
}

// unreachable says where the daemon was looked for and how to start it.
func (r *Runtime) unreachable(err error) error {
	e := &backends.UnreachableError{
		Runtime:  runtimeName,
		Endpoint: r.endpoint.host,
		Detail:   err.Error(),
	}
	switch r.endpoint.scheme() {
	case "unix":
		if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "permission denied") {
			e.Hint = "ask for access to the socket (add your user to the docker group) or run as root"
		} else if r.endpoint.source == "default socket" {
			e.Hint = "start it with: sudo dockerd & (or: sudo systemctl start docker), or point DOCKER_HOST at a running daemon"
		} else {
			e.Hint = fmt.Sprintf("start the daemon listening there (from %s), or point DOCKER_HOST at a running one", r.endpoint.source)
		}
	case "ssh":
		e.Hint = "check that `" + sshCommand(r.endpoint.host) + " docker system dial-stdio` works"
	default:
		e.Hint = fmt.Sprintf("check that a daemon listens there (from %s)", r.endpoint.source)
	}
	return e
}

// sshCommand is the ssh command line that reaches an ssh:// endpoint.
func sshCommand(host string) string {
	u, err := url.Parse(host)
	if err != nil {
		return "ssh " + strings.TrimPrefix(host, "ssh://")
	}
	cmd := "ssh"
	if p := u.Port(); p != "" {
		cmd += " -p " + p
	}
	target := u.Hostname()
	if u.User != nil {
		target = u.User.Username() + "@" + target
	}
	return cmd + " " + target
}
