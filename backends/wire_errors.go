package backends

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/k3d/k3d/backends/internal/runtimepb"
)

// Typed errors cross the process boundary as a gRPC status whose code suits
// the kind (for gRPC tools) and whose ErrorDetail carries the kind and fields
// (for k3d, which rebuilds the very Go types the backend returned).

var kindsToWire = []struct {
	kind error
	wire pb.ErrorKind
	code codes.Code
}{
	{ErrNotFound, pb.ErrorKind_ERROR_KIND_NOT_FOUND, codes.NotFound},
	{ErrAlreadyExists, pb.ErrorKind_ERROR_KIND_ALREADY_EXISTS, codes.AlreadyExists},
	{ErrInUse, pb.ErrorKind_ERROR_KIND_IN_USE, codes.FailedPrecondition},
	{ErrNotRunning, pb.ErrorKind_ERROR_KIND_NOT_RUNNING, codes.FailedPrecondition},
	{ErrInvalid, pb.ErrorKind_ERROR_KIND_INVALID, codes.InvalidArgument},
	{ErrUnreachable, pb.ErrorKind_ERROR_KIND_UNREACHABLE, codes.Unavailable},
	{ErrPrerequisite, pb.ErrorKind_ERROR_KIND_PREREQUISITE, codes.FailedPrecondition},
	{context.Canceled, pb.ErrorKind_ERROR_KIND_CANCELED, codes.Canceled},
	{context.DeadlineExceeded, pb.ErrorKind_ERROR_KIND_DEADLINE_EXCEEDED, codes.DeadlineExceeded},
}

// toStatus turns a Runtime error into the status a backend sends.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	d := &pb.ErrorDetail{}
	code := codes.Unknown
	var ue *UnreachableError
	var te *Error
	var pe *PrerequisiteError
	switch {
	case errors.As(err, &ue):
		d.Kind, d.Typed = pb.ErrorKind_ERROR_KIND_UNREACHABLE, true
		d.Runtime, d.Endpoint, d.Hint, d.Detail = ue.Runtime, ue.Endpoint, ue.Hint, ue.Detail
		code = codes.Unavailable
	case errors.As(err, &pe):
		d.Kind, d.Typed = pb.ErrorKind_ERROR_KIND_PREREQUISITE, true
		d.Runtime, d.Detail, d.Hint = pe.Runtime, pe.Missing, pe.Fix
		code = codes.FailedPrecondition
	case errors.As(err, &te) && wireKind(te.Kind) != pb.ErrorKind_ERROR_KIND_UNSPECIFIED:
		d.Kind, d.Typed = wireKind(te.Kind), true
		d.Object, d.Detail = te.Object, te.Detail
		code = wireCode(d.Kind)
	default:
		for _, k := range kindsToWire {
			if errors.Is(err, k.kind) {
				d.Kind, code = k.wire, k.code
				break
			}
		}
	}
	st, serr := status.New(code, err.Error()).WithDetails(d)
	if serr != nil {
		// Only a broken protobuf registry gets here; the text still crosses.
		return status.Error(code, err.Error())
	}
	return st.Err()
}

func wireKind(kind error) pb.ErrorKind {
	for _, k := range kindsToWire {
		if kind == k.kind {
			return k.wire
		}
	}
	return pb.ErrorKind_ERROR_KIND_UNSPECIFIED
}

func wireCode(w pb.ErrorKind) codes.Code {
	for _, k := range kindsToWire {
		if w == k.wire {
			return k.code
		}
	}
	return codes.Unknown
}

func kindFromWire(w pb.ErrorKind) error {
	for _, k := range kindsToWire {
		if w == k.wire {
			return k.kind
		}
	}
	return nil
}

// remoteError is an error that a backend returned: its text is the backend's,
// and it unwraps to the same typed error the backend held.
type remoteError struct {
	msg string
	err error // nil for a plain error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }

// fromDetail rebuilds a backend's error from its status, or returns false when
// the status carries no ErrorDetail (a transport failure, not the backend's).
func fromDetail(st *status.Status) (error, bool) {
	for _, d := range st.Details() {
		ed, ok := d.(*pb.ErrorDetail)
		if !ok {
			continue
		}
		kind := kindFromWire(ed.GetKind())
		var inner error
		switch {
		case kind == nil:
		case ed.GetTyped() && kind == ErrUnreachable:
			inner = &UnreachableError{Runtime: ed.GetRuntime(), Endpoint: ed.GetEndpoint(), Hint: ed.GetHint(), Detail: ed.GetDetail()}
		case ed.GetTyped() && kind == ErrPrerequisite:
			inner = &PrerequisiteError{Runtime: ed.GetRuntime(), Missing: ed.GetDetail(), Fix: ed.GetHint()}
		case ed.GetTyped():
			inner = &Error{Kind: kind, Object: ed.GetObject(), Detail: ed.GetDetail()}
		default:
			inner = kind
		}
		return &remoteError{msg: st.Message(), err: inner}, true
	}
	return nil, false
}

// BackendExitedError says the backend program ended in the middle of a call:
// a crash of the backend, not a problem of the runtime daemon it talks to.
type BackendExitedError struct {
	Backend string // "k3d-runtime-docker"
	Method  string // "CreateNode"
	Status  string // "exit status 2", "signal: killed"
	Reason  string // what it last said on stderr (its panic line), if anything
}

func (e *BackendExitedError) Error() string {
	s := fmt.Sprintf("backend %s exited unexpectedly during %s: %s", e.Backend, e.Method, e.Status)
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

// ErrBackendClosed is returned by calls made on, or cut short by, a closed Client.
var ErrBackendClosed = errors.New("backend closed")

// exitGrace bounds how long a failed call waits to learn whether the backend
// process died: its exit is normally seen within a millisecond of the broken
// connection.
const exitGrace = 2 * time.Second

// callError turns what a gRPC call returned into the error a Runtime caller
// sees. what says what was being done ("inspect node k3d-x") for errors that
// k3d itself words.
func (c *Client) callError(ctx context.Context, method, what string, err error) error {
	if err == nil {
		return nil
	}
	st, isStatus := status.FromError(err)
	if isStatus {
		if rerr, ok := fromDetail(st); ok {
			return rerr
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	// gRPC carries the caller's deadline to the backend, whose timer may fire
	// a moment before the caller's own.
	if isStatus && st.Code() == codes.DeadlineExceeded {
		if _, has := ctx.Deadline(); has {
			return fmt.Errorf("%s: %w", what, context.DeadlineExceeded)
		}
	}
	if c.closed.Load() {
		return fmt.Errorf("%s: %w", what, ErrBackendClosed)
	}
	if isStatus && st.Code() == codes.Unimplemented {
		return fmt.Errorf("%s: backend %s does not implement %s: rebuild it with make build", what, c.name, method)
	}
	if c.proc != nil {
		// A broken connection is the usual sign of a dead backend; its exit
		// is then worth a short wait. Other failures are told at once.
		if code := st.Code(); code == codes.Unavailable || code == codes.Internal || code == codes.Unknown {
			t := time.NewTimer(exitGrace)
			defer t.Stop()
			select {
			case <-c.proc.done:
			case <-t.C:
			case <-ctx.Done():
			}
		}
		if exited, how := c.proc.exited(); exited {
			if c.closed.Load() {
				return fmt.Errorf("%s: %w", what, ErrBackendClosed)
			}
			return &BackendExitedError{Backend: c.name, Method: method, Status: how, Reason: c.sink.tail.reason()}
		}
	}
	return fmt.Errorf("%s: connection to backend %s failed during %s: %w", what, c.name, method, err)
}
