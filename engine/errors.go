package engine

import (
	"fmt"
	"strings"

	"github.com/k3d/k3d/backends"
)

// InputError is a request the engine refused before touching the runtime, or
// a named object that is missing or already there. Its message is meant for
// the user as is; Kind (one of backends' Err* values) is for errors.Is.
type InputError struct {
	Kind error
	Msg  string
}

func (e *InputError) Error() string { return e.Msg }
func (e *InputError) Unwrap() error { return e.Kind }

func invalidf(format string, args ...any) error {
	return &InputError{Kind: backends.ErrInvalid, Msg: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &InputError{Kind: backends.ErrNotFound, Msg: fmt.Sprintf(format, args...)}
}

func existsf(format string, args ...any) error {
	return &InputError{Kind: backends.ErrAlreadyExists, Msg: fmt.Sprintf(format, args...)}
}

func inUsef(format string, args ...any) error {
	return &InputError{Kind: backends.ErrInUse, Msg: fmt.Sprintf(format, args...)}
}

// NodeError says which node failed and carries its last log lines, so that the
// user sees why without running another command.
type NodeError struct {
	Node string
	Err  error
	// LastLogs are the node's last output lines, oldest first (may be empty).
	LastLogs []string
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("node %s: %v", e.Node, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// LogTail renders LastLogs for display under the one-line error.
func (e *NodeError) LogTail() string {
	return strings.Join(e.LastLogs, "\n")
}

// joinErrors combines errors into one line (errors.Join would use several).
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return &multiError{errs: errs, msg: strings.Join(msgs, "; ")}
}

type multiError struct {
	errs []error
	msg  string
}

func (m *multiError) Error() string   { return m.msg }
func (m *multiError) Unwrap() []error { return m.errs }

// wrapf prefixes err with what was being done, unless the backend's message
// says so already (backends wrap their errors the same way, and "create node
// X: create node X: ..." helps nobody).
func wrapf(err error, format string, args ...any) error {
	prefix := fmt.Sprintf(format, args...)
	if strings.HasPrefix(err.Error(), prefix+":") {
		return err
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
