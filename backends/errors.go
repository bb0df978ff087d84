package backends

import (
	"errors"
	"fmt"
)

// The error kinds of the contract. Backends return them wrapped in *Error (or
// *UnreachableError), and callers test them with errors.Is or the Is* helpers,
// never by matching strings. They survive the process boundary unchanged.
var (
	// ErrNotFound: the named object (node, network, volume, image, file) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: an object of that name exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInUse: the object is still used (a network with nodes, a mounted volume).
	ErrInUse = errors.New("in use")
	// ErrNotRunning: the operation needs a running node.
	ErrNotRunning = errors.New("not running")
	// ErrInvalid: the request itself is wrong (bad spec, command not found).
	ErrInvalid = errors.New("invalid")
	// ErrUnreachable: the runtime daemon cannot be reached.
	ErrUnreachable = errors.New("runtime unreachable")
	// ErrPrerequisite: the runtime answers, but this host lacks something the
	// backend needs to make nodes (CNI plugins, /dev/net/tun, subordinate ids,
	// a writable data root).
	ErrPrerequisite = errors.New("missing prerequisite")
)

// Error is a typed contract error about one object.
type Error struct {
	// Kind is one of the Err* values above.
	Kind error
	// Object names what the error is about, in words: `node "k3d-dev-server-0"`.
	Object string
	// Detail is the runtime's own message, for humans.
	Detail string
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Object != "" {
		s = e.Object + ": " + s
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *Error) Unwrap() error { return e.Kind }

// NewError builds a typed error; detail may be empty.
func NewError(kind error, object, detail string) *Error {
	return &Error{Kind: kind, Object: object, Detail: detail}
}

// NotFound says the object does not exist.
func NotFound(object string) error { return NewError(ErrNotFound, object, "") }

// AlreadyExists says an object of that name exists already.
func AlreadyExists(object string) error { return NewError(ErrAlreadyExists, object, "") }

// UnreachableError says the runtime daemon did not answer, where it was looked
// for, and how to start it.
type UnreachableError struct {
	Runtime  string // "docker"
	Endpoint string // "unix:///var/run/docker.sock"
	Hint     string // "start it with: sudo dockerd (or: sudo systemctl start docker)"
	Detail   string // the dial error
}

func (e *UnreachableError) Error() string {
	s := fmt.Sprintf("%s is not reachable at %s", e.Runtime, e.Endpoint)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func (e *UnreachableError) Unwrap() error { return ErrUnreachable }

// PrerequisiteError says what this host lacks for a backend to make nodes, in
// one line with the fix: a half set-up machine is told what to install rather
// than failing later, deep in a node's start.
type PrerequisiteError struct {
	Runtime string // "containerd"
	Missing string // "CNI plugins not found in /opt/cni/bin"
	Fix     string // "install containernetworking-plugins, or set K3D_CNI_PATH"
}

func (e *PrerequisiteError) Error() string {
	s := e.Runtime + ": " + e.Missing
	if e.Fix != "" {
		s += " (" + e.Fix + ")"
	}
	return s
}

func (e *PrerequisiteError) Unwrap() error { return ErrPrerequisite }

// IsNotFound reports whether err is, or wraps, ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsAlreadyExists reports whether err is, or wraps, ErrAlreadyExists.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsInUse reports whether err is, or wraps, ErrInUse.
func IsInUse(err error) bool { return errors.Is(err, ErrInUse) }

// IsNotRunning reports whether err is, or wraps, ErrNotRunning.
func IsNotRunning(err error) bool { return errors.Is(err, ErrNotRunning) }

// IsInvalid reports whether err is, or wraps, ErrInvalid.
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

// IsUnreachable reports whether err is, or wraps, ErrUnreachable.
func IsUnreachable(err error) bool { return errors.Is(err, ErrUnreachable) }

// IsPrerequisite reports whether err is, or wraps, ErrPrerequisite.
func IsPrerequisite(err error) bool { return errors.Is(err, ErrPrerequisite) }
