package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
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
	created, err := r.cli.ContainerExecCreate(ctx, node, container.ExecOptions{
		User:         spec.User,
		WorkingDir:   spec.WorkDir,
		Env:          spec.Env,
		Cmd:          spec.Cmd,
		AttachStdin:  spec.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		// "is not running", "is paused", "is restarting" are Conflicts.
		return -1, r.typed(err, nodeObj(node), conflictIsNotRun)
	}
	resp, err := r.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return -1, r.typed(err, nodeObj(node), conflictIsNotRun)
	}
	defer resp.Close()
	// Closing the connection is the only way to stop a blocked stream read.
	stop := context.AfterFunc(ctx, resp.Close)
	defer stop()

	if spec.Stdin != nil {
		go func() {
			_, _ = io.Copy(resp.Conn, spec.Stdin)
			// Half-close: the command sees EOF on its stdin, and its output
			// still comes back on the same connection.
			_ = resp.CloseWrite()
		}()
	}

	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	gate := &startGate{w: stdout, started: func() (bool, error) { return r.execStarted(ctx, created.ID) }}
	_, copyErr := stdcopy.StdCopy(gate, stderr, resp.Reader)
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}

	ins, err := r.execResult(ctx, created.ID)
	if err != nil {
		return -1, r.typed(err, nodeObj(node), conflictIsNotRun)
	}
	if ins.Pid == 0 && (ins.ExitCode == 126 || ins.ExitCode == 127) {
		// The runtime could not start the command (not found, not
		// executable); the daemon wrote why into the stdout stream, which
		// the gate kept from the caller.
		return -1, backends.NewError(backends.ErrInvalid, fmt.Sprintf("command %q", spec.Cmd[0]), strings.TrimSpace(gate.held.String()))
	}
	if copyErr != nil {
		return -1, fmt.Errorf("read output: %w", copyErr)
	}
	if err := gate.flush(); err != nil {
		return -1, err
	}
	return ins.ExitCode, nil
}

// execStarted reports whether the exec's process was started (it has a pid)
// or failed to start. The daemon records the pid just after starting the
// process, so a process that writes at once may be seen a moment before.
func (r *Runtime) execStarted(ctx context.Context, id string) (bool, error) {
	for delay := time.Millisecond; ; delay *= 2 {
		ins, err := r.cli.ContainerExecInspect(ctx, id)
		if err != nil {
			return false, err
		}
		if ins.Pid != 0 {
			return true, nil
		}
		if !ins.Running || delay > 256*time.Millisecond {
			return false, nil
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return false, err
		}
	}
}

// execResult waits for the exec to be recorded as ended: the output stream
// can close a moment before the daemon has stored the exit code.
func (r *Runtime) execResult(ctx context.Context, id string) (container.ExecInspect, error) {
	for delay := time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		ins, err := r.cli.ContainerExecInspect(ctx, id)
		if err != nil || !ins.Running {
			return ins, err
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return ins, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startGate passes a command's stdout on once the command is known to have
// started. Until then it holds what arrives: when a command cannot be
// started, the daemon writes its error message into the stdout stream, and
// that message is not the command's output.
type startGate struct {
	w       io.Writer
	started func() (bool, error)
	open    bool
	held    bytes.Buffer
}

func (g *startGate) Write(p []byte) (int, error) {
	if !g.open {
		ok, err := g.started()
		if err == nil && !ok {
			g.held.Write(p)
			return len(p), nil
		}
		// Started, or we cannot tell: never lose real output.
		if err := g.flush(); err != nil {
			return 0, err
		}
	}
	return g.w.Write(p)
}

// flush passes on anything held and opens the gate.
func (g *startGate) flush() error {
	g.open = true
	if g.held.Len() == 0 {
		return nil
	}
	_, err := g.w.Write(g.held.Bytes())
	g.held.Reset()
	return err
}
