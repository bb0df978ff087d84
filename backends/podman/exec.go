package podman

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/containers/podman/v4/libpod/define"
	"github.com/containers/podman/v4/pkg/api/handlers"
	"github.com/containers/podman/v4/pkg/bindings"
	"github.com/containers/podman/v4/pkg/bindings/containers"
	"github.com/containers/podman/v4/version"
	dockertypes "github.com/docker/docker/api/types"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/k3d/k3d/backends"
)

// Exec runs a command in a running node over a hijacked connection and
// returns its exit code.
func (r *Runtime) Exec(ctx context.Context, node string, spec backends.ExecSpec) (int, error) {
	code, err := r.exec(ctx, node, spec)
	if err != nil {
		return -1, fmt.Errorf("exec %q in node %s: %w", strings.Join(spec.Cmd, " "), node, err)
	}
	return code, nil
}

func (r *Runtime) exec(ctx context.Context, node string, spec backends.ExecSpec) (int, error) {
	if len(spec.Cmd) == 0 {
		return -1, backends.NewError(backends.ErrInvalid, nodeObj(node), "no command given")
	}
	actx, conn, err := r.connection(ctx)
	if err != nil {
		return -1, err
	}
	id, err := containers.ExecCreate(actx, node, &handlers.ExecCreateConfig{ExecConfig: dockertypes.ExecConfig{
		User:         spec.User,
		WorkingDir:   spec.WorkDir,
		Env:          spec.Env,
		Cmd:          spec.Cmd,
		AttachStdin:  spec.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
	}})
	if err != nil {
		// "container state improper" (not running) is a Conflict.
		return -1, r.typed(err, nodeObj(node), conflictIsNotRun)
	}

	stream, err := startExec(actx, conn, id)
	if err != nil {
		return -1, r.typed(err, nodeObj(node), conflictIsNotRun)
	}
	defer stream.Close()
	// Closing the connection is the only way to stop a blocked stream read.
	stop := context.AfterFunc(ctx, func() { stream.Close() })
	defer stop()

	if spec.Stdin != nil {
		go func() {
			_, _ = io.Copy(stream.conn, spec.Stdin)
			// Half-close: the command sees EOF on its stdin, and its output
			// still comes back on the same connection.
			stream.closeWrite()
		}()
	}
	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	// When the command cannot be started, the service writes why into the
	// output stream; it is held back until the command is seen running.
	held := &holdBack{stdout: stdout, stderr: stderr, started: func() bool {
		ins, err := containers.ExecInspect(actx, id, nil)
		// When it cannot tell, never lose real output.
		return err != nil || (ins.Running && ins.Pid != 0)
	}}
	_, copyErr := stdcopy.StdCopy(held.out(), held.err(), stream.r)
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}

	ins, err := execResult(actx, id)
	if err != nil {
		return -1, r.typed(err, nodeObj(node), conflictIsNotRun)
	}
	if ins.Pid == 0 && (ins.ExitCode == 126 || ins.ExitCode == 127) {
		if msg := held.complaint(); msg != "" {
			return -1, backends.NewError(backends.ErrInvalid, fmt.Sprintf("command %q", spec.Cmd[0]), msg)
		}
	}
	// A command that ends without reading all of its stdin leaves the rest
	// unread in the service's end of the socket, which then resets the
	// connection instead of closing it; the output came before the reset and
	// the exit code is known, so the reset is the end of the output.
	if copyErr != nil && !errors.Is(copyErr, syscall.ECONNRESET) {
		return -1, fmt.Errorf("read output: %w", copyErr)
	}
	if err := held.flush(); err != nil {
		return -1, err
	}
	return ins.ExitCode, nil
}

// execStream is a hijacked exec connection: output comes from r, input goes
// to conn.
type execStream struct {
	conn net.Conn
	r    *bufio.Reader
}

func (s *execStream) Close() error { return s.conn.Close() }

func (s *execStream) closeWrite() {
	if cw, ok := s.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	// A connection that cannot half-close (an ssh tunnel) cannot signal
	// the end of stdin; the command then reads until the exec ends.
}

// startExec starts an exec session over a connection of its own, asking the
// service to upgrade it to a raw stream, and returns that stream. The
// bindings' own ExecStartAndAttach swaps the shared client's transport for
// every call, which concurrent calls cannot share.
func startExec(ctx context.Context, conn *bindings.Connection, id string) (*execStream, error) {
	c, err := conn.GetDialer(ctx)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(handlers.ExecStartConfig{Detach: false, Tty: false})
	v := version.APIVersion[version.Libpod][version.CurrentAPI]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		fmt.Sprintf("http://d/v%d.%d.%d/libpod/exec/%s/start", v.Major, v.Minor, v.Patch, id), bytes.NewReader(body))
	if err != nil {
		c.Close()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, &netError{err}
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &netError{err}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != http.StatusOK {
		defer c.Close()
		return nil, statusError(&bindings.APIResponse{Response: resp, Request: req})
	}
	_ = c.SetDeadline(time.Time{})
	return &execStream{conn: c, r: br}, nil
}

// netError marks an error of the connection itself (the service went away).
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// execResult waits for the exec to be recorded as ended: the output stream
// can close a moment before the service has stored the exit code.
func execResult(ctx context.Context, id string) (*define.InspectExecSession, error) {
	for delay := time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		ins, err := containers.ExecInspect(ctx, id, nil)
		if err != nil || !ins.Running {
			return ins, err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// holdBack keeps a command's output until the command is known to have
// started. When a command cannot be started, Podman writes why into the
// stderr stream ("Error: runc: exec failed: ... OCI runtime attempted to
// invoke a command that was not found"), ends the exec with 126 or 127 and
// no pid, and that message is not the command's output. A command seen
// running with a pid has started; beyond holdLimit nothing is a complaint.
type holdBack struct {
	stdout, stderr io.Writer
	started        func() bool
	buf            []heldChunk
	size           int
	passing        bool
	checked        time.Time // when started was last asked
}

type heldChunk struct {
	stderr bool
	data   []byte
}

const holdLimit = 64 << 10

func (h *holdBack) out() io.Writer { return holdWriter{h, false} }
func (h *holdBack) err() io.Writer { return holdWriter{h, true} }

type holdWriter struct {
	h      *holdBack
	stderr bool
}

func (w holdWriter) Write(p []byte) (int, error) {
	h := w.h
	if !h.passing && (h.size+len(p) > holdLimit || h.isStarted()) {
		if err := h.flush(); err != nil {
			return 0, err
		}
	}
	if h.passing {
		return h.writer(w.stderr).Write(p)
	}
	h.buf = append(h.buf, heldChunk{w.stderr, bytes.Clone(p)})
	h.size += len(p)
	return len(p), nil
}

// isStarted asks whether the command runs, at most every 100 ms: a command
// that already ended writes its remaining output in a burst.
func (h *holdBack) isStarted() bool {
	if h.started == nil || time.Since(h.checked) < 100*time.Millisecond {
		return false
	}
	h.checked = time.Now()
	return h.started()
}

func (h *holdBack) writer(stderr bool) io.Writer {
	if stderr {
		return h.stderr
	}
	return h.stdout
}

// flush passes on what was held, in order, and lets the rest through.
func (h *holdBack) flush() error {
	h.passing = true
	for _, c := range h.buf {
		if _, err := h.writer(c.stderr).Write(c.data); err != nil {
			return err
		}
	}
	h.buf, h.size = nil, 0
	return nil
}

// complaint is the service's message about a command it could not start:
// everything held is one stderr message in Podman's form. "" when the
// output is the command's own.
func (h *holdBack) complaint() string {
	if h.passing || len(h.buf) == 0 {
		return ""
	}
	var b strings.Builder
	for _, c := range h.buf {
		if !c.stderr {
			return ""
		}
		b.Write(c.data)
	}
	msg := strings.TrimSpace(b.String())
	if !strings.HasPrefix(msg, "Error: ") || !strings.Contains(msg, "OCI") {
		return ""
	}
	return strings.TrimPrefix(msg, "Error: ")
}
